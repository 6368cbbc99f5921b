//! Eventual consumers: how fast one eventual projector catches up over 100,000 stored
//! events, against a hand-written sqlx loop doing the same (read a batch after its
//! checkpoint, decode each payload, insert the same projection row, move the checkpoint,
//! commit), with the same batch size; and the latency from a command's commit to its
//! eventual projection being readable (`Consumers::wait_for` returning), p50 and p99; and
//! the same projector split four ways by stream (`partitions = 4`, all four run by one
//! runtime) against it whole. On SQLite (a file, `synchronous=FULL`) and PostgreSQL; on
//! PostgreSQL the latency also across processes (the projector run by a second runtime
//! on a store of its own, on the same schema).
//!
//! Run: `cargo bench -p herald --features postgres --bench consumers` (`-- --quick` for
//! 10,000 events and fewer samples; `-- catch-up`, `-- latency` or `-- split` for one
//! table).

use std::str::FromStr;
use std::time::{Duration, Instant};

use herald::prelude::*;
use herald::store::{Position, Sql};

mod common;
use common::{Backend, Raw, open};
use meter::{Read, TakeReading};

mod meter {
    use herald::prelude::*;

    #[event("meter.:id.read")]
    pub(crate) struct Read {
        pub(crate) id: u64,
        pub(crate) n: i64,
    }

    #[command("read.meter.:id")]
    pub(crate) struct TakeReading {
        pub(crate) id: u64,
        pub(crate) n: i64,
    }

    #[aggregate(name = "meter")]
    #[derive(Default)]
    pub(crate) struct Meter;

    #[aggregate]
    impl Meter {
        #[handle]
        fn take(&self, cmd: &TakeReading) -> Result<Read, std::convert::Infallible> {
            Ok(Read {
                id: cmd.id,
                n: cmd.n,
            })
        }

        #[apply]
        fn read(&mut self, _: &Read) {}
    }
}

/// The projector, whole.
mod whole {
    use herald::prelude::*;

    use crate::meter::Read;

    /// The projection: a row per reading.
    #[projector("meter.:id.read", consistency = eventual)]
    async fn readings(e: &Recorded<Read>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        crate::insert("readings", e, cx).await
    }
}

/// The same projector, split four ways.
mod split {
    use herald::prelude::*;

    use crate::meter::Read;

    #[projector("meter.:id.read", consistency = eventual, partitions = 4)]
    async fn split_readings(e: &Recorded<Read>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        crate::insert("split_readings", e, cx).await
    }
}

const MODULES: [&str; 2] = ["consumers::meter", "consumers::whole"];
const SPLIT_MODULES: [&str; 2] = ["consumers::meter", "consumers::split"];

/// Writes a reading's row into `table`.
async fn insert(table: &str, e: &Recorded<Read>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    let insert = format!("INSERT INTO {table} (id, n) VALUES ($1, $2)");
    let insert = sqlx::AssertSqlSafe(insert);
    match cx.sql() {
        Sql::Sqlite(conn) => {
            sqlx::query(insert)
                .bind(e.id as i64)
                .bind(e.n)
                .execute(conn)
                .await?;
        }
        Sql::Postgres(conn) => {
            sqlx::query(insert)
                .bind(e.id as i64)
                .bind(e.n)
                .execute(conn)
                .await?;
        }
        _ => return Err("a SQL store".into()),
    }
    Ok(())
}

const BATCH: usize = 25;

const TABLES: [&str; 4] = [
    "CREATE TABLE readings (id BIGINT NOT NULL, n BIGINT NOT NULL)",
    "CREATE TABLE split_readings (id BIGINT NOT NULL, n BIGINT NOT NULL)",
    "CREATE TABLE raw_readings (id BIGINT NOT NULL, n BIGINT NOT NULL)",
    "CREATE TABLE raw_checkpoint (consumer TEXT PRIMARY KEY, tx_order BIGINT NOT NULL, position BIGINT NOT NULL)",
];

/// Stores `count` readings straight into Herald's events table, in one transaction.
async fn seed(raw: &Raw, count: u64) {
    let metadata = serde_json::json!({
        "event_id": Uuid::nil(), "command_id": Uuid::nil(), "correlation_id": Uuid::nil(),
        "causation_id": Uuid::nil(), "actor": "bench", "tenant": "default",
    })
    .to_string();
    match raw {
        Raw::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            for i in 0..count {
                sqlx::query(
                    "INSERT INTO herald_events (event_id, tenant, stream_type, stream_id, version, route, name, \
                     schema_version, payload, metadata, recorded_at) VALUES (?, 'default', 'meter', ?, 1, ?, 'Read', 1, ?, ?, 0)",
                )
                .bind(Uuid::now_v7())
                .bind(i.to_string())
                .bind(format!("meter.{i}.read"))
                .bind(format!(r#"{{"id":{i},"n":{i}}}"#))
                .bind(&metadata)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
        Raw::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            for chunk in (0..count).collect::<Vec<_>>().chunks(5_000) {
                let ids: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
                sqlx::query(
                    "INSERT INTO herald_events (tx_order, event_id, tenant, stream_type, stream_id, version, route, name, \
                     schema_version, payload, metadata) \
                     SELECT pg_current_xact_id()::text::bigint, gen_random_uuid(), 'default', 'meter', i::text, 1, \
                     'meter.' || i || '.read', 'Read', 1, jsonb_build_object('id', i, 'n', i), $2::jsonb \
                     FROM UNNEST($1::bigint[]) AS i",
                )
                .bind(&ids)
                .bind(&metadata)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
}

/// The hand-written consumer: batches after its checkpoint, a row per event, the
/// checkpoint with them, until it has read `count` events.
async fn by_hand(raw: &Raw, count: u64) {
    #[derive(serde::Deserialize)]
    struct Payload {
        id: u64,
        n: i64,
    }
    let insert = "INSERT INTO raw_readings (id, n) VALUES ($1, $2)";
    let checkpoint = "INSERT INTO raw_checkpoint (consumer, tx_order, position) VALUES ('raw', $1, $2) \
                      ON CONFLICT (consumer) DO UPDATE SET tx_order = excluded.tx_order, position = excluded.position";
    let (mut tx_order, mut position, mut done) = (0i64, 0i64, 0u64);
    while done < count {
        match raw {
            Raw::Sqlite(pool) => {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT position, payload FROM herald_events WHERE position > ? ORDER BY position LIMIT ?",
                )
                .bind(position)
                .bind(BATCH as i64)
                .fetch_all(pool)
                .await
                .unwrap();
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                for (at, payload) in &rows {
                    let p: Payload = serde_json::from_str(payload).unwrap();
                    sqlx::query(insert)
                        .bind(p.id as i64)
                        .bind(p.n)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    position = *at;
                }
                sqlx::query(checkpoint)
                    .bind(0i64)
                    .bind(position)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                done += rows.len() as u64;
            }
            Raw::Postgres(pool) => {
                let rows: Vec<(i64, i64, sqlx::types::Json<Payload>)> = sqlx::query_as(
                    "SELECT tx_order, position, payload FROM herald_events WHERE (tx_order, position) > ($1, $2) \
                     AND tx_order < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
                     ORDER BY tx_order, position LIMIT $3",
                )
                .bind(tx_order)
                .bind(position)
                .bind(BATCH as i64)
                .fetch_all(pool)
                .await
                .unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(
                    "SELECT position FROM raw_checkpoint WHERE consumer = 'raw' FOR UPDATE",
                )
                .execute(&mut *tx)
                .await
                .unwrap();
                for (t, at, payload) in &rows {
                    sqlx::query(insert)
                        .bind(payload.id as i64)
                        .bind(payload.n)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    (tx_order, position) = (*t, *at);
                }
                sqlx::query(checkpoint)
                    .bind(tx_order)
                    .bind(position)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                done += rows.len() as u64;
            }
        }
    }
}

/// Where Herald's consumer is: the oldest of the checkpoints named.
async fn checkpoint(herald: &Herald, keys: &[&str]) -> Position {
    let all = herald.store().consumers().checkpoints().await.unwrap();
    let at = |key: &str| {
        all.iter()
            .find(|c| c.consumer == key)
            .map_or(Position::START, |c| c.position)
    };
    keys.iter()
        .map(|key| at(key))
        .min()
        .unwrap_or(Position::START)
}

/// Events per second of a runtime of `modules` whose consumers' checkpoints `keys` catch
/// up to `last` from the start.
async fn catch_up(
    db: &common::Db,
    modules: [&str; 2],
    keys: &[&str],
    count: u64,
    last: Position,
) -> f64 {
    let started = Instant::now();
    let herald = Herald::builder()
        .modules(modules)
        .store(db.store.clone())
        .consumer_batch(BATCH)
        .build()
        .await
        .unwrap();
    while checkpoint(&herald, keys).await < last {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    herald.shutdown().await;
    rate
}

/// A new database with the tables, seeded with `count` readings; the last position.
async fn seeded(backend: Backend, count: u64) -> (common::Db, Position) {
    let db = open(backend).await;
    for table in TABLES {
        match &db.raw {
            Raw::Sqlite(pool) => drop(sqlx::query(table).execute(pool).await.unwrap()),
            Raw::Postgres(pool) => drop(sqlx::query(table).execute(pool).await.unwrap()),
        }
    }
    seed(&db.raw, count).await;
    let last = db
        .store
        .read_all(Position::START, usize::MAX)
        .await
        .unwrap()
        .last()
        .unwrap()
        .position;
    (db, last)
}

async fn catch_up_row(backend: Backend, name: &str, count: u64) {
    let (db, last) = seeded(backend, count).await;
    let started = Instant::now();
    by_hand(&db.raw, count).await;
    let theirs = count as f64 / started.elapsed().as_secs_f64();
    let ours = catch_up(&db, MODULES, &["readings"], count, last).await;
    println!(
        "| {name} | {count} | {ours:>8.0} | {theirs:>8.0} | {:.2}x |",
        ours / theirs
    );
    db.remove().await;
}

/// The projector split four ways, its partitions all run by one runtime, against it whole,
/// on the same events.
async fn split_row(backend: Backend, name: &str, count: u64) {
    let (db, last) = seeded(backend, count).await;
    let whole = catch_up(&db, MODULES, &["readings"], count, last).await;
    let keys = [
        "split_readings#0/4",
        "split_readings#1/4",
        "split_readings#2/4",
        "split_readings#3/4",
    ];
    let split = catch_up(&db, SPLIT_MODULES, &keys, count, last).await;
    println!(
        "| {name} | {count} | {split:>8.0} | {whole:>8.0} | {:.2}x |",
        split / whole
    );
    db.remove().await;
}

async fn latency_row(backend: Backend, name: &str, samples: usize) {
    let db = open(backend).await;
    match &db.raw {
        Raw::Sqlite(pool) => drop(sqlx::query(TABLES[0]).execute(pool).await.unwrap()),
        Raw::Postgres(pool) => drop(sqlx::query(TABLES[0]).execute(pool).await.unwrap()),
    }
    let herald = Herald::builder()
        .modules(MODULES)
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let mut waits = Vec::with_capacity(samples);
    for i in 0..samples {
        let done = herald
            .dispatch(TakeReading { id: i as u64, n: 1 })
            .await
            .unwrap();
        let committed = Instant::now();
        herald
            .consumers()
            .wait_for(done.events(), ["readings"], Duration::from_secs(10))
            .await
            .unwrap();
        waits.push(committed.elapsed());
    }
    waits.sort();
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize];
    println!(
        "| {name} | {samples} | {:.2} ms | {:.2} ms |",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    herald.shutdown().await;
    drop(herald);
    db.remove().await;
}

/// The same latency across processes: the command dispatched by one runtime, the
/// projector run by another on a store of its own (its own pool, opened on the same
/// PostgreSQL schema), which only a notice from the writer's process can wake at once.
async fn elsewhere_latency_row(samples: usize) {
    let db = open(Backend::Postgres).await;
    let Raw::Postgres(pool) = &db.raw else {
        unreachable!("a PostgreSQL database")
    };
    sqlx::query(TABLES[0]).execute(pool).await.unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&common::database_url())
        .unwrap()
        .options([("search_path", db.scratch.as_str())]);
    let elsewhere = herald::store::PostgresStore::connect_with(options)
        .await
        .unwrap();
    let projecting = Herald::builder()
        .modules(MODULES)
        .store(elsewhere)
        .build()
        .await
        .unwrap();
    let writing = Herald::builder()
        .modules(MODULES)
        .store(db.store.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let mut waits = Vec::with_capacity(samples);
    for i in 0..samples {
        let done = writing
            .dispatch(TakeReading { id: i as u64, n: 1 })
            .await
            .unwrap();
        let committed = Instant::now();
        projecting
            .consumers()
            .wait_for(done.events(), ["readings"], Duration::from_secs(10))
            .await
            .unwrap();
        waits.push(committed.elapsed());
    }
    waits.sort();
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize];
    println!(
        "| PostgreSQL, another process's runtime | {samples} | {:.2} ms | {:.2} ms |",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    projecting.shutdown().await;
    drop((projecting, writing));
    db.remove().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `-- catch-up`, `-- latency` or `-- split` runs those tables only.
    let tables = ["catch-up", "latency", "split"];
    let only = |table: &str| {
        !args.iter().any(|a| tables.contains(&a.as_str())) || args.iter().any(|a| a == table)
    };
    let (count, samples) = if quick { (10_000, 50) } else { (100_000, 300) };
    if only("catch-up") {
        println!(
            "Catching up: events per second, one eventual projector (a row per event), batches of {BATCH}\n"
        );
        println!("| store | events | Herald | by hand | Herald / by hand |");
        println!("|---|---:|---:|---:|---:|");
        catch_up_row(Backend::Sqlite, "SQLite", count).await;
        catch_up_row(Backend::Postgres, "PostgreSQL", count).await;
    }
    if only("latency") {
        println!("\nFrom a command's commit to its eventual projection being readable\n");
        println!("| store | commands | p50 | p99 |");
        println!("|---|---:|---:|---:|");
        latency_row(Backend::Sqlite, "SQLite", samples).await;
        latency_row(Backend::Postgres, "PostgreSQL", samples).await;
        elsewhere_latency_row(samples).await;
    }
    if only("split") {
        println!("\nCatching up, split four ways in one runtime: events per second\n");
        println!("| store | events | split (4 partitions) | whole | split / whole |");
        println!("|---|---:|---:|---:|---:|");
        split_row(Backend::Sqlite, "SQLite", count).await;
        split_row(Backend::Postgres, "PostgreSQL", count).await;
    }
}
