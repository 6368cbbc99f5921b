//! Commands per second through `Herald::dispatch` (load, handle, append, commit), with
//! group commit on (the default) and off, against
//! the same work written by hand over sqlx (read the stream's last version, insert one
//! event row with the same columns, commit), on SQLite (a file, `synchronous=FULL`) and
//! PostgreSQL, with 1 and 8 writers on distinct streams; and the time to load an
//! aggregate of 100 and 10,000 events, with and without a snapshot, against reading and
//! decoding the same rows by hand. Both sides run in this process, interleaved, and the
//! table reports their ratio. And commands on one stream: 8 tasks of this process
//! sending 500 commands each to the same stream against one task sending 500, their
//! rates' ratio and the conflicts per command (the trace's appends that found the stream
//! moved on, each one a retry of load, handle and append).
//!
//! Run: `cargo bench -p herald --features postgres --bench dispatch` (add `-- dispatch`,
//! `-- load` or `-- one-stream` for one table, `-- --quick` for short rounds)
//! (PostgreSQL from `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

use std::time::{Duration, Instant};

use herald::prelude::*;
use herald::trace::Outcome;

mod common;
mod counter;
use common::{Backend, Raw, open, raw_command};
mod measure;
use counter::{Add, Added, Counter};
use measure::{median, throughput};

#[event("snapped.:id.added")]
struct SnapAdded {
    id: u64,
    by: i64,
}

#[command("snap.add.:id")]
struct SnapAdd {
    id: u64,
    by: i64,
}

#[aggregate(name = "snapped", snapshot_every = 100)]
#[derive(Default)]
struct Snapped {
    total: i64,
}

#[aggregate]
impl Snapped {
    #[handle]
    fn add(&self, cmd: &SnapAdd) -> Result<SnapAdded, std::convert::Infallible> {
        Ok(SnapAdded {
            id: cmd.id,
            by: cmd.by,
        })
    }

    #[apply]
    fn added(&mut self, e: &SnapAdded) {
        self.total += e.by;
    }
}

async fn dispatch_row(
    backend: Backend,
    name: &str,
    writers: usize,
    window: Duration,
    rounds: usize,
) {
    let db = open(backend).await;
    let runtime = |group_commit: bool| {
        Herald::builder()
            .modules([module_path!()])
            .store(db.store.clone())
            .group_commit(group_commit)
            .build()
    };
    let (grouped, alone) = (runtime(true).await.unwrap(), runtime(false).await.unwrap());
    let (mut ours, mut ours_alone, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let prefix = round * 100;
        for (herald, offset, rates) in [(&grouped, 0, &mut ours), (&alone, 50, &mut ours_alone)] {
            let h = herald.clone();
            rates.push(
                throughput(writers, window, move |writer, i| {
                    let h = h.clone();
                    async move {
                        h.dispatch(Add {
                            id: (prefix + offset + writer) as u64,
                            by: i as i64,
                        })
                        .await
                        .unwrap();
                    }
                })
                .await,
            );
        }
        let raw = db.raw.clone();
        theirs.push(
            throughput(writers, window, move |writer, i| {
                let raw = raw.clone();
                async move { raw_command(&raw, &(prefix + writer).to_string(), i as i64).await }
            })
            .await,
        );
    }
    drop((grouped, alone));
    db.remove().await;
    let (ours, ours_alone, theirs) = (median(ours), median(ours_alone), median(theirs));
    println!(
        "| {name} | {writers} | {ours:>8.0} | {ours_alone:>8.0} | {theirs:>8.0} | {:.2}x | {:.2}x |",
        ours / theirs,
        ours_alone / theirs
    );
}

/// What `writers` tasks sending `each` commands to stream `id` did: commands committed
/// per second, conflicts (appends that found the stream moved on) and commands that
/// failed (their conflicts outlasted the retries).
async fn on_one_stream(
    herald: &Herald,
    id: u64,
    writers: usize,
    each: usize,
) -> (f64, usize, usize) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let herald = herald.clone();
            tokio::spawn(async move {
                let conflicts = |trace: &herald::trace::Trace| {
                    trace
                        .nodes()
                        .filter(|n| n.outcome == Outcome::Conflict)
                        .count()
                };
                let (mut conflicted, mut failed) = (0, 0);
                for _ in 0..each {
                    match herald.dispatch(Add { id, by: 1 }).await {
                        Ok(done) => conflicted += conflicts(done.trace()),
                        Err(error) => {
                            failed += 1;
                            conflicted += error.trace().map_or(0, conflicts);
                        }
                    }
                }
                (conflicted, failed)
            })
        })
        .collect();
    let (mut conflicted, mut failed) = (0, 0);
    for task in tasks {
        let (c, f) = task.await.unwrap();
        conflicted += c;
        failed += f;
    }
    let rate = (writers * each - failed) as f64 / started.elapsed().as_secs_f64();
    let total = herald.load::<Counter>(id).await.unwrap().state().total;
    assert_eq!(
        total as usize,
        writers * each - failed,
        "every command counted once"
    );
    (rate, conflicted, failed)
}

/// 8 tasks × `each` commands on one stream against 1 task × `each`, interleaved rounds
/// on fresh streams.
async fn one_stream_row(backend: Backend, name: &str, each: usize, rounds: usize) {
    let db = open(backend).await;
    let herald = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let (mut alone, mut together) = (Vec::new(), Vec::new());
    let (mut conflicts, mut failures) = (Vec::new(), 0);
    for round in 0..rounds as u64 {
        alone.push(on_one_stream(&herald, 1_000 + 2 * round, 1, each).await.0);
        let (rate, conflicted, failed) = on_one_stream(&herald, 1_001 + 2 * round, 8, each).await;
        together.push(rate);
        conflicts.push(conflicted as f64 / (8 * each) as f64);
        failures += failed;
    }
    drop(herald);
    db.remove().await;
    let (alone, together, conflicts) = (median(alone), median(together), median(conflicts));
    println!(
        "| {name} | {alone:>8.0} | {together:>8.0} | {:.2}x | {conflicts:.3} | {failures} |",
        together / alone
    );
}

/// The time to load a `counter` of `n` events through Herald (without the in-memory
/// cache) and by hand (read the rows, decode each payload, fold).
async fn load_row(backend: Backend, name: &str, n: u64, snapshot: bool) {
    let db = open(backend).await;
    let herald = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let mut tx = herald.begin().await.unwrap();
    for i in 0..n {
        if snapshot {
            tx.dispatch(SnapAdd {
                id: 1,
                by: i as i64,
            })
            .await
            .unwrap();
        } else {
            tx.dispatch(Add {
                id: 1,
                by: i as i64,
            })
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    let cold = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .cached_aggregates(0)
        .build()
        .await
        .unwrap();
    let rounds = if n > 1000 { 15 } else { 201 };
    let stream_type = if snapshot { "snapped" } else { "counter" };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which side goes first, so neither always finds the caches warm.
        for side in [round % 2, 1 - round % 2] {
            let started = Instant::now();
            let total = match (side, snapshot) {
                (0, true) => cold.load::<Snapped>(1).await.unwrap().state().total,
                (0, false) => cold.load::<Counter>(1).await.unwrap().state().total,
                _ => raw_load(&db.raw, stream_type).await,
            };
            let elapsed = started.elapsed().as_secs_f64();
            assert_eq!(total, (n * (n - 1) / 2) as i64);
            if side == 0 {
                ours.push(elapsed)
            } else {
                theirs.push(elapsed)
            }
        }
    }
    drop((herald, cold));
    db.remove().await;
    let (ours, theirs) = (median(ours) * 1e3, median(theirs) * 1e3);
    let kind = if snapshot {
        "snapshot every 100"
    } else {
        "no snapshot"
    };
    println!(
        "| {name} | {n} events, {kind} | {ours:>8.3} ms | {theirs:>8.3} ms | {:.2}x |",
        theirs / ours
    );
}

/// Reads a whole stream by hand and folds its events: what an aggregate needs of each
/// row (its version, to know where it is, its name, to know which event it is, and its
/// payload), each decoded straight from the stored text into the event's type.
async fn raw_load(raw: &Raw, stream_type: &str) -> i64 {
    let fold = |rows: Vec<(i64, String, String)>| {
        let mut version = 0;
        let mut total = 0;
        for (v, name, payload) in rows {
            total += match name.as_str() {
                "Added" => serde_json::from_str::<Added>(&payload).unwrap().by,
                "SnapAdded" => serde_json::from_str::<SnapAdded>(&payload).unwrap().by,
                other => panic!("{other}"),
            };
            version = v;
        }
        assert!(version > 0);
        total
    };
    match raw {
        Raw::Sqlite(pool) => fold(
            sqlx::query_as("SELECT version, name, payload FROM herald_events WHERE tenant = ? AND stream_type = ? AND stream_id = ? AND version > ? ORDER BY version")
                .bind("default").bind(stream_type).bind("1").bind(0_i64)
                .fetch_all(pool).await.unwrap(),
        ),
        Raw::Postgres(pool) => fold(
            sqlx::query_as("SELECT version, name, payload::text FROM herald_events WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 ORDER BY version")
                .bind("default").bind(stream_type).bind("1").bind(0_i64)
                .fetch_all(pool).await.unwrap(),
        ),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `-- dispatch`, `-- load` or `-- one-stream` runs one table only.
    let tables = ["dispatch", "load", "one-stream"];
    let only = |table: &str| {
        !args.iter().any(|a| tables.contains(&a.as_str())) || args.iter().any(|a| a == table)
    };
    let (window, rounds) = if quick {
        (Duration::from_millis(500), 1)
    } else {
        (Duration::from_secs(2), 3)
    };
    if only("dispatch") {
        println!(
            "Commands per second (median of {rounds} interleaved rounds of {window:?} each)\n"
        );
        println!(
            "| store | writers | Herald | Herald, group commit off | by hand | Herald / by hand | off / by hand |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (backend, name) in [
            (Backend::Sqlite, "SQLite"),
            (Backend::Postgres, "PostgreSQL"),
        ] {
            for writers in [1, 8] {
                dispatch_row(backend, name, writers, window, rounds).await;
            }
        }
    }
    if only("one-stream") {
        let each = if quick { 100 } else { 500 };
        println!(
            "\nCommands per second on one stream (median of {rounds} interleaved rounds, {each} commands a task)\n"
        );
        println!("| store | 1 task | 8 tasks | 8 / 1 | conflicts per command (8 tasks) | failed |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (backend, name) in [
            (Backend::Sqlite, "SQLite"),
            (Backend::Postgres, "PostgreSQL"),
        ] {
            one_stream_row(backend, name, each, rounds).await;
        }
    }
    if !only("load") {
        return;
    }
    println!("\nLoading an aggregate (median; Herald without its in-memory cache)\n");
    println!("| store | stream | Herald | by hand | by hand / Herald |");
    println!("|---|---|---:|---:|---:|");
    for (backend, name) in [
        (Backend::Sqlite, "SQLite"),
        (Backend::Postgres, "PostgreSQL"),
    ] {
        for (n, snapshot) in [(100, false), (100, true), (10_000, false), (10_000, true)] {
            load_row(backend, name, n, snapshot).await;
        }
    }
}
