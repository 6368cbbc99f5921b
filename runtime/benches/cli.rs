//! `herald consumers list` on a store of a million events: the standalone binary run as
//! an operator runs it (a new process, the store opened by URL), timed from spawn to
//! exit, with consumers at the start (a million behind: estimated), 5,000 behind (counted)
//! and at the head. The events are written with SQL, not dispatched. Beside it, what the
//! unbounded `COUNT(*)` that listing used to run costs for the consumer at the start.
//! On SQLite (a file) and PostgreSQL (a schema of `DATABASE_URL`).
//!
//! Run: `cargo bench -p herald --features cli --bench cli` (not run in CI).

use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use herald::Uuid;
use herald::store::{PostgresStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;

const EVENTS: i64 = 1_000_000;
const STREAMS: i64 = 1_000;
const RUNS: usize = 5;
const METADATA: &str = r#"{"actor":"bench","causation_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","command_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","correlation_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","event_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","tenant":"default"}"#;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::main]
async fn main() {
    sqlite().await;
    postgres().await;
}

async fn sqlite() {
    let path =
        std::env::temp_dir().join(format!("herald-bench-cli-{}.db", Uuid::now_v7().simple()));
    let store = SqliteStore::open(&path).await.unwrap();
    let pool = store.pool().clone();
    let seeding = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO herald_events (event_id, tenant, stream_type, stream_id, version, route, name, \
         schema_version, payload, metadata, recorded_at) \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         SELECT randomblob(16), 'default', 'meter', CAST(i % {STREAMS} AS TEXT), i / {STREAMS} + 1, \
         'meter.' || (i % {STREAMS}) || '.read', 'Read', 1, '{{\"n\":' || i || '}}', '{METADATA}', \
         CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) - ({EVENTS} - i) * 1000 FROM n",
        last = EVENTS - 1
    )))
    .execute(&pool)
    .await
    .unwrap();
    for (consumer, behind) in [("far", EVENTS), ("near", 5_000), ("done", 0)] {
        sqlx::query(
            "INSERT INTO herald_checkpoints (consumer, tx_order, position, updated_at) \
             VALUES ($1, 0, $2, 0)",
        )
        .bind(consumer)
        .bind(EVENTS - behind)
        .execute(&pool)
        .await
        .unwrap();
    }
    let seeded = seeding.elapsed();
    let counting = Instant::now();
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM herald_events WHERE position > 0")
        .fetch_one(&pool)
        .await
        .unwrap();
    let count = counting.elapsed();
    pool.close().await;
    drop(store);
    report(
        "SQLite",
        &format!("sqlite://{}", path.display()),
        seeded,
        count,
    );
    let file = path.display().to_string();
    let sagas = file.replace(".db", ".sagas.db");
    for file in [&file, &sagas] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{file}{suffix}"));
        }
    }
}

async fn postgres() {
    let url = database_url();
    let schema = format!("herald_bench_cli_{}", Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(options).await.unwrap();
    let pool = store.pool().clone();
    let seeding = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO herald_events (tx_order, event_id, tenant, stream_type, stream_id, version, route, \
         name, schema_version, payload, metadata, recorded_at) \
         SELECT 1, gen_random_uuid(), 'default', 'meter', (i % {STREAMS})::text, i / {STREAMS} + 1, \
         'meter.' || (i % {STREAMS}) || '.read', 'Read', 1, jsonb_build_object('n', i), '{METADATA}'::jsonb, \
         now() - make_interval(secs => ({EVENTS} - i) / 1000.0) \
         FROM generate_series(0, {last}) AS i",
        last = EVENTS - 1
    )))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE herald_events")
        .execute(&pool)
        .await
        .unwrap();
    let head: i64 = sqlx::query_scalar("SELECT MAX(position) FROM herald_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (consumer, behind) in [("far", EVENTS), ("near", 5_000), ("done", 0)] {
        sqlx::query(
            "INSERT INTO herald_checkpoints (consumer, tx_order, position, updated_at) \
             VALUES ($1, 1, $2, now())",
        )
        .bind(consumer)
        .bind(head - behind)
        .execute(&pool)
        .await
        .unwrap();
    }
    let seeded = seeding.elapsed();
    let counting = Instant::now();
    let _: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM herald_events WHERE (tx_order, position) > (1, $1)",
    )
    .bind(head - EVENTS)
    .fetch_one(&pool)
    .await
    .unwrap();
    let count = counting.elapsed();
    pool.close().await;
    drop(store);
    let join = if url.contains('?') { '&' } else { '?' };
    report(
        "PostgreSQL",
        &format!("{url}{join}options[search_path]={schema}"),
        seeded,
        count,
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
}

/// Runs `herald consumers list` on `url` [`RUNS`] times, checks what it says, prints
/// the times.
fn report(backend: &str, url: &str, seeded: Duration, count: Duration) {
    let mut times = Vec::new();
    let mut listed = String::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--url", url, "--json", "consumers", "list"])
            .output()
            .unwrap();
        times.push(started.elapsed());
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        listed = String::from_utf8(output.stdout).unwrap();
    }
    let rows: herald::json::Value = herald::json::from_str(&listed).unwrap();
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["consumer"] == name)
            .unwrap()
            .clone()
    };
    let (far, near, done) = (row("far"), row("near"), row("done"));
    assert_eq!(far["lag_exact"], false, "{far}");
    assert!(far["lag"].as_u64().unwrap() >= 999_000, "{far}");
    assert_eq!(
        (near["lag"].as_u64(), near["lag_exact"].as_bool()),
        (Some(5_000), Some(true))
    );
    assert_eq!(done["lag"].as_u64(), Some(0));
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{backend}: {EVENTS} events seeded in {:.1} s; `herald consumers list` (3 consumers, \
         a process each run): median {:.0} ms, min {:.0} ms, max {:.0} ms over {RUNS} runs; \
         far: lag ~{} (lag time {:.0} s), near: {} exact; \
         the unbounded COUNT(*) for `far` alone: {:.0} ms",
        seeded.as_secs_f64(),
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1]),
        far["lag"],
        far["lag_seconds"].as_f64().unwrap(),
        near["lag"],
        ms(count),
    );
}
