//! The peers' side of the peer benchmark: the bank account of Herald's `peers` bench
//! (`runtime/benches/peers.rs`) written for cqrs-es 0.5 (with postgres-es, or its
//! in-memory `MemStore`) and for esrs 0.18 (Prima's, PostgreSQL only), each the way its
//! documentation shows: a `Deposit { amount }` command that a zero amount is refused by
//! and that otherwise makes one `Deposited` event. One run is one framework, one store
//! and one number of writers, in a fresh schema that it drops afterwards; it prints one
//! JSON line (`window.rs`, shared with Herald's side). `peers/run` interleaves the runs.
//!
//! Run: `cargo run --release -- --framework cqrs-es|esrs --store postgres|memory --writers 8`

use std::str::FromStr;
use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::mem_store::MemStore;
use cqrs_es::{CqrsFramework, DomainEvent, EventStore};
use esrs::AggregateState;
use esrs::manager::AggregateManager;
use esrs::store::postgres::{PgStore, PgStoreBuilder};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use uuid::Uuid;

mod window;
use window::Args;

/// The same pool size as Herald's `PostgresStore` (`PgPoolOptions::max_connections(16)`).
const POOL_SIZE: u32 = 16;

#[derive(Debug, thiserror::Error)]
#[error("deposits must be positive")]
struct ZeroDeposit;

// cqrs-es: the aggregate is the state, `handle` writes events to a sink.

#[derive(Clone, Default, Serialize, Deserialize)]
struct Account {
    balance: u64,
}

enum AccountCommand {
    Deposit { amount: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Deposited { amount: u64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::Deposited { .. } => "Deposited".into(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".into()
    }
}

impl cqrs_es::Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = ZeroDeposit;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccountCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ZeroDeposit> {
        match command {
            AccountCommand::Deposit { amount } => {
                if amount == 0 {
                    return Err(ZeroDeposit);
                }
                sink.write(AccountEvent::Deposited { amount }, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::Deposited { amount } => self.balance += amount,
        }
    }
}

// esrs: the aggregate is a marker type over a state, `handle_command` returns events.

struct EsrsAccount;

#[derive(Default)]
struct EsrsAccountState {
    balance: u64,
}

impl esrs::Aggregate for EsrsAccount {
    const NAME: &'static str = "account";
    type State = EsrsAccountState;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = ZeroDeposit;

    fn handle_command(
        _: &EsrsAccountState,
        command: AccountCommand,
    ) -> Result<Vec<AccountEvent>, ZeroDeposit> {
        match command {
            AccountCommand::Deposit { amount: 0 } => Err(ZeroDeposit),
            AccountCommand::Deposit { amount } => Ok(vec![AccountEvent::Deposited { amount }]),
        }
    }

    fn apply_event(state: EsrsAccountState, event: AccountEvent) -> EsrsAccountState {
        match event {
            AccountEvent::Deposited { amount } => EsrsAccountState {
                balance: state.balance + amount,
            },
        }
    }
}

/// A fresh schema on the benchmark's database and a pool whose connections use it, of
/// Herald's pool size, without TLS (Herald's sqlx has no TLS; the peers' would take it).
async fn scratch(url: &str, framework: &str) -> (PgPool, String) {
    let schema = format!(
        "peers_{}_{}",
        framework.replace('-', "_"),
        Uuid::now_v7().simple()
    );
    let options = PgConnectOptions::from_str(url)
        .expect("a postgres:// URL")
        .ssl_mode(PgSslMode::Disable);
    let admin = PgPool::connect_with(options.clone())
        .await
        .expect("the database");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .expect("the database");
    (pool, schema)
}

async fn drop_schema(pool: PgPool, schema: &str) {
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn count(pool: &PgPool, table: &str) -> u64 {
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap();
    n as u64
}

/// postgres-es's tables, as its `db/init.sql` makes them.
const POSTGRES_ES_TABLES: [&str; 2] = [
    "CREATE TABLE events (aggregate_type text NOT NULL, aggregate_id text NOT NULL, \
     sequence bigint CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL, \
     event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL, \
     PRIMARY KEY (aggregate_type, aggregate_id, sequence))",
    "CREATE TABLE snapshots (aggregate_type text NOT NULL, aggregate_id text NOT NULL, \
     last_sequence bigint CHECK (last_sequence >= 0) NOT NULL, \
     current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL, payload json NOT NULL, \
     PRIMARY KEY (aggregate_type, aggregate_id, last_sequence))",
];

/// cqrs-es's id of an account: text.
fn cqrs_id(args: &Args, writer: usize, n: u64) -> String {
    let (writer, index) = args.account(writer, n);
    format!("{writer}-{index}")
}

async fn cqrs_es<ES>(args: Arc<Args>, cqrs: CqrsFramework<Account, ES>) -> u64
where
    ES: EventStore<Account> + 'static,
    ES::AC: Send,
{
    let cqrs = Arc::new(cqrs);
    args.clone()
        .measure(move |writer, n| {
            let (cqrs, args) = (cqrs.clone(), args.clone());
            async move {
                let amount = args.amount(n);
                cqrs.execute(
                    &cqrs_id(&args, writer, n),
                    AccountCommand::Deposit { amount },
                )
                .await
                .expect("cqrs-es executes the deposit");
            }
        })
        .await
}

/// Events MemStore holds for the accounts the run wrote (each writer's, from index 0 on
/// until one is empty).
async fn mem_store_events(args: &Args, store: &MemStore<Account>) -> u64 {
    let mut total = 0;
    for writer in 0..args.writers {
        for index in 0.. {
            let id = format!("{writer}-{index}");
            let events = store.load_events(&id).await.unwrap().len();
            if events == 0 {
                break;
            }
            total += events as u64;
        }
    }
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args = Arc::new(Args::parse());
    let (framework, store) = (args.framework.clone(), args.store.clone());
    let (ran, stored) = match (framework.as_str(), store.as_str()) {
        ("cqrs-es", "memory") => {
            // MemStore prints two lines a command to standard output; `peers/run` sends
            // it to /dev/null and the result line to `--out`.
            let store = MemStore::<Account>::default();
            let ran = cqrs_es(args.clone(), CqrsFramework::new(store.clone(), vec![], ())).await;
            (ran, mem_store_events(&args, &store).await)
        }
        ("cqrs-es", "postgres") => {
            let (pool, schema) = scratch(&args.url, &framework).await;
            for table in POSTGRES_ES_TABLES {
                sqlx::query(table).execute(&pool).await.unwrap();
            }
            let cqrs = postgres_es::postgres_cqrs(pool.clone(), vec![], ());
            let ran = cqrs_es(args.clone(), cqrs).await;
            let stored = count(&pool, "events").await;
            drop_schema(pool, &schema).await;
            (ran, stored)
        }
        ("esrs", "postgres") => {
            let (pool, schema) = scratch(&args.url, &framework).await;
            let store: PgStore<EsrsAccount> = PgStoreBuilder::new(pool.clone())
                .try_build()
                .await
                .expect("esrs makes its table");
            let manager = Arc::new(AggregateManager::new(store));
            let ran = args
                .clone()
                .measure({
                    let args = args.clone();
                    move |writer, n| {
                        let (manager, args) = (manager.clone(), args.clone());
                        async move {
                            let (writer, index) = args.account(writer, n);
                            let id = Uuid::from_u64_pair(writer, index);
                            // Optimistic, as esrs's locking example does it: load, handle,
                            // persist with the next sequence number.
                            let state = manager
                                .load(id)
                                .await
                                .expect("esrs loads the account")
                                .unwrap_or_else(|| AggregateState::with_id(id));
                            let amount = args.amount(n);
                            manager
                                .handle_command(state, AccountCommand::Deposit { amount })
                                .await
                                .expect("esrs persists the deposit")
                                .expect("a positive deposit is accepted");
                        }
                    }
                })
                .await;
            let stored = count(&pool, "account_events").await;
            drop_schema(pool, &schema).await;
            (ran, stored)
        }
        other => {
            panic!("no peer run {other:?}; expected cqrs-es (memory, postgres) or esrs (postgres)")
        }
    };
    assert_eq!(
        stored, ran,
        "{framework} on {store} stored one event a command"
    );
}
