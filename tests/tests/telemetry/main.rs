//! Herald's telemetry through a real server on a loopback port and a real client: the
//! spans of a dispatch and of its eventual consumers exported to OpenTelemetry (the SDK's
//! in-memory exporter), linked to the request's trace context, which the events keep;
//! the steps of commands committed together under their own dispatches; the Prometheus
//! endpoint with its role; `otel::otlp` sending to a collector. One process-wide
//! subscriber and recorder: each test picks out its own spans and series by values only
//! it used.

use std::sync::OnceLock;
use std::time::Duration;

use herald::channels::Join;
use herald::http::{Api, StaticTokens};
use herald::prelude::*;
use herald::telemetry::otel::{self, opentelemetry, opentelemetry_sdk};
use herald::{Actor, Herald};
use herald_tests::backends::TestStore;
use herald_tests::http::{Served, client};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

mod metrics;
mod otlp;
mod spans;

#[event("guest.:guest_id.arrived")]
struct Arrived {
    guest_id: String,
    email: String,
}

#[event("guest.:guest_id.welcomed")]
struct Welcomed {
    guest_id: String,
    note: String,
}

#[command("arrive.guest.:guest_id")]
struct Arrive {
    guest_id: String,
    email: String,
}

#[command("welcome.guest.:guest_id")]
struct Welcome {
    guest_id: String,
    note: String,
}

#[aggregate(name = "guest")]
#[derive(Default)]
struct Guest {
    arrived: bool,
    welcomed: bool,
}

#[aggregate]
impl Guest {
    #[handle]
    fn arrive(&self, cmd: &Arrive) -> Result<Arrived, String> {
        if self.arrived {
            return Err(format!("guest {} has arrived already", cmd.guest_id));
        }
        if cmd.email.ends_with("@spam.example") {
            return Err("no spam".into());
        }
        Ok(Arrived {
            guest_id: cmd.guest_id.clone(),
            email: cmd.email.clone(),
        })
    }

    #[handle]
    fn welcome(&self, cmd: &Welcome) -> Result<Welcomed, String> {
        if self.welcomed {
            return Err("welcomed already".into());
        }
        Ok(Welcomed {
            guest_id: cmd.guest_id.clone(),
            note: cmd.note.clone(),
        })
    }

    #[apply]
    fn arrived(&mut self, _: &Arrived) {
        self.arrived = true;
    }

    #[apply]
    fn welcomed(&mut self, _: &Welcomed) {
        self.welcomed = true;
    }
}

/// The eventual read model of arrivals (it keeps nothing: its span is what is tested).
#[projector("guest.:guest_id.arrived", consistency = eventual)]
async fn guest_book(_e: &Recorded<Arrived>, _cx: &mut Cx<'_>) -> Result<(), String> {
    Ok(())
}

/// The eventual processor: each arrival is welcomed by a command of its own.
#[processor("guest.:guest_id.arrived", consistency = eventual)]
async fn greeter(e: &Recorded<Arrived>, _cx: &mut Cx<'_>) -> Result<Welcome, String> {
    Ok(Welcome {
        guest_id: e.guest_id.clone(),
        note: format!("note-for-{}", e.email),
    })
}

/// The eventual read model of welcomes.
#[projector("guest.:guest_id.welcomed", consistency = eventual)]
async fn welcome_book(_e: &Recorded<Welcomed>, _cx: &mut Cx<'_>) -> Result<(), String> {
    Ok(())
}

/// Every arrival, live to any guest: what the channel sockets' gauge counts.
#[channel("guest.*.arrived", name = "arrivals")]
async fn arrivals(_join: &Join, _reader: &mut Reader) -> bool {
    true
}

const GUEST: &str = "guest-token";
const SCRAPER: &str = "scraper-token";

fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token(GUEST, Actor::new("ada", "acme"))
        .token(
            SCRAPER,
            Actor::new("prometheus", "acme").with_role("metrics"),
        )
}

/// The process's exporter, behind the global subscriber (installed the first time).
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(otel::layer(&provider));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test process");
        // The provider lives as long as the process.
        std::mem::forget(provider);
        exporter
    })
}

/// Every span exported so far.
fn finished() -> Vec<SpanData> {
    exporter()
        .get_finished_spans()
        .expect("the exporter's spans")
}

/// A span's attribute, as text.
fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The spans named `name` whose attribute `key` is `value`.
fn named(spans: &[SpanData], name: &str, key: &str, value: &str) -> Vec<SpanData> {
    spans
        .iter()
        .filter(|s| s.name == name && attribute(s, key).as_deref() == Some(value))
        .cloned()
        .collect()
}

/// Waits until `found` finds something in the exported spans.
async fn wait_for_spans<T>(what: &str, found: impl Fn(&[SpanData]) -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(found) = found(&finished()) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {what} was exported in 10 s");
}

/// The runtime of this suite on `test`'s store, served with `configure`'s API.
async fn serve(test: &TestStore, configure: impl FnOnce(Api) -> Api) -> (Herald, Served) {
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["telemetry"])
        .consumer_poll(Duration::from_millis(20))
        .build()
        .await
        .expect("the runtime");
    let api = configure(Api::new(herald.clone(), tokens()));
    let served = Served::start(herald.clone(), api.router()).await;
    (herald, served)
}

/// Sends command `name` over HTTP with `headers`.
async fn send(served: &Served, name: &str, body: Value, headers: &[(&str, &str)]) -> Value {
    let mut request = client()
        .post(served.url(&format!("/v1/commands/{name}")))
        .bearer_auth(GUEST)
        .json(&body);
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn guest() -> String {
    Uuid::now_v7().simple().to_string()
}

/// A `traceparent` of a trace of the test's own.
fn traceparent() -> (String, TraceId, SpanId) {
    let trace = Uuid::now_v7().simple().to_string();
    let parent = &Uuid::now_v7().simple().to_string()[16..];
    let header = format!("00-{trace}-{parent}-01");
    (
        header,
        TraceId::from_hex(&trace).unwrap(),
        SpanId::from_hex(parent).unwrap(),
    )
}

#[allow(dead_code, reason = "the bodies the tests send")]
fn arrival(guest: &str, email: &str) -> Value {
    json!({ "guest_id": guest, "email": email })
}
