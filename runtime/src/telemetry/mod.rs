//! Telemetry: `tracing` spans for every step of the loop and of the consumers, the W3C
//! trace context stored with each command's events, OpenTelemetry export (feature
//! `otel`, [`otel`]) and metrics through the `metrics` facade with a Prometheus text
//! endpoint (feature `metrics`, `Prometheus`).
//!
//! ## Spans
//!
//! Every dispatch runs in one span `herald.dispatch` (level `INFO`); each of its steps is
//! a span of its own (level `DEBUG`) whose parent is that dispatch span, named
//! `herald.<operation>` after [`Operation::as_str`](crate::trace::Operation::as_str),
//! also when the step runs in another task than the one that awaits the dispatch
//! (commands committed together by group commit keep their own parents). A processor's
//! command is a `herald.dispatch` below its `herald.process`. No span carries a
//! command's or an event's payload: only names, ids, routes, streams, versions and
//! positions. A span whose step failed has `outcome` (`conflict` or `failed`) and
//! `otel.status_code = "ERROR"` (no error message: it may quote a payload).
//!
//! | span | level | parent | fields |
//! |---|---|---|---|
//! | `herald.dispatch` | INFO | the caller's span (`http` over HTTP), or the `herald.process` of a processor | `command` (its name), `command_id`, `correlation_id`, `route`, `stream` (`tenant/type/id`), `version` (the stream's, after it; top-level commands), `outcome` |
//! | `herald.process` (an eventual processor's) | DEBUG | its `herald.consumer.handle` | `handler` |
//! | `herald.authorize` | DEBUG | its dispatch | `handler` (the actor's id) |
//! | `herald.queue` | DEBUG | its dispatch | — (waiting for the commands ahead on its stream) |
//! | `herald.begin`, `herald.commit`, `herald.rollback` | DEBUG | its dispatch | — |
//! | `herald.record` | DEBUG | its dispatch | — (the command id's row) |
//! | `herald.load` | DEBUG | its dispatch | `handler` (the aggregate), `stream` |
//! | `herald.handle`, `herald.apply` | DEBUG | its dispatch | `handler` (`Aggregate::method`, or the aggregate) |
//! | `herald.append` | DEBUG | its dispatch | `handler` (the aggregate, or a dispatcher for its side events), `stream`, `version` (the stream's version before the events) |
//! | `herald.snapshot` | DEBUG | its dispatch | `handler`, `stream` |
//! | `herald.finish` | DEBUG | its dispatch | — (the command's row: result and trace) |
//! | `herald.hook`, `herald.saga`, `herald.reverse` | DEBUG | its dispatch | `handler` (the hook or saga step) |
//! | `herald.project`, `herald.process`, `herald.dispatcher` | DEBUG | its dispatch | `handler`, `route` (the event's) |
//! | `herald.consumer.batch` | INFO | none: a new trace | `consumer`, `events` (read), `from` (the checkpoint's position) |
//! | `herald.consumer.handle` | INFO | its batch (a rebuild's: the caller's span) | `consumer`, `route`, `event_id`, `stream`, `version`, `position`, `rebuilding`; with `otel`, a span link to the trace context stored with the event |
//!
//! An eventual consumer's work starts a new trace, linked (an OpenTelemetry span link,
//! not a parent) to the context of the request that dispatched the event's command, as
//! stored in the event's [`Metadata::traceparent`](crate::store::Metadata::traceparent).
//!
//! ## The trace context stored with events
//!
//! A dispatch's events keep the W3C `traceparent` it was given
//! ([`Dispatch::trace_parent`](crate::Dispatch::trace_parent); the HTTP door passes the
//! request's header). With the `otel` feature and none given, it is the context of the
//! `herald.dispatch` span itself, when that span is exported. A strong processor's
//! command and a dispatcher's side events keep their parent's.
//!
//! ## Metrics
//!
//! With the feature `metrics`, through the [`metrics`](https://docs.rs/metrics) facade:
//! whatever recorder the application installs gets them; `Prometheus::install` installs
//! one that `Api::metrics` serves as `GET /v1/metrics`. Labels hold names and outcomes,
//! never a payload value or an id.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `herald_commands_total` | counter | `command`, `outcome` | top-level dispatches that ended, by outcome: `ok`, `repeat`, `rejected`, `conflict`, `forbidden`, `error` |
//! | `herald_command_duration_seconds` | histogram | `command`, `outcome` | how long they took |
//! | `herald_conflicts_total` | counter | `command` | appends that met a concurrent writer (each attempt; those retried too) |
//! | `herald_consumer_lag_events` | gauge | `consumer` | events after the consumer's checkpoint when it read its last batch (0 when it found none) |
//! | `herald_consumer_lag_seconds` | gauge | `consumer` | how long ago the oldest event it had not handled was recorded, at its last batch |
//! | `herald_consumer_parked_total` | counter | `consumer` | events parked as dead letters (after their last try, or behind a parked event of their stream) |
//! | `herald_consumer_lease_takeovers_total` | counter | `consumer` | leases this runtime took that it did not hold before |
//! | `herald_relay_lag_events` | gauge | — | committed events the NATS relay had not published yet, when it last read |
//! | `herald_relay_published_total` | counter | — | events the NATS relay published |
//! | `herald_channel_subscribers` | gauge | — | open channel sockets (`/v1/channels` WebSocket subscribers) |
//!
//! ## Turning it on
//!
//! The spans exist for any `tracing` subscriber; without one they cost next to nothing
//! (no field is formatted, nothing allocated). To export them to OpenTelemetry, install
//! the layer of [`otel`] (feature `otel`); to serve metrics, install `Prometheus`
//! (feature `metrics`) and mount it on the router (feature `http`):
//!
//! ```no_run
//! # #[cfg(all(feature = "http", feature = "metrics"))]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use herald::http::{Api, StaticTokens};
//! use herald::telemetry::Prometheus;
//! use herald::{Actor, Herald};
//!
//! let prometheus = Prometheus::install()?; // the process's `metrics` recorder
//! let herald = Herald::builder().url("sqlite://app.db").build().await?;
//! let tokens = StaticTokens::new()
//!     .token("scraper-token", Actor::new("prometheus", "acme").with_role("metrics"));
//! let app = Api::new(herald, tokens)
//!     .metrics(prometheus, "metrics") // GET /v1/metrics, for callers with that role
//!     .router();
//! # let _ = app; Ok(()) }
//! ```

#[cfg(feature = "metrics")]
pub(crate) mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "no_metrics.rs"]
pub(crate) mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
mod trace_parent;

#[cfg(feature = "metrics")]
pub use metrics::{Prometheus, PrometheusError};
pub use trace_parent::TraceParent;

/// The W3C context to store with a dispatch's events when none was given: with the
/// `otel` feature, that of `span` (the dispatch's) when it is exported.
pub(crate) fn context_of(span: &tracing::Span) -> Option<String> {
    #[cfg(feature = "otel")]
    {
        otel::trace_parent_of(span).map(|parent| parent.to_string())
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = span;
        None
    }
}

/// Links `span` (a consumer's handling of an event) to the context stored with the
/// event, with the `otel` feature.
pub(crate) fn link(span: &tracing::Span, stored: Option<&str>) {
    #[cfg(feature = "otel")]
    if let Some(parent) = stored.and_then(TraceParent::parse)
        && !span.is_none()
    {
        otel::link(span, parent);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, stored);
}
