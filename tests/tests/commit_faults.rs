//! A commit that reports an error although the database committed (the connection
//! dropped after the commit record): nothing that committed is undone, and what did not
//! commit is. Run with a [`FaultyStore`] over every backend.

use std::sync::Arc;
use std::time::Duration;

use herald::ErrorKind;
use herald::prelude::*;
use herald::store::EventStore;

use herald_tests::backends::{TestStore, sql};
use herald_tests::faults::{CommitFault, Faults, FaultyStore};
use herald_tests::on_every_backend;

#[event("parcel.:parcel_id.sent")]
struct Sent {
    parcel_id: String,
}

#[command("send.parcel.:parcel_id")]
struct Send {
    parcel_id: String,
}

#[event("label.:parcel_id.printed")]
struct Printed {
    parcel_id: String,
}

#[command("print.label.:parcel_id")]
struct Print {
    parcel_id: String,
}

#[aggregate(name = "parcel")]
#[derive(Default)]
struct Parcel;

#[aggregate]
impl Parcel {
    #[handle]
    fn send(&self, cmd: &Send) -> Result<Sent, std::convert::Infallible> {
        Ok(Sent {
            parcel_id: cmd.parcel_id.clone(),
        })
    }

    #[apply]
    fn sent(&mut self, _: &Sent) {}
}

#[aggregate(name = "label")]
#[derive(Default)]
struct Label;

#[aggregate]
impl Label {
    #[handle]
    fn print(&self, cmd: &Print) -> Result<Printed, std::convert::Infallible> {
        Ok(Printed {
            parcel_id: cmd.parcel_id.clone(),
        })
    }

    #[apply]
    fn printed(&mut self, _: &Printed) {}
}

/// What the third parties did, by parcel.
static CALLS: herald_tests::calls::Calls = herald_tests::calls::Calls::new();

fn call(key: &str, what: impl Into<String>) {
    CALLS.record(key, what);
}

fn calls(key: &str) -> Vec<String> {
    CALLS.of(key)
}

#[saga_step("send.parcel.:parcel_id", reverse = cancel_courier)]
async fn book_courier(cmd: &Send, _cx: &SagaCx<'_>) -> Result<(), String> {
    call(&cmd.parcel_id, "book courier");
    Ok(())
}

async fn cancel_courier(cmd: &Send, _: Option<()>, _cx: &SagaCx<'_>) {
    call(&cmd.parcel_id, "cancel courier");
}

#[saga_step("print.label.:parcel_id", reverse = shred_label)]
async fn print_at_shop(cmd: &Print, _cx: &SagaCx<'_>) -> Result<(), String> {
    call(&cmd.parcel_id, "print");
    Ok(())
}

async fn shred_label(cmd: &Print, _: Option<()>, _cx: &SagaCx<'_>) {
    call(&cmd.parcel_id, "shred");
}

/// Prints each sent parcel's label, after the commit.
#[processor("parcel.:parcel_id.sent", consistency = eventual)]
async fn label_sent_parcels(e: &Recorded<Sent>, _cx: &mut Cx<'_>) -> Result<Print, String> {
    Ok(Print {
        parcel_id: e.parcel_id.clone(),
    })
}

fn parcel() -> String {
    Uuid::now_v7().simple().to_string()
}

/// A runtime over the fixtures on `store` wrapped to inject faults.
async fn herald(test: &TestStore, consumers: bool) -> (Herald, Arc<Faults>) {
    let store = FaultyStore::new(test.store.clone());
    let faults = store.faults.clone();
    let herald = builder(Arc::new(store))
        .run_consumers(consumers)
        .build()
        .await
        .unwrap();
    (herald, faults)
}

fn builder(store: Arc<dyn EventStore>) -> herald::HeraldBuilder {
    Herald::builder()
        .modules(["commit_faults"])
        .store(store)
        .saga_lease(Duration::from_millis(50))
}

/// The sagas a runtime starting now finds unsettled: (done, reversed). A saga that the
/// runtime before it settled is not among them.
async fn unsettled(test: &TestStore) -> (usize, usize) {
    tokio::time::sleep(Duration::from_millis(100)).await; // older than the lease
    let next = builder(test.store.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    (next.recovery().done, next.recovery().reversed)
}

/// Waits until `parcel`'s third-party calls are `expected`.
async fn until_calls(parcel: &str, expected: &[&str]) {
    for _ in 0..100 {
        if calls(parcel) == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(calls(parcel), expected);
}

/// The commit reports an error, but the command's row is there: the dispatch returns
/// its result, and its saga is done, not reversed.
#[on_every_backend]
async fn a_dispatch_whose_commit_took_effect_returns_its_result(test: &TestStore) {
    let (herald, faults) = herald(test, false).await;
    let p = parcel();
    faults.fail_commit("parcel.", CommitFault::AfterCommit);
    let sent = herald
        .dispatch(Send {
            parcel_id: p.clone(),
        })
        .await
        .expect("it committed");
    assert_eq!(faults.injected(), 1);
    assert_eq!(sent.events()[0].route.as_str(), format!("parcel.{p}.sent"));
    assert_eq!(
        herald.load::<Parcel>(p.as_str()).await.unwrap().version(),
        1
    );
    assert_eq!(calls(&p), ["book courier"], "the courier stays booked");
    drop(herald);
    assert_eq!(
        unsettled(test).await,
        (0, 0),
        "its saga was settled as done"
    );
}

/// The commit reports an error and did not take effect: the saga is reversed and the
/// caller gets the error.
#[on_every_backend]
async fn a_dispatch_whose_commit_failed_is_reversed(test: &TestStore) {
    let (herald, faults) = herald(test, false).await;
    let p = parcel();
    faults.fail_commit("parcel.", CommitFault::InsteadOfCommit);
    let error = herald
        .dispatch(Send {
            parcel_id: p.clone(),
        })
        .await
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Store { .. }), "{error}");
    assert_eq!(
        herald.load::<Parcel>(p.as_str()).await.unwrap().version(),
        0
    );
    assert_eq!(calls(&p), ["book courier", "cancel courier"]);
}

/// The commit reports an error and the store does not answer the question whether it
/// took effect: the caller is told so, the saga is left alone, and settled as done once
/// the store answers that it committed.
#[on_every_backend]
async fn a_dispatch_whose_commit_is_unknown_is_settled_once_the_store_answers(test: &TestStore) {
    let (herald, faults) = herald(test, false).await;
    let p = parcel();
    faults.fail_commit("parcel.", CommitFault::AfterCommit);
    faults.fail_lookups(2); // the dispatch's own, and the first try after it
    let error = herald
        .dispatch(Send {
            parcel_id: p.clone(),
        })
        .await
        .unwrap_err();
    let ErrorKind::CommitUnknown { witness, .. } = error.kind() else {
        panic!("expected an unknown commit, got {error}");
    };
    assert!(error.to_string().contains(&witness.to_string()), "{error}");
    tokio::time::sleep(Duration::from_millis(800)).await; // asked twice more by now
    assert_eq!(calls(&p), ["book courier"], "never cancelled: it committed");
    assert_eq!(
        herald.load::<Parcel>(p.as_str()).await.unwrap().version(),
        1
    );
    drop(herald);
    assert_eq!(unsettled(test).await, (0, 0), "settled as done meanwhile");
}

/// The same, when the commit did not take effect: reversed once the store answers.
#[on_every_backend]
async fn a_dispatch_whose_unknown_commit_failed_is_reversed_once_the_store_answers(
    test: &TestStore,
) {
    let (herald, faults) = herald(test, false).await;
    let p = parcel();
    faults.fail_commit("parcel.", CommitFault::InsteadOfCommit);
    faults.fail_lookups(2);
    let error = herald
        .dispatch(Send {
            parcel_id: p.clone(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::CommitUnknown { .. }),
        "{error}"
    );
    assert_eq!(
        calls(&p),
        ["book courier"],
        "not reversed before the store answers"
    );
    until_calls(&p, &["book courier", "cancel courier"]).await;
}

/// A transaction whose commit reports an error after it committed returns `Ok`, with
/// and without a command in it; its saga is done.
#[on_every_backend]
async fn a_transaction_whose_commit_took_effect_returns_ok(test: &TestStore) {
    let (herald, faults) = herald(test, false).await;
    sql(
        &herald,
        "CREATE TABLE IF NOT EXISTS shipments (id TEXT PRIMARY KEY)",
    )
    .await;
    let p = parcel();
    // Only the caller's own rows: a row of the transaction's own tells.
    let mut tx = herald.begin().await.unwrap();
    insert_shipment(&mut tx, &p).await;
    faults.fail_commit("", CommitFault::AfterCommit);
    tx.commit().await.expect("it committed");
    assert_eq!(faults.injected(), 1);
    if test.kind() != "memory" {
        assert!(shipment(&herald, &p).await, "the row committed");
    }
    // With a command and its saga.
    let mut tx = herald.begin().await.unwrap();
    tx.dispatch(Send {
        parcel_id: p.clone(),
    })
    .await
    .unwrap();
    faults.fail_commit("", CommitFault::AfterCommit);
    tx.commit().await.expect("it committed");
    assert_eq!(faults.injected(), 2);
    assert_eq!(calls(&p), ["book courier"]);
    drop(herald);
    assert_eq!(unsettled(test).await, (0, 0));
}

/// A transaction whose commit failed returns the error and reverses its saga.
#[on_every_backend]
async fn a_transaction_whose_commit_failed_returns_the_error(test: &TestStore) {
    let (herald, faults) = herald(test, false).await;
    sql(
        &herald,
        "CREATE TABLE IF NOT EXISTS shipments (id TEXT PRIMARY KEY)",
    )
    .await;
    let p = parcel();
    let mut tx = herald.begin().await.unwrap();
    insert_shipment(&mut tx, &p).await;
    tx.dispatch(Send {
        parcel_id: p.clone(),
    })
    .await
    .unwrap();
    faults.fail_commit("", CommitFault::InsteadOfCommit);
    tx.commit().await.unwrap_err();
    if test.kind() != "memory" {
        assert!(!shipment(&herald, &p).await, "the row did not commit");
    }
    assert_eq!(calls(&p), ["book courier", "cancel courier"]);
}

/// An eventual processor's batch whose commit reports an error after it committed: the
/// saga of the command it dispatched is done, not reversed, and the command ran once.
#[on_every_backend]
async fn a_batch_whose_commit_took_effect_keeps_its_processors_sagas(test: &TestStore) {
    let (herald, faults) = herald(test, true).await;
    let p = parcel();
    faults.fail_commit("label.", CommitFault::AfterCommit);
    let sent = herald
        .dispatch(Send {
            parcel_id: p.clone(),
        })
        .await
        .unwrap();
    herald
        .consumers()
        .wait_for(
            sent.events(),
            ["label_sent_parcels"],
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(faults.injected(), 1, "the batch's commit failed");
    assert_eq!(herald.load::<Label>(p.as_str()).await.unwrap().version(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        calls(&p),
        ["book courier", "print"],
        "printed once, never shredded"
    );
    herald.shutdown().await;
    drop(herald);
    assert_eq!(unsettled(test).await, (0, 0));
}

async fn insert_shipment(tx: &mut herald::HeraldTransaction, id: &str) {
    let insert = "INSERT INTO shipments (id) VALUES ($1)";
    match tx.sql() {
        herald::store::Sql::Sqlite(conn) => {
            sqlx::query(insert).bind(id).execute(conn).await.unwrap();
        }
        herald::store::Sql::Postgres(conn) => {
            sqlx::query(insert).bind(id).execute(conn).await.unwrap();
        }
        _ => {}
    }
}

async fn shipment(herald: &Herald, id: &str) -> bool {
    let mut tx = herald.begin().await.unwrap();
    let select = "SELECT COUNT(*) FROM shipments WHERE id = $1";
    let count: i64 = match tx.sql() {
        herald::store::Sql::Sqlite(conn) => sqlx::query_scalar(select)
            .bind(id)
            .fetch_one(conn)
            .await
            .unwrap(),
        herald::store::Sql::Postgres(conn) => sqlx::query_scalar(select)
            .bind(id)
            .fetch_one(conn)
            .await
            .unwrap(),
        _ => 0,
    };
    tx.rollback().await.unwrap();
    count == 1
}
