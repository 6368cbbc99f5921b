//! The loop's metrics, through the `metrics` facade (feature `metrics`), and the
//! Prometheus recorder that `Api::metrics` serves.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The Prometheus recorder of the process's metrics, installed as the `metrics` facade's
/// global recorder: mount it with `Api::metrics` (feature `http`) to serve
/// `GET /v1/metrics`, or [`render`](Self::render) the text yourself.
///
/// ```
/// use herald::telemetry::Prometheus;
///
/// let prometheus = Prometheus::install().unwrap();
/// // Installing again hands back the same recorder.
/// let again = Prometheus::install().unwrap();
/// metrics::counter!("my_app_things_total").increment(1);
/// assert!(again.render().contains("my_app_things_total 1"));
/// # drop(prometheus);
/// ```
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
}

/// Why [`Prometheus::install`] could not install its recorder: another recorder is the
/// process's already.
#[derive(Debug, thiserror::Error)]
#[error("the Prometheus recorder could not be installed: {0}")]
pub struct PrometheusError(String);

static INSTALLED: OnceLock<Prometheus> = OnceLock::new();

/// The buckets of `herald_command_duration_seconds`, from 100 µs to 10 s.
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

impl Prometheus {
    /// Installs the Prometheus recorder as the process's `metrics` recorder (without an
    /// HTTP listener of its own: the router serves it), or hands back the one installed
    /// by an earlier call. An error when another recorder was installed first.
    pub fn install() -> Result<Prometheus, PrometheusError> {
        // One install at a time: a second caller waits, then takes the first's recorder
        // (without the lock it could find the global recorder set and ours not yet kept).
        static INSTALLING: Mutex<()> = Mutex::new(());
        let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(installed) = INSTALLED.get() {
            return Ok(installed.clone());
        }
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("herald_command_duration_seconds".to_owned()),
                DURATION_BUCKETS,
            )
            .map_err(|error| PrometheusError(error.to_string()))?;
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            return Err(PrometheusError(
                "another `metrics` recorder is installed".to_owned(),
            ));
        }
        describe();
        Ok(INSTALLED.get_or_init(|| Prometheus { handle }).clone())
    }

    /// The metrics in Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus").finish_non_exhaustive()
    }
}

/// The descriptions of Herald's metrics (`# HELP` lines).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "herald_commands_total",
        "Top-level commands dispatched, by command and outcome"
    );
    describe_histogram!(
        "herald_command_duration_seconds",
        Unit::Seconds,
        "How long top-level dispatches took, by command and outcome"
    );
    describe_counter!(
        "herald_conflicts_total",
        "Appends that met a concurrent writer, by command"
    );
    describe_gauge!(
        "herald_consumer_lag_events",
        "Events after an eventual consumer's checkpoint at its last batch"
    );
    describe_gauge!(
        "herald_consumer_lag_seconds",
        Unit::Seconds,
        "Age of the oldest event an eventual consumer had not handled, at its last batch"
    );
    describe_counter!(
        "herald_consumer_parked_total",
        "Events parked as dead letters, by consumer"
    );
    describe_counter!(
        "herald_consumer_lease_takeovers_total",
        "Consumer leases this runtime took that it did not hold"
    );
    describe_gauge!(
        "herald_relay_lag_events",
        "Committed events the NATS relay had not published, when it last read"
    );
    describe_counter!(
        "herald_relay_published_total",
        "Events the NATS relay published"
    );
    describe_gauge!(
        "herald_channel_subscribers",
        "Open channel sockets (WebSocket subscribers)"
    );
}

/// A top-level dispatch ended with `outcome` after `took`.
pub(crate) fn command(command: &'static str, outcome: &'static str, took: Duration) {
    metrics::counter!("herald_commands_total", "command" => command, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("herald_command_duration_seconds", "command" => command, "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// An append of `command` met a concurrent writer.
pub(crate) fn conflict(command: &'static str) {
    metrics::counter!("herald_conflicts_total", "command" => command).increment(1);
}

/// Where eventual consumer `consumer` stood when it read its last batch.
pub(crate) fn consumer_lag(consumer: &'static str, events: u64, seconds: f64) {
    metrics::gauge!("herald_consumer_lag_events", "consumer" => consumer).set(events as f64);
    metrics::gauge!("herald_consumer_lag_seconds", "consumer" => consumer).set(seconds);
}

/// Consumer `consumer` parked an event.
pub(crate) fn parked(consumer: &'static str) {
    metrics::counter!("herald_consumer_parked_total", "consumer" => consumer).increment(1);
}

/// This runtime took the lease of consumer `consumer`, which it did not hold.
pub(crate) fn lease_taken(consumer: &'static str) {
    metrics::counter!("herald_consumer_lease_takeovers_total", "consumer" => consumer).increment(1);
}

/// The relay's events not published yet, when it read.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) fn relay_lag(events: u64) {
    metrics::gauge!("herald_relay_lag_events").set(events as f64);
}

/// The relay published `events` events.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) fn relay_published(events: u64) {
    metrics::counter!("herald_relay_published_total").increment(events);
}

/// A channel subscription started (`1`) or ended (`-1`).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn channel_subscribers(delta: i64) {
    let gauge = metrics::gauge!("herald_channel_subscribers");
    match delta {
        0.. => gauge.increment(delta as f64),
        _ => gauge.decrement(-delta as f64),
    }
}
