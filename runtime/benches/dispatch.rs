//! Commands per second through `Herald::dispatch` (load, handle, append, commit) against
//! the same work written by hand over sqlx (read the stream's last version, insert one
//! event row with the same columns, commit), on SQLite (a file, `synchronous=FULL`) and
//! PostgreSQL, with 1 and 8 writers on distinct streams; and the time to load an
//! aggregate of 100 and 10,000 events, with and without a snapshot, against reading and
//! decoding the same rows by hand. Both sides run in this process, interleaved, and the
//! table reports their ratio.
//!
//! Run: `cargo bench -p herald --features postgres --bench dispatch` (add `-- dispatch`
//! or `-- load` for one table, `-- --quick` for short rounds)
//! (PostgreSQL from `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

use std::time::{Duration, Instant};

use herald::prelude::*;

mod common;
mod counter;
use common::{Backend, Raw, median, open, throughput};
use counter::{Add, Added, Counter};

use sqlx::types::Json;

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

/// One command by hand: the stream's last version, one event row, commit.
async fn raw_command(raw: &Raw, stream: &str, by: i64) {
    let payload = serde_json::json!({ "id": stream, "by": by, "total": 0 });
    let metadata = serde_json::json!({ "event_id": Uuid::now_v7(), "command_id": Uuid::now_v7(), "actor": "system" });
    let route = format!("counter.{stream}.added");
    match raw {
        Raw::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            let version: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM raw_events WHERE tenant = ? AND stream_type = ? AND stream_id = ?",
            )
            .bind("default")
            .bind("counter")
            .bind(stream)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO raw_events (event_id, tenant, stream_type, stream_id, version, route, name, schema_version, \
                 payload, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(Uuid::now_v7())
            .bind("default")
            .bind("counter")
            .bind(stream)
            .bind(version + 1)
            .bind(&route)
            .bind("Added")
            .bind(1)
            .bind(Json(&payload))
            .bind(Json(&metadata))
            .bind(0_i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        Raw::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            let version: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM raw_events WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
            )
            .bind("default")
            .bind("counter")
            .bind(stream)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO raw_events (event_id, tenant, stream_type, stream_id, version, route, name, schema_version, \
                 payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(Uuid::now_v7())
            .bind("default")
            .bind("counter")
            .bind(stream)
            .bind(version + 1)
            .bind(&route)
            .bind("Added")
            .bind(1_i32)
            .bind(Json(&payload))
            .bind(Json(&metadata))
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
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
    let herald = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let h = herald.clone();
        let prefix = round * 100;
        ours.push(
            throughput(writers, window, move |writer, i| {
                let h = h.clone();
                async move {
                    h.dispatch(Add {
                        id: (prefix + writer) as u64,
                        by: i as i64,
                    })
                    .await
                    .unwrap();
                }
            })
            .await,
        );
        let raw = db.raw.clone();
        theirs.push(
            throughput(writers, window, move |writer, i| {
                let raw = raw.clone();
                async move { raw_command(&raw, &(prefix + writer).to_string(), i as i64).await }
            })
            .await,
        );
    }
    drop(herald);
    db.remove().await;
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "| {name} | {writers} | {ours:>8.0} | {theirs:>8.0} | {:.2}x |",
        ours / theirs
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
    // `-- dispatch` or `-- load` runs one table only.
    let only = |table: &str| {
        !args.iter().any(|a| a == "dispatch" || a == "load") || args.iter().any(|a| a == table)
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
        println!("| store | writers | Herald | by hand | Herald / by hand |");
        println!("|---|---:|---:|---:|---:|");
        for (backend, name) in [
            (Backend::Sqlite, "SQLite"),
            (Backend::Postgres, "PostgreSQL"),
        ] {
            for writers in [1, 8] {
                dispatch_row(backend, name, writers, window, rounds).await;
            }
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
