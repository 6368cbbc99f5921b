//! Restoring a read model from a snapshot and catching up, against rebuilding it from
//! every event, on the same data in the same run: 100,000 events over 1,000 tills (its
//! table: 1,000 rows), the snapshot taken after the first 90,000, then 10,000 more. The
//! restore runs from a runtime without workers (as the operator's binary does); the
//! catch-up is a runtime's worker taking the 10,000 events after the snapshot's
//! checkpoint; the rebuild fills a copy of the table from all 100,000 and swaps it in.
//! The events are written with SQL, not dispatched. On SQLite (a file) and PostgreSQL.
//!
//! Run: `cargo bench -p herald --features postgres --bench snapshots` (`-- --quick` for
//! 10,000 events).

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::Herald;
use herald::store::EventStore;

mod common;
use common::{Backend, Raw, open};

mod till {
    use herald::prelude::*;

    #[event("till.:till_id.paid")]
    pub(crate) struct Paid {
        pub(crate) till_id: u64,
        pub(crate) amount: u64,
    }

    #[projector("till.:till_id.paid", consistency = eventual, tables = ["till_totals"])]
    async fn till_totals(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        let table = cx.table("till_totals");
        let upsert = format!(
            "INSERT INTO {table} (till_id, total, payments) VALUES ($1, $2, 1) \
             ON CONFLICT (till_id) DO UPDATE SET total = {table}.total + $2, payments = {table}.payments + 1"
        );
        herald::sql!(cx.sql(), |conn| {
            sqlx::query(sqlx::AssertSqlSafe(upsert.as_str()))
                .bind(e.till_id as i64)
                .bind(e.amount as i64)
                .execute(conn)
                .await
                .map(|done| done.rows_affected())
        })
        .transpose()?;
        Ok(())
    }
}

const TILLS: i64 = 1_000;
const METADATA: &str = r#"{"actor":"bench","causation_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","command_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","correlation_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","event_id":"01a2390b-51ea-77f9-a35f-e0ecea6a6965","tenant":"default"}"#;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let events: i64 = if quick { 10_000 } else { 100_000 };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        run(backend, events).await;
    }
}

/// Writes the events `from..to` (global indexes) with SQL, as one transaction, `phase`
/// ordering them after the earlier ones on PostgreSQL.
async fn seed(raw: &Raw, from: i64, to: i64, phase: i64) {
    let last = to - 1;
    match raw {
        Raw::Sqlite(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO herald_events (event_id, tenant, stream_type, stream_id, version, route, name, \
                 schema_version, payload, metadata, recorded_at) \
                 WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
                 SELECT randomblob(16), 'default', 'till', CAST(i % {TILLS} AS TEXT), i / {TILLS} + 1, \
                 'till.' || (i % {TILLS}) || '.paid', 'Paid', 1, \
                 '{{\"till_id\":' || (i % {TILLS}) || ',\"amount\":' || (i % 100 + 1) || '}}', '{METADATA}', \
                 CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) FROM n"
            )))
            .execute(pool)
            .await
            .unwrap();
        }
        Raw::Postgres(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO herald_events (tx_order, event_id, tenant, stream_type, stream_id, version, route, \
                 name, schema_version, payload, metadata, recorded_at) \
                 SELECT {phase}, gen_random_uuid(), 'default', 'till', (i % {TILLS})::text, i / {TILLS} + 1, \
                 'till.' || (i % {TILLS}) || '.paid', 'Paid', 1, \
                 jsonb_build_object('till_id', i % {TILLS}, 'amount', i % 100 + 1), '{METADATA}'::jsonb, now() \
                 FROM generate_series({from}, {last}) AS i"
            )))
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

fn builder(store: &Arc<dyn EventStore>) -> herald::HeraldBuilder {
    Herald::builder()
        .modules(["snapshots::till"])
        .store(store.clone())
        .consumer_poll(Duration::from_millis(20))
}

/// Waits until `herald`'s projector has nothing left to read.
async fn caught_up(herald: &Herald) {
    loop {
        let listed = herald.consumers().list().await.unwrap();
        if listed.iter().all(|c| c.lag == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn totals(herald: &Herald) -> Vec<(i64, i64)> {
    let mut reader = herald.reader().await.unwrap();
    herald::sql!(reader.sql(), |conn| {
        sqlx::query_as::<_, (i64, i64)>("SELECT till_id, total FROM till_totals ORDER BY till_id")
            .fetch_all(conn)
            .await
    })
    .unwrap()
    .unwrap()
}

async fn run(backend: Backend, events: i64) {
    let db = open(backend).await;
    let store = db.store.clone();
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let snapshot_at = events / 10 * 9;
    let path =
        std::env::temp_dir().join(format!("herald-bench-{}.snapshot", herald::Uuid::now_v7()));

    // The projection of the first 90%, and its snapshot.
    seed(&db.raw, 0, snapshot_at, 1).await;
    let live = builder(&store).build().await.unwrap();
    let mut tx = live.begin().await.unwrap();
    herald::sql!(tx.sql(), |conn| {
        sqlx::query(
            "CREATE TABLE till_totals (till_id BIGINT PRIMARY KEY, total BIGINT NOT NULL, payments BIGINT NOT NULL)",
        )
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
    })
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    caught_up(&live).await;
    let taking = Instant::now();
    let taken = live
        .consumers()
        .snapshot("till_totals", &path)
        .await
        .unwrap();
    let took = taking.elapsed();
    live.shutdown().await;
    drop(live);
    seed(&db.raw, snapshot_at, events, 2).await;

    // Restore, then catch up the last 10%.
    let restoring = Instant::now();
    let operator = builder(&store).run_consumers(false).build().await.unwrap();
    operator
        .consumers()
        .restore("till_totals", &path)
        .await
        .unwrap();
    let restored = restoring.elapsed();
    let again = builder(&store).build().await.unwrap();
    caught_up(&again).await;
    let restore_and_catch_up = restoring.elapsed();
    let after_restore = totals(&again).await;

    // A rebuild of everything, on the same data.
    let rebuilding = Instant::now();
    let rebuilt = again.consumers().rebuild("till_totals").await.unwrap();
    let rebuild = rebuilding.elapsed();
    assert_eq!(rebuilt.handled as i64, events);
    assert_eq!(
        totals(&again).await,
        after_restore,
        "restore + catch-up = rebuild"
    );
    again.shutdown().await;
    operator.shutdown().await;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name}: {events} events, {} rows; snapshot after {snapshot_at} events: {:.0} ms, {} bytes; \
         restore {:.0} ms + catch-up of {} events = {:.0} ms; rebuild from every event {:.0} ms; \
         rebuild / (restore + catch-up) = {:.1}x",
        taken.rows(),
        ms(took),
        taken.bytes,
        ms(restored),
        events - snapshot_at,
        ms(restore_and_catch_up),
        ms(rebuild),
        rebuild.as_secs_f64() / restore_and_catch_up.as_secs_f64(),
    );
    let _ = std::fs::remove_file(&path);
    drop(store);
    db.remove().await;
}
