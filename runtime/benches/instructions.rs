//! Instructions a dispatch costs, counted by callgrind, which repeats to the instruction
//! where wall-clock figures on a shared machine do not. Runs N commands over 10 streams on
//! a SQLite file (PostgreSQL with `CG_PG=<url>`, the memory store with `CG_MEMORY=1`);
//! run it with two N and take the difference, so that start-up cancels out:
//!
//! ```text
//! cargo bench -p herald --features postgres --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> 100
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> 300
//! # (Ir(300) - Ir(100)) / 200 = instructions per dispatch, in this process
//! ```
//!
//! With the feature `http`, `CG_HTTP=1` sends the same commands over HTTP instead
//! (`POST /v1/commands/Add` to `herald::http::router` served on a loopback port, from one
//! keep-alive connection of hyper's client in this process): the difference from the
//! same store in process is what the HTTP door costs a command, client and server.
//!
//! With the features `otel` and `metrics`, `CG_TELEMETRY=info` counts the dispatches
//! with telemetry on as the telemetry bench's "on, INFO" side has it: a subscriber with
//! a `LevelFilter::INFO` and the OpenTelemetry layer exporting through the SDK's batch
//! span processor to an exporter that drops the spans, and the Prometheus recorder
//! (`CG_TELEMETRY=all`: Herald's spans at every level). The provider is shut down before
//! the process ends, so that each run's export is counted too.
use herald::prelude::*;

mod common;
mod counter;
use counter::Add;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    #[cfg(all(feature = "otel", feature = "metrics"))]
    let provider = telemetry::install(std::env::var("CG_TELEMETRY").ok().as_deref());
    let path = std::env::temp_dir().join(format!("herald-instructions-{}.db", std::process::id()));
    let builder = Herald::builder().modules(["instructions"]);
    let builder = match (std::env::var("CG_PG"), std::env::var_os("CG_MEMORY")) {
        (_, Some(_)) => builder, // the default store: memory
        (Ok(url), None) => {
            builder.store(herald::store::PostgresStore::connect(&url).await.unwrap())
        }
        (Err(_), None) => builder.store(herald::store::SqliteStore::open(&path).await.unwrap()),
    };
    let herald = builder.build().await.unwrap();
    #[cfg(feature = "http")]
    if std::env::var_os("CG_HTTP").is_some() {
        http::send(&herald, n).await;
        remove_files(&path);
        return;
    }
    for i in 0..n {
        herald.dispatch(Add { id: i % 10, by: 1 }).await.unwrap();
    }
    #[cfg(all(feature = "otel", feature = "metrics"))]
    if let Some(provider) = provider {
        provider.shutdown().unwrap();
    }
    remove_files(&path);
}

/// Removes the bench's SQLite files: the events' file and the saga log's beside it
/// (`….sagas.db`), with their journals.
fn remove_files(path: &std::path::Path) {
    let events = path.to_string_lossy();
    common::remove_sqlite_files(&[&events, &events.replace(".db", ".sagas.db")]);
}

#[cfg(all(feature = "otel", feature = "metrics"))]
mod telemetry {
    use herald::telemetry::otel::{self, opentelemetry_sdk};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;

    /// An exporter that drops every batch.
    #[derive(Debug)]
    struct Dropped;

    impl SpanExporter for Dropped {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            drop(batch);
            Ok(())
        }
    }

    /// The process's subscriber and recorder for `mode` (`info`, `all`; none else).
    pub(crate) fn install(mode: Option<&str>) -> Option<SdkTracerProvider> {
        let level = match mode? {
            "info" => LevelFilter::INFO,
            "all" => LevelFilter::TRACE,
            _ => return None,
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(Dropped)
            .build();
        // Herald's spans up to `level`, the other crates' at INFO (sqlx logs each
        // statement at DEBUG).
        let targets = Targets::new()
            .with_target("herald", level)
            .with_default(LevelFilter::INFO);
        let subscriber = tracing_subscriber::registry()
            .with(targets)
            .with(otel::layer(&provider));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        herald::telemetry::Prometheus::install().unwrap();
        Some(provider)
    }
}

#[cfg(feature = "http")]
mod http {
    use axum::body::Body;
    use axum::http::{Request, header};
    use herald::http::{Server, StaticTokens};
    use herald::{Actor, Herald};
    use hyper_util::rt::TokioIo;

    /// Sends `n` commands over one connection to `herald` served on a loopback port.
    pub(crate) async fn send(herald: &Herald, n: u64) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let tokens = StaticTokens::new().token("t", Actor::new("bench", Actor::DEFAULT_TENANT));
        let server = Server::new(listener, herald::http::router(herald.clone(), tokens));
        tokio::spawn(async move { server.run().await.unwrap() });
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        for i in 0..n {
            let request = Request::post("/v1/commands/Add")
                .header(header::HOST, &addr)
                .header(header::AUTHORIZATION, "Bearer t")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"id":{},"by":1}}"#, i % 10)))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
                .await
                .unwrap();
        }
    }
}
