//! OpenTelemetry export of Herald's spans (feature `otel`): a `tracing` layer over an
//! OpenTelemetry tracer provider, and a provider that exports over OTLP.
//!
//! ```no_run
//! use herald::telemetry::otel;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! # fn main() -> Result<(), herald::BoxError> {
//! // OTLP over HTTP (protobuf) to a collector, in batches.
//! let provider = otel::otlp("http://127.0.0.1:4318/v1/traces", "bank")?;
//! let subscriber = tracing_subscriber::registry().with(otel::layer(&provider));
//! tracing::subscriber::set_global_default(subscriber)?;
//! // … run the application; before it exits, flush what is left:
//! provider.shutdown()?;
//! # Ok(()) }
//! ```
//!
//! The layer exports every span it sees; filter it as any `tracing` layer
//! (`tracing_subscriber::filter::LevelFilter::INFO` keeps `herald.dispatch` and the
//! consumers' spans, not the steps). A request to the HTTP door with a `traceparent`
//! continues the caller's trace; its command's events keep that context, and the
//! eventual consumers that handle them start new traces linked to it.
//!
//! The crates it is built on are re-exported for the application to configure them at
//! the same versions: [`opentelemetry`], [`opentelemetry_sdk`], [`opentelemetry_otlp`],
//! [`tracing_opentelemetry`].

pub use opentelemetry;
pub use opentelemetry_otlp;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;

use super::TraceParent;
use crate::BoxError;

/// The `tracing` layer that exports spans through `provider`'s tracer (named `herald`),
/// with their fields as attributes. It leaves out what costs at every poll of a future
/// or adds little: the thread, the source location, the target, busy and idle times,
/// and making a span's OpenTelemetry context current while it is entered (for
/// instrumentation that reads `opentelemetry::Context::current()` inside a handler,
/// build your own with [`tracing_opentelemetry::layer`]; Herald's links and stored
/// contexts work with either).
///
/// ```
/// use herald::telemetry::otel::{self, opentelemetry::trace::TraceContextExt};
/// use otel::opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel::tracing_opentelemetry::OpenTelemetrySpanExt;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// // Give the provider an exporter (`otel::otlp` makes one that sends OTLP).
/// let provider = SdkTracerProvider::builder().build();
/// let subscriber = tracing_subscriber::registry().with(otel::layer(&provider));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("work");
///     assert!(span.context().span().span_context().is_valid());
/// });
/// ```
pub fn layer<S>(
    provider: &SdkTracerProvider,
) -> OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    // Neither the thread, the source location and the target (the span names say what
    // they are) nor the busy and idle times, and no OpenTelemetry context made current
    // on entering a span: both cost at every poll of an instrumented future.
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("herald"))
        .with_threads(false)
        .with_location(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
}

/// A tracer provider that exports over OTLP/HTTP (protobuf) to `endpoint` (a
/// collector's traces URL, such as `http://127.0.0.1:4318/v1/traces`), in batches from
/// a thread of its own, as service `service`. Call its `shutdown` before the process
/// exits to send what is left.
pub fn otlp(endpoint: &str, service: &str) -> Result<SdkTracerProvider, BoxError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The context of `span`, when it is exported.
pub(crate) fn trace_parent_of(span: &tracing::Span) -> Option<TraceParent> {
    if span.is_none() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() {
        return None;
    }
    Some(TraceParent {
        trace_id: span_context.trace_id().to_bytes(),
        parent_id: span_context.span_id().to_bytes(),
        flags: span_context.trace_flags().to_u8(),
    })
}

fn remote(parent: TraceParent) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.parent_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    )
}

/// Makes `span` (not entered yet) a child of the remote caller's span `parent`.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn continue_from(span: &tracing::Span, parent: TraceParent) {
    if span.is_none() {
        return;
    }
    let context = opentelemetry::Context::new().with_remote_span_context(remote(parent));
    // Without the layer there is nothing to continue.
    let _ = span.set_parent(context);
}

/// Links `span` to the remote context `parent`.
pub(crate) fn link(span: &tracing::Span, parent: TraceParent) {
    span.add_link(remote(parent));
}
