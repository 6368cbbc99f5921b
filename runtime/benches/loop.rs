//! The whole broadcast loop against the same work written by hand: a command with three
//! before hooks, one saga step (a no-op, logged before and after, settled after the
//! commit), two strong projectors (a row each) and one processor (a nested command on a
//! second aggregate), against hand-written sqlx doing the same writes in one transaction
//! (the stream versions read, the two events and two rows inserted) plus the same saga-log
//! writes outside it. One writer, SQLite (a file, `synchronous=FULL`) and PostgreSQL.
//!
//! Run: `cargo bench -p herald --features postgres --bench loop`

use std::str::FromStr;
use std::time::Duration;

use herald::prelude::*;
use herald::store::Sql;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::types::Json;

mod common;
use common::{Backend, Raw, open};
mod measure;
use measure::{median, throughput};

#[event("order.:id.placed")]
struct Placed {
    id: u64,
    n: u64,
}

#[command("place.order.:id")]
struct Place {
    id: u64,
    n: u64,
}

#[aggregate(name = "order")]
#[derive(Default)]
struct Order;

#[aggregate]
impl Order {
    #[handle]
    fn place(&self, cmd: &Place) -> Result<Placed, std::convert::Infallible> {
        Ok(Placed {
            id: cmd.id,
            n: cmd.n,
        })
    }

    #[apply]
    fn placed(&mut self, _: &Placed) {}
}

#[event("invoice.:id.issued")]
struct Issued {
    id: u64,
    n: u64,
}

#[command("issue.invoice.:id")]
struct Issue {
    id: u64,
    n: u64,
}

#[aggregate(name = "invoice")]
#[derive(Default)]
struct Invoice;

#[aggregate]
impl Invoice {
    #[handle]
    fn issue(&self, cmd: &Issue) -> Result<Issued, std::convert::Infallible> {
        Ok(Issued {
            id: cmd.id,
            n: cmd.n,
        })
    }

    #[apply]
    fn issued(&mut self, _: &Issued) {}
}

#[hook(before, "place.order.:id", priority = 1)]
async fn has_id(cmd: &mut Place, _cx: &mut Cx<'_>) -> Result<(), String> {
    (cmd.id < u64::MAX)
        .then_some(())
        .ok_or_else(|| "no id".into())
}

#[hook(before, "place.*", priority = 2)]
async fn has_n(cmd: &mut Place, _cx: &mut Cx<'_>) -> Result<(), String> {
    (cmd.n < u64::MAX)
        .then_some(())
        .ok_or_else(|| "no n".into())
}

#[hook(before, "place.order.:id", priority = 3)]
async fn actor_known(_cmd: &mut Place, cx: &mut Cx<'_>) -> Result<(), String> {
    (!cx.actor().id().is_empty())
        .then_some(())
        .ok_or_else(|| "no actor".into())
}

#[saga_step("place.order.:id", reverse = nothing_to_undo)]
async fn notify_partner(_cmd: &Place, _cx: &SagaCx<'_>) -> Result<(), String> {
    Ok(())
}

async fn nothing_to_undo(_cmd: &Place, _out: Option<()>, _cx: &SagaCx<'_>) {}

/// One row into `table`, on whichever store it is.
async fn row(cx: &mut Cx<'_>, table: &str, id: u64, n: u64) -> Result<(), herald::BoxError> {
    let (id, n) = (id as i64, n as i64);
    let insert = format!("INSERT INTO {table} (id, n) VALUES ($1, $2)");
    match cx.sql() {
        Sql::Sqlite(conn) => {
            let query = sqlx::query(sqlx::AssertSqlSafe(insert));
            query.bind(id).bind(n).execute(conn).await?;
        }
        Sql::Postgres(conn) => {
            let query = sqlx::query(sqlx::AssertSqlSafe(insert));
            query.bind(id).bind(n).execute(conn).await?;
        }
        _ => {}
    }
    Ok(())
}

#[projector("order.:id.placed")]
async fn order_rows(e: &Recorded<Placed>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    row(cx, "order_rows", e.id, e.n).await
}

#[projector("order.:id.placed", priority = 1)]
async fn order_totals(e: &Recorded<Placed>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    row(cx, "order_totals", e.id, e.n).await
}

#[processor("order.:id.placed", priority = 2)]
async fn invoice(e: &Recorded<Placed>, _cx: &mut Cx<'_>) -> Result<Issue, String> {
    Ok(Issue { id: e.id, n: e.n })
}

const TABLES: [&str; 3] = [
    "CREATE TABLE order_rows (id BIGINT NOT NULL, n BIGINT NOT NULL)",
    "CREATE TABLE order_totals (id BIGINT NOT NULL, n BIGINT NOT NULL)",
    "CREATE TABLE raw_saga (command_id TEXT NOT NULL, step BIGINT NOT NULL, status TEXT NOT NULL, output TEXT, PRIMARY KEY (command_id, step))",
];

/// The hand-written side: where its saga log goes, and its event tables.
#[derive(Clone)]
struct Hand {
    raw: Raw,
    /// SQLite: the saga log in a file of its own, as Herald keeps it.
    sagas: Option<SqlitePool>,
}

/// One command by hand: the saga log's two rows, one transaction with the two streams'
/// versions read, two events and two rows inserted, then the saga settled.
async fn by_hand(hand: &Hand, id: u64, n: u64) {
    let command_id = Uuid::now_v7().to_string();
    let (stream, n_i) = (id.to_string(), n as i64);
    let payload = serde_json::json!({ "id": id, "n": n });
    let metadata = serde_json::json!({ "event_id": Uuid::now_v7(), "command_id": command_id });
    macro_rules! saga_log {
        ($pool:expr) => {{
            sqlx::query("INSERT INTO raw_saga (command_id, step, status) VALUES ($1, 0, 'started')")
                .bind(&command_id).execute($pool).await.unwrap();
            sqlx::query("UPDATE raw_saga SET status = 'completed', output = 'null' WHERE command_id = $1 AND step = 0")
                .bind(&command_id).execute($pool).await.unwrap();
        }};
    }
    macro_rules! event {
        ($tx:expr, $stream_type:literal, $route:expr) => {{
            let version: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM raw_events WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
            )
            .bind("default").bind($stream_type).bind(&stream)
            .fetch_one(&mut *$tx).await.unwrap();
            // recorded_at: an integer on SQLite, the database's clock on PostgreSQL.
            sqlx::query(
                "INSERT INTO raw_events (event_id, tenant, stream_type, stream_id, version, route, name, schema_version, payload, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9)",
            )
            .bind(Uuid::now_v7()).bind("default").bind($stream_type).bind(&stream).bind(version + 1)
            .bind($route).bind($stream_type).bind(Json(&payload)).bind(Json(&metadata))
            .execute(&mut *$tx).await.unwrap();
        }};
    }
    macro_rules! rows {
        ($tx:expr) => {{
            for table in ["order_rows", "order_totals"] {
                let insert = format!("INSERT INTO {table} (id, n) VALUES ($1, $2)");
                sqlx::query(sqlx::AssertSqlSafe(insert))
                    .bind(id as i64)
                    .bind(n_i)
                    .execute(&mut *$tx)
                    .await
                    .unwrap();
            }
        }};
    }
    let settle = "UPDATE raw_saga SET status = 'done' WHERE command_id = $1";
    match &hand.raw {
        Raw::Sqlite(pool) => {
            let sagas = hand.sagas.as_ref().expect("a saga file");
            saga_log!(sagas);
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            event!(tx, "order", format!("order.{id}.placed"));
            rows!(tx);
            event!(tx, "invoice", format!("invoice.{id}.issued"));
            tx.commit().await.unwrap();
            sqlx::query(settle)
                .bind(&command_id)
                .execute(sagas)
                .await
                .unwrap();
        }
        Raw::Postgres(pool) => {
            saga_log!(pool);
            let mut tx = pool.begin().await.unwrap();
            event!(tx, "order", format!("order.{id}.placed"));
            rows!(tx);
            event!(tx, "invoice", format!("invoice.{id}.issued"));
            tx.commit().await.unwrap();
            sqlx::query(settle)
                .bind(&command_id)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

async fn loop_row(backend: Backend, name: &str, window: Duration, rounds: usize) {
    let db = open(backend).await;
    let sagas = match &db.raw {
        Raw::Sqlite(pool) => {
            for table in TABLES {
                sqlx::query(table).execute(pool).await.unwrap();
            }
            let path = db.scratch.replace(".db", ".rawsagas.db");
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
                .unwrap()
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            let sagas = SqlitePool::connect_with(options).await.unwrap();
            sqlx::query(TABLES[2]).execute(&sagas).await.unwrap();
            Some(sagas)
        }
        Raw::Postgres(pool) => {
            for table in TABLES {
                sqlx::query(table).execute(pool).await.unwrap();
            }
            None
        }
    };
    let hand = Hand {
        raw: db.raw.clone(),
        sagas: sagas.clone(),
    };
    let herald = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let id = round as u64;
        let h = herald.clone();
        ours.push(
            throughput(1, window, move |_, n| {
                let h = h.clone();
                async move {
                    h.dispatch(Place { id, n }).await.unwrap();
                }
            })
            .await,
        );
        let hand = hand.clone();
        theirs.push(
            throughput(1, window, move |_, n| {
                let hand = hand.clone();
                async move { by_hand(&hand, 1_000 + id, n).await }
            })
            .await,
        );
    }
    drop(herald);
    if let Some(sagas) = sagas {
        sagas.close().await;
    }
    db.remove().await;
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "| {name} | {ours:>8.0} | {theirs:>8.0} | {:.2}x |",
        ours / theirs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (window, rounds) = if quick {
        (Duration::from_millis(500), 1)
    } else {
        (Duration::from_secs(2), 3)
    };
    println!(
        "The loop: 3 hooks, 1 saga step, 2 projectors, 1 processor; commands per second, 1 writer"
    );
    println!("(median of {rounds} interleaved rounds of {window:?} each)\n");
    println!("| store | Herald | by hand | Herald / by hand |");
    println!("|---|---:|---:|---:|");
    loop_row(Backend::Sqlite, "SQLite", window, rounds).await;
    loop_row(Backend::Postgres, "PostgreSQL", window, rounds).await;
}
