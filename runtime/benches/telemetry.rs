//! Commands per second with telemetry on against off, in the same run: one command
//! (`Add`, one event) dispatched in process on SQLite (a file of its own per side), by 1
//! and 8 concurrent writers on distinct streams. The sides alternate, round by round, so
//! that the machine's noise hits each; the table gives the median of the rounds and the
//! ratio to "off".
//!
//! - **off**: no `tracing` subscriber and no `metrics` recorder on the threads that run
//!   the dispatches (Herald's spans are disabled, its metrics go nowhere);
//! - **on**: a subscriber with the OpenTelemetry layer (`herald::telemetry::otel::layer`)
//!   exporting every span of Herald's, the steps' `DEBUG` ones too (other crates' at
//!   `INFO`: sqlx logs every statement at `DEBUG`), through the SDK's batch span
//!   processor to an exporter that counts and drops them, plus the Prometheus recorder;
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald::Herald;
use herald::store::SqliteStore;
use herald::telemetry::otel::{self, opentelemetry_sdk};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

mod counter;
mod measure;
use counter::Add;
use measure::{cpu_seconds, median, throughput};

/// An exporter that drops every batch: what the bench measures is Herald's spans and the
/// layer, not a collector.
#[derive(Debug)]
struct Dropped(&'static AtomicU64);

impl SpanExporter for Dropped {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The spans exported by each side's exporter.
static EXPORTED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// The commands each side dispatched.
static DISPATCHED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// One side of the comparison: its runtime, and a runtime on its own SQLite file.
struct Side {
    index: usize,
    tokio: tokio::runtime::Runtime,
    herald: Herald,
    file: std::path::PathBuf,
    /// The exporting sides' provider, flushed at the end of each of their rounds.
    provider: Option<SdkTracerProvider>,
}

#[derive(Clone, Copy)]
#[repr(usize)]
enum Telemetry {
    Off,
    On,
    OnInfo,
}

fn side(name: &'static str, telemetry: Telemetry) -> Side {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let mut kept = None;
    let defaults: Option<(tracing::Dispatch, &'static PrometheusRecorder)> = match telemetry {
        Telemetry::Off => None,
        Telemetry::On | Telemetry::OnInfo => {
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(Dropped(&EXPORTED[telemetry as usize]))
                .build();
            let dispatch = match telemetry {
                Telemetry::OnInfo => tracing::Dispatch::new(
                    tracing_subscriber::registry()
                        .with(LevelFilter::INFO)
                        .with(otel::layer(&provider)),
                ),
                // Herald's spans at every level, the other crates' at INFO (sqlx logs
                // each statement at DEBUG: the layer would attach it to the current span).
                _ => tracing::Dispatch::new(
                    tracing_subscriber::registry()
                        .with(
                            Targets::new()
                                .with_target("herald", Level::TRACE)
                                .with_default(Level::INFO),
                        )
                        .with(otel::layer(&provider)),
                ),
            };
            kept = Some(provider);
            let recorder = PrometheusBuilder::new().build_recorder();
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
        index: telemetry as usize,
        tokio,
        herald,
        file,
        provider: kept,
    }
}

impl Side {
    /// Commands per second with `writers` tasks, each on its own streams, for `window`,
    /// and the process's CPU time per command in microseconds (only this side runs
    /// meanwhile). An exporting side's spans are flushed before its round ends: their
    /// export counts in its CPU time and not in the next side's round.
    fn round(&self, writers: usize, window: Duration, round: usize) -> (f64, f64) {
        let cpu = cpu_seconds();
        let before = DISPATCHED[self.index].load(Ordering::Relaxed);
        let rate = self.rate(writers, window, round);
        if let Some(provider) = &self.provider {
            provider.force_flush().expect("the spans flushed");
        }
        let commands = DISPATCHED[self.index].load(Ordering::Relaxed) - before;
        (rate, (cpu_seconds() - cpu) * 1e6 / commands.max(1) as f64)
    }

    fn rate(&self, writers: usize, window: Duration, round: usize) -> f64 {
        let herald = self.herald.clone();
        let dispatched = &DISPATCHED[self.index];
        self.tokio
            .block_on(throughput(writers, window, move |writer, _| {
                let herald = herald.clone();
                async move {
                    let id = (round * 100 + writer) as u64;
                    herald.dispatch(Add { id, by: 1 }).await.unwrap();
                    dispatched.fetch_add(1, Ordering::Relaxed);
                }
            }))
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `-- --profile off|on|on-info`: that side alone, 8 writers, for a profiler.
    if let Some(at) = args.iter().position(|a| a == "--profile") {
        let telemetry = match args.get(at + 1).map(String::as_str) {
            Some("off") => Telemetry::Off,
            Some("on-info") => Telemetry::OnInfo,
            _ => Telemetry::On,
        };
        let side = side("profiled", telemetry);
        let (rate, cpu) = side.round(8, Duration::from_secs(10), 1);
        println!("{rate:.0} commands per second, {cpu:.0} µs of CPU each");
        side.remove();
        return;
    }
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
    println!(
        "| writers | off | on | on / off | on, INFO | on, INFO / off | CPU µs a command: off | on | on, INFO |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for writers in [1, 8] {
        // A warm-up round each: the file, the pool, the caches.
        for side in &sides {
            side.round(writers, window / 4, 0);
        }
        let mut rates = [Vec::new(), Vec::new(), Vec::new()];
        let mut cpus = [Vec::new(), Vec::new(), Vec::new()];
        for round in 1..=rounds {
            // Each round starts with another side, so that none is always first.
            for k in 0..sides.len() {
                let i = (round + k) % sides.len();
                let (rate, cpu) = sides[i].round(writers, window, round);
                rates[i].push(rate);
                cpus[i].push(cpu);
            }
        }
        let [off, on, info] = rates.map(median);
        let [cpu_off, cpu_on, cpu_info] = cpus.map(median);
        println!(
            "| {writers} | {off:.0} | {on:.0} | {:.3}x | {info:.0} | {:.3}x | {cpu_off:.0} | {cpu_on:.0} | {cpu_info:.0} |",
            on / off,
            info / off
        );
    }
    for side in sides {
        side.remove();
    }
    // The batch processors export every few seconds: the last ones may still be queued.
    std::thread::sleep(Duration::from_secs(6));
    for (name, i) in [("on", 1), ("on, INFO", 2)] {
        let (spans, commands) = (
            EXPORTED[i].load(Ordering::Relaxed),
            DISPATCHED[i].load(Ordering::Relaxed),
        );
        println!(
            "\n{name}: {spans} spans exported for {commands} commands ({:.1} a command; the batch processor drops what overflows its queue of 2,048)",
            spans as f64 / commands.max(1) as f64
        );
    }
}
