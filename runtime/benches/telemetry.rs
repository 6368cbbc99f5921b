//! Commands per second with telemetry on against off, in the same run: one command
//! (`Add`, one event) dispatched in process on SQLite (a file of its own per side), by 1
//! and 8 concurrent writers on distinct streams. The sides alternate, round by round, so
//! that the machine's noise hits each; the table gives the median of the rounds and the
//! ratio to "off".
//!
//! - **off**: no `tracing` subscriber and no `metrics` recorder on the threads that run
//!   the dispatches (Herald's spans are disabled, its metrics go nowhere);
//! - **on**: a subscriber with the OpenTelemetry layer (`herald::telemetry::otel::layer`)
//!   exporting every span, the steps' `DEBUG` ones too, through the SDK's batch span
//!   processor to an exporter that drops them, plus the Prometheus recorder;
//! - **on, INFO**: the same with a `LevelFilter::INFO` in front: the `herald.dispatch`
//!   spans (and the consumers') only, as a service usually exports them.
//!
//! Each side runs on a Tokio runtime of its own (2 worker threads, as the machine has 2
//! cores) whose threads carry that side's subscriber and recorder as their defaults: a
//! process can have one global subscriber only, and "off" must have none. One caveat of
//! that: once any subscriber exists in the process, every span callsite asks the
//! thread's subscriber whether it is enabled, where a process that never installs one
//! skips even that; "off" pays that check here (a few nanoseconds a span).
//!
//! Run: `cargo bench -p herald --features otel,metrics --bench telemetry` (`-- --quick`
//! for short rounds).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::Herald;
use herald::telemetry::otel::{self, opentelemetry_sdk};
use herald::store::SqliteStore;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

mod counter;
use counter::Add;

/// An exporter that drops every batch: what the bench measures is Herald's spans and the
/// layer, not a collector.
#[derive(Debug)]
struct Dropped;

impl SpanExporter for Dropped {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// One side of the comparison: its runtime, and a runtime on its own SQLite file.
struct Side {
    tokio: tokio::runtime::Runtime,
    herald: Herald,
    file: std::path::PathBuf,
}

#[derive(Clone, Copy)]
enum Telemetry {
    Off,
    On,
    OnInfo,
}

fn side(name: &'static str, telemetry: Telemetry) -> Side {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let defaults: Option<(tracing::Dispatch, &'static dyn metrics::Recorder)> = match telemetry {
        Telemetry::Off => None,
        Telemetry::On | Telemetry::OnInfo => {
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(Dropped)
                .build();
            let layer = otel::layer(&provider);
            let dispatch = match telemetry {
                Telemetry::OnInfo => tracing::Dispatch::new(
                    tracing_subscriber::registry()
                        .with(LevelFilter::INFO)
                        .with(layer),
                ),
                _ => tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
            };
            // The provider's batch thread lives as long as the process.
            std::mem::forget(provider);
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            Some((dispatch, Box::leak(Box::new(recorder))))
        }
    };
    if let Some((dispatch, recorder)) = defaults.clone() {
        builder.on_thread_start(move || {
            // For the thread's whole life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            std::mem::forget(metrics::set_default_local_recorder(recorder));
        });
    }
    let tokio = builder.build().unwrap();
    let file = std::env::temp_dir().join(format!(
        "herald-bench-telemetry-{name}-{}.db",
        herald::Uuid::now_v7().simple()
    ));
    let herald = tokio.block_on(async {
        Herald::builder()
            .modules(["telemetry"])
            .store(SqliteStore::open(&file).await.unwrap())
            .build()
            .await
            .unwrap()
    });
    Side {
        tokio,
        herald,
        file,
    }
}

impl Side {
    /// Commands per second with `writers` tasks, each on its own streams, for `window`.
    fn round(&self, writers: usize, window: Duration, round: usize) -> f64 {
        let herald = Arc::new(self.herald.clone());
        self.tokio.block_on(async move {
            let started = Instant::now();
            let tasks: Vec<_> = (0..writers)
                .map(|writer| {
                    let herald = herald.clone();
                    tokio::spawn(async move {
                        let id = (round * 100 + writer) as u64;
                        let mut done = 0u64;
                        while started.elapsed() < window {
                            herald.dispatch(Add { id, by: 1 }).await.unwrap();
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await.unwrap();
            }
            total as f64 / started.elapsed().as_secs_f64()
        })
    }

    fn remove(self) {
        drop(self.herald);
        drop(self.tokio);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.file.display()));
            let sagas = self.file.display().to_string().replace(".db", ".sagas.db");
            let _ = std::fs::remove_file(format!("{sagas}{suffix}"));
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (window, rounds) = match quick {
        true => (Duration::from_millis(500), 3),
        false => (Duration::from_secs(2), 7),
    };
    let sides = [
        side("off", Telemetry::Off),
        side("on", Telemetry::On),
        side("on-info", Telemetry::OnInfo),
    ];
    println!(
        "Commands per second on SQLite, telemetry off and on (median of {rounds} interleaved rounds of {window:?})\n"
    );
    println!("| writers | off | on | on / off | on, INFO | on, INFO / off |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for writers in [1, 8] {
        // A warm-up round each: the file, the pool, the caches.
        for side in &sides {
            side.round(writers, window / 4, 0);
        }
        let mut rates = [Vec::new(), Vec::new(), Vec::new()];
        for round in 1..=rounds {
            // Each round starts with another side, so that none is always first.
            for k in 0..sides.len() {
                let i = (round + k) % sides.len();
                rates[i].push(sides[i].round(writers, window, round));
            }
        }
        let [off, on, info] = rates.map(median);
        println!(
            "| {writers} | {off:.0} | {on:.0} | {:.3}x | {info:.0} | {:.3}x |",
            on / off,
            info / off
        );
    }
    for side in sides {
        side.remove();
    }
}
