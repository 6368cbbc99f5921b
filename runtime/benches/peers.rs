//! Herald's side of the peer benchmark: the bank account of Herald's README (a
//! `Deposit { amount }` that a zero amount is refused by and that otherwise records one
//! `Deposited` event) through `Herald::dispatch`, on the memory store or PostgreSQL; and,
//! on PostgreSQL, the raw one-transaction-per-command floor that the `dispatch` bench
//! divides by (`common::raw_command`, frozen), on the same accounts. The peers (cqrs-es +
//! postgres-es, esrs) do the same command in `peers/`, a crate of its own; both sides
//! share `peers/src/window.rs`, which times the window and prints the run's JSON line.
//! One run is one framework, one store and one number of writers, in a fresh schema:
//! `peers/run` builds both, interleaves the runs and prints the medians and ratios.
//!
//! Run one: `cargo bench -p herald --features postgres --bench peers -- --framework
//! herald|by-hand --store postgres|memory --writers 8` (PostgreSQL from `DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`).

use std::sync::Arc;

use herald::prelude::*;

mod common;
use common::{Backend, Raw, open, raw_command};

#[path = "../../peers/src/window.rs"]
mod window;
use window::Args;

#[event("account.:account_id.deposited")]
struct Deposited {
    account_id: u64,
    amount: u64,
}

#[command("deposit.:account_id")]
struct Deposit {
    account_id: u64,
    amount: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("deposits must be positive")]
struct ZeroDeposit;

#[aggregate(name = "account")]
#[derive(Default)]
struct Account {
    balance: u64,
}

#[aggregate]
impl Account {
    #[handle]
    fn deposit(&self, cmd: &Deposit) -> Result<Deposited, ZeroDeposit> {
        if cmd.amount == 0 {
            return Err(ZeroDeposit);
        }
        Ok(Deposited {
            account_id: cmd.account_id,
            amount: cmd.amount,
        })
    }

    #[apply]
    fn deposited(&mut self, e: &Deposited) {
        self.balance += e.amount
    }
}

/// Deposits through `herald`, for the window; how many ran.
async fn herald_run(args: &Arc<Args>, herald: &Herald) -> u64 {
    let (args2, herald) = (args.clone(), herald.clone());
    args.measure(move |writer, n| {
        let (args, herald) = (args2.clone(), herald.clone());
        async move {
            herald
                .dispatch(Deposit {
                    account_id: args.account_number(writer, n),
                    amount: args.amount(n),
                })
                .await
                .expect("Herald dispatches the deposit");
        }
    })
    .await
}

/// Events the accounts the run wrote hold (each writer's, from index 0 on until one is
/// empty), loaded through `herald`.
async fn events_in_accounts(args: &Args, herald: &Herald) -> u64 {
    let mut total = 0;
    for writer in 0..args.writers {
        for index in 0.. {
            let id = args.account_number(writer, index * args.per_account);
            let version = herald.load::<Account>(id).await.unwrap().version();
            if version == 0 {
                break;
            }
            total += version;
        }
    }
    total
}

async fn count(raw: &Raw, table: &str) -> u64 {
    let Raw::Postgres(pool) = raw else {
        unreachable!("the peer bench runs on PostgreSQL")
    };
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap();
    n as u64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args = Arc::new(Args::parse());
    let (framework, store) = (args.framework.clone(), args.store.clone());
    let (ran, stored) = match (framework.as_str(), store.as_str()) {
        ("herald", "memory") => {
            let herald = Herald::builder()
                .modules([module_path!()])
                .build()
                .await
                .unwrap();
            let ran = herald_run(&args, &herald).await;
            (ran, events_in_accounts(&args, &herald).await)
        }
        ("herald", "postgres") => {
            let db = open(Backend::Postgres).await;
            let herald = Herald::builder()
                .modules([module_path!()])
                .store(db.store.clone())
                .build()
                .await
                .unwrap();
            let ran = herald_run(&args, &herald).await;
            let stored = count(&db.raw, "herald_events").await;
            drop(herald);
            db.remove().await;
            (ran, stored)
        }
        ("by-hand", "postgres") => {
            let db = open(Backend::Postgres).await;
            let (args2, raw) = (args.clone(), db.raw.clone());
            let ran = args
                .measure(move |writer, n| {
                    let (args, raw) = (args2.clone(), raw.clone());
                    async move {
                        let stream = args.account_number(writer, n).to_string();
                        raw_command(&raw, &stream, args.amount(n) as i64).await
                    }
                })
                .await;
            let stored = count(&db.raw, "raw_events").await;
            db.remove().await;
            (ran, stored)
        }
        other => panic!(
            "no Herald run {other:?}; expected herald (memory, postgres) or by-hand (postgres)"
        ),
    };
    assert_eq!(
        stored, ran,
        "{framework} on {store} stored one event a command"
    );
}
