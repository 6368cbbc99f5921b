//! Panics in handlers are failures, not silent stops: a panic in a hook, a saga step, an
//! aggregate, a projector, a processor or a dispatcher is caught where Herald calls it
//! and becomes that handler's error, so that a dispatch returns it, and a consumer
//! retries, then parks, the event, while its worker goes on.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;

/// A handler panicked: with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}

impl Panicked {
    fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        let message = match payload.downcast::<String>() {
            Ok(message) => *message,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(message) => (*message).to_owned(),
                Err(_) => "a panic without a message".to_owned(),
            },
        };
        Panicked(message)
    }
}

/// Runs `future` (and whatever makes it), catching a panic in either. The future is
/// dropped after a panic, as it would be had it returned an error.
pub(crate) async fn caught<F: Future>(make: impl FnOnce() -> F) -> Result<F::Output, Panicked> {
    let future = catch_unwind(AssertUnwindSafe(make)).map_err(Panicked::from_payload)?;
    let mut future = pin!(future);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(Panicked::from_payload(payload))),
        },
    )
    .await
}

/// [`caught`], for a handler that returns `Result<T, E>`: its panic becomes its error.
pub(crate) async fn or_error<F, T, E>(make: impl FnOnce() -> F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<Panicked>,
{
    caught(make).await.unwrap_or_else(|panic| Err(panic.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_before_or_after_an_await_is_caught_with_its_message() {
        let before = caught(|| -> std::future::Ready<()> { panic!("at once") }).await;
        assert_eq!(before, Err(Panicked("at once".into())));
        let after = caught(|| async {
            tokio::task::yield_now().await;
            let n = 2;
            panic!("after {n} steps")
        })
        .await;
        assert_eq!(after, Err::<(), _>(Panicked("after 2 steps".into())));
        assert_eq!(caught(|| async { 7 }).await, Ok(7));
    }
}
