//! Saga steps that run late: once the aggregate's events are appended, before the strong
//! reactions, with those events. A command the aggregate refuses never reaches them (an
//! early step has run and is reversed by then); a conflict's retry runs them once; a
//! failure after them reverses them, last first. Run on every backend.

use std::sync::Arc;

use herald::ErrorKind;
use herald::prelude::*;
use herald::store::EventStore;

use herald_tests::backends::TestStore;
use herald_tests::on_every_backend;

#[event("book.:book_id.borrowed")]
struct Borrowed {
    book_id: String,
    reader: String,
}

#[command("borrow.book.:book_id")]
struct Borrow {
    book_id: String,
    reader: String,
}

#[derive(Debug, thiserror::Error)]
#[error("book {0} is out")]
struct Out(String);

#[aggregate(name = "book")]
#[derive(Default)]
struct Book {
    borrowed_by: Option<String>,
}

#[aggregate]
impl Book {
    #[handle]
    fn borrow(&self, cmd: &Borrow) -> Result<Borrowed, Out> {
        if self.borrowed_by.is_some() && cmd.reader != "again" {
            return Err(Out(cmd.book_id.clone()));
        }
        Ok(Borrowed {
            book_id: cmd.book_id.clone(),
            reader: cmd.reader.clone(),
        })
    }

    #[apply]
    fn borrowed(&mut self, e: &Borrowed) {
        self.borrowed_by = Some(e.reader.clone());
    }
}

/// What the third parties did, by book.
static CALLS: herald_tests::calls::Calls = herald_tests::calls::Calls::new();

fn call(key: &str, what: impl Into<String>) {
    CALLS.record(key, what);
}

fn calls(key: &str) -> Vec<String> {
    CALLS.of(key)
}

/// Early (spool's order): runs before the aggregate decides.
#[saga_step("borrow.book.:book_id", reverse = unreserve)]
async fn reserve_shelf(cmd: &Borrow, cx: &SagaCx<'_>) -> Result<(), String> {
    call(
        &cmd.book_id,
        format!("reserve ({} events)", cx.events().len()),
    );
    Ok(())
}

async fn unreserve(cmd: &Borrow, _: Option<()>, _cx: &SagaCx<'_>) {
    call(&cmd.book_id, "unreserve");
}

/// Late: charges the reader once the loan is decided and stored.
#[saga_step("borrow.book.:book_id", reverse = refund, late)]
async fn charge_fee(cmd: &Borrow, cx: &SagaCx<'_>) -> Result<u32, String> {
    let routes: Vec<&str> = cx.events().iter().map(|e| e.route.as_str()).collect();
    let versions: Vec<u64> = cx.events().iter().map(|e| e.version).collect();
    call(
        &cmd.book_id,
        format!("charge for {routes:?} at {versions:?}"),
    );
    Ok(250)
}

async fn refund(cmd: &Borrow, cents: Option<u32>, _cx: &SagaCx<'_>) {
    call(&cmd.book_id, format!("refund {cents:?}"));
}

/// A strong projector that fails for reader `fails`, after the late step.
#[projector("book.:book_id.borrowed")]
async fn loans(e: &Recorded<Borrowed>, _cx: &mut Cx<'_>) -> Result<(), String> {
    match e.reader.as_str() {
        "fails" => Err("the loans table is full".into()),
        _ => Ok(()),
    }
}

async fn herald(store: &Arc<dyn EventStore>) -> Herald {
    Herald::builder()
        .modules(["late_sagas"])
        .store(store.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap()
}

fn borrow(book: &str, reader: &str) -> Borrow {
    Borrow {
        book_id: book.to_owned(),
        reader: reader.to_owned(),
    }
}

fn book() -> String {
    Uuid::now_v7().simple().to_string()
}

/// A late step runs after the append, with the events; a refused command never
/// reaches it, while the early step ran and was reversed.
#[on_every_backend]
async fn a_late_step_runs_on_the_decided_events_and_never_for_a_refusal(test: &TestStore) {
    let herald = herald(&test.store).await;
    let b = book();
    herald.dispatch(borrow(&b, "ada")).await.unwrap();
    assert_eq!(
        calls(&b),
        [
            "reserve (0 events)".to_owned(),
            format!("charge for [\"book.{b}.borrowed\"] at [1]"),
        ]
    );
    let refused = herald.dispatch(borrow(&b, "bob")).await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::Rejected { .. }),
        "{refused}"
    );
    assert_eq!(
        calls(&b)[2..],
        ["reserve (0 events)", "unreserve"],
        "the refusal never reached the late step"
    );
}

/// A command retried after a conflict runs its late step once, on the events that were
/// appended.
#[on_every_backend]
async fn a_conflicts_retry_runs_the_late_step_once(test: &TestStore) {
    let stale = herald(&test.store).await;
    let other = herald(&test.store).await;
    let b = book();
    stale.dispatch(borrow(&b, "ada")).await.unwrap();
    // Another runtime appends: the first one's cached version is stale now.
    other.dispatch(borrow(&b, "again")).await.unwrap();
    let done = stale.dispatch(borrow(&b, "again")).await.unwrap();
    assert_eq!(done.events()[0].version, 3);
    assert!(
        done.trace()
            .nodes()
            .any(|n| n.outcome == herald::trace::Outcome::Conflict),
        "the first append conflicted: {}",
        done.trace()
    );
    let charges: Vec<String> = calls(&b)
        .into_iter()
        .filter(|c| c.starts_with("charge"))
        .collect();
    assert_eq!(
        charges,
        [
            format!("charge for [\"book.{b}.borrowed\"] at [1]"),
            format!("charge for [\"book.{b}.borrowed\"] at [2]"),
            format!("charge for [\"book.{b}.borrowed\"] at [3]"),
        ],
        "once per command, the retried one on the version it appended"
    );
}

/// A failure after the late step (a strong projector) reverses the late step, then the
/// early one, and stores nothing.
#[on_every_backend]
async fn a_failure_after_the_late_step_reverses_both_last_first(test: &TestStore) {
    let herald = herald(&test.store).await;
    let b = book();
    let failed = herald.dispatch(borrow(&b, "fails")).await.unwrap_err();
    assert!(
        matches!(failed.kind(), ErrorKind::Project { .. }),
        "{failed}"
    );
    assert_eq!(
        calls(&b),
        [
            "reserve (0 events)".to_owned(),
            format!("charge for [\"book.{b}.borrowed\"] at [1]"),
            "refund Some(250)".to_owned(),
            "unreserve".to_owned(),
        ]
    );
    assert_eq!(herald.load::<Book>(b.as_str()).await.unwrap().version(), 0);
}
