//! `otel::otlp`: spans sent over OTLP/HTTP to a collector (a stand-in on a loopback port
//! that keeps what it is sent).

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use tracing_subscriber::layer::SubscriberExt;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_sends_the_spans_to_a_collector() {
    let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let kept = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((content_type, body));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, collector).await });

    let endpoint = format!("http://{addr}/v1/traces");
    // The batch processor's thread sends with a blocking client: off the runtime.
    let flushed = tokio::task::spawn_blocking(move || {
        let provider = otel::otlp(&endpoint, "telemetry-test").expect("a provider");
        let subscriber = tracing_subscriber::registry().with(otel::layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("herald.dispatch", command = "Arrive").in_scope(|| {});
        });
        let flushed = provider.force_flush();
        let _ = provider.shutdown();
        flushed
    })
    .await
    .unwrap();
    flushed.expect("the spans were sent");

    let received = received.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(!received.is_empty(), "the collector heard nothing");
    let (content_type, body) = &received[0];
    assert_eq!(content_type, "application/x-protobuf");
    // Protobuf keeps strings as they are: the span's name and the service are in it.
    let text = String::from_utf8_lossy(body);
    assert!(text.contains("herald.dispatch"), "{text:?}");
    assert!(text.contains("telemetry-test"), "{text:?}");
    server.abort();
}
