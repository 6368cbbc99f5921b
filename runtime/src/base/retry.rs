//! How often a failing step is tried, and how long to wait between tries: saga steps and
//! their compensations, and the handlers of eventual consumers.

use std::time::Duration;

use crate::BoxError;

/// How often something is tried before it counts as failed, and how long to wait between
/// tries: `base`, doubling, at most `cap`, each wait spread by up to `jitter` of itself
/// either way (so that many workers failing together do not retry together).
///
/// ```
/// use std::time::Duration;
/// use herald::RetryPolicy;
///
/// let policy = RetryPolicy::new(5)
///     .base(Duration::from_millis(10))
///     .cap(Duration::from_secs(1))
///     .jitter(0.2);
/// assert_eq!(policy.attempts, 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// How much each wait is spread at random, as a share of it (0: not at all; 0.5: from
    /// half to one and a half times).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 3 tries, waiting 100 ms then 200 ms, no jitter.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            jitter: 0.0,
        }
    }
}

impl RetryPolicy {
    /// `attempts` tries in all, with the default waits.
    pub fn new(attempts: u32) -> Self {
        RetryPolicy {
            attempts,
            ..RetryPolicy::default()
        }
    }

    /// The wait after the first failure.
    pub fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// The longest wait.
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// How much each wait is spread at random, as a share of it (clamped to 0..=1).
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = share.clamp(0.0, 1.0);
        self
    }

    /// The wait after failed try `attempt` (from 1).
    pub fn wait(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let wait = self.base.saturating_mul(factor).min(self.cap);
        if self.jitter <= 0.0 {
            return wait;
        }
        // Uniform in [1 - jitter, 1 + jitter).
        let spread = 1.0 + self.jitter.min(1.0) * (2.0 * fastrand::f64() - 1.0);
        wait.mul_f64(spread)
    }
}

/// Tries `op` as `policy` says; the last error and how many tries it took.
pub(crate) async fn retried<T, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    mut op: F,
) -> Result<T, (BoxError, u32)>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>>,
{
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) if attempt >= policy.attempts.max(1) => return Err((error, attempt)),
            Err(error) => {
                tracing::debug!(%error, attempt, "{what} failed; trying again");
                tokio::time::sleep(policy.wait(attempt)).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RetryPolicy;
    use std::time::Duration;

    #[test]
    fn waits_double_up_to_the_cap() {
        let policy = RetryPolicy::new(10)
            .base(Duration::from_millis(10))
            .cap(Duration::from_millis(50));
        let waits: Vec<u128> = (1..=5).map(|a| policy.wait(a).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 50, 50]);
    }

    #[test]
    fn jitter_spreads_within_its_share() {
        let policy = RetryPolicy::new(3)
            .base(Duration::from_millis(100))
            .jitter(0.5);
        let waits: Vec<Duration> = (0..200).map(|_| policy.wait(1)).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(50)));
        assert!(waits.iter().all(|w| *w < Duration::from_millis(150)));
        assert!(waits.iter().any(|w| *w != waits[0]), "some spread");
    }
}
