//! Archiving on every store: events every consumer has passed move to a second store,
//! are discarded from the active one, and are read through to wherever old events are
//! read (loading a stream, the global order, replaying a consumer, a repeated command).
//! The cases run on the in-memory store, a SQLite file and PostgreSQL, each archived into
//! a SQLite file; a few also with a PostgreSQL database as the archive.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald::prelude::*;
use herald::store::{Archive, EventStore, Position, RecordedEvent, StreamKey};
use herald::{ErrorKind, RetryPolicy};

use herald_tests::backends::{TestArchive, TestStore};

#[event("ledger.:account.entered")]
struct Entered {
    account: String,
    /// Which entry of the ledger this is, as the ledger counted when it decided.
    seq: u32,
}

#[command("enter.ledger.:account")]
struct Enter {
    account: String,
}

#[aggregate(name = "ledger")]
#[derive(Debug, Default)]
struct Ledger {
    entries: u32,
}

#[aggregate]
impl Ledger {
    #[handle]
    fn enter(&self, cmd: &Enter) -> Result<Entered, std::convert::Infallible> {
        Ok(Entered {
            account: cmd.account.clone(),
            seq: self.entries + 1,
        })
    }

    #[apply]
    fn entered(&mut self, _: &Entered) {
        self.entries += 1;
    }
}

/// What `ledger_lines` applied, by account; the accounts whose entries it fails on,
/// and the entries (`account#seq`) `loose_lines` fails on.
#[derive(Default)]
struct Book {
    lines: HashMap<String, Vec<u32>>,
    failing: Vec<String>,
}

fn failing(key: &str) -> bool {
    book(|b| b.failing.iter().any(|f| f == key))
}

static BOOK: Mutex<Option<Book>> = Mutex::new(None);

fn book<T>(f: impl FnOnce(&mut Book) -> T) -> T {
    let mut book = BOOK.lock().unwrap_or_else(PoisonError::into_inner);
    f(book.get_or_insert_with(Book::default))
}

fn lines(account: &str) -> Vec<u32> {
    book(|b| b.lines.get(account).cloned()).unwrap_or_default()
}

#[projector("ledger.:account.entered", consistency = eventual)]
async fn ledger_lines(e: &Recorded<Entered>, _cx: &mut Cx<'_>) -> Result<(), String> {
    if failing(&e.account) {
        return Err(format!("ledger {} is closed", e.account));
    }
    book(|b| b.lines.entry(e.account.clone()).or_default().push(e.seq));
    Ok(())
}

/// Parks the entries it fails on without holding back the rest of their ledger: the
/// active store then keeps an event in the middle of a stream.
#[projector("ledger.:account.entered", consistency = eventual, ordered = false)]
async fn loose_lines(e: &Recorded<Entered>, _cx: &mut Cx<'_>) -> Result<(), String> {
    match failing(&format!("{}#{}", e.account, e.seq)) {
        true => Err(format!("entry {} of {} is unreadable", e.seq, e.account)),
        false => Ok(()),
    }
}

const WAIT: Duration = Duration::from_secs(20);

fn account() -> String {
    Uuid::now_v7().simple().to_string()
}

fn builder(store: &Arc<dyn EventStore>) -> herald::HeraldBuilder {
    Herald::builder()
        .modules(["archive"])
        .store(store.clone())
        .consumer_retry(
            RetryPolicy::new(2)
                .base(Duration::from_millis(1))
                .cap(Duration::from_millis(2)),
        )
}

async fn enter(herald: &Herald, account: &str) -> Dispatched {
    let account = account.to_owned();
    herald.dispatch(Enter { account }).await.unwrap()
}

fn ledger(account: &str) -> StreamKey {
    StreamKey::new(Actor::DEFAULT_TENANT, "ledger", account).unwrap()
}

/// The versions of `account`'s ledger that `store` holds.
async fn versions(store: &dyn EventStore, account: &str) -> Vec<u64> {
    let events = store.read_stream(&ledger(account), 0).await.unwrap();
    events.iter().map(|e| e.version).collect()
}

/// The whole global order, page by page, as a consumer reads it.
async fn global_order(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut at = Position::START;
    loop {
        let page = store.read_all(at, 3).await.unwrap();
        let Some(last) = page.last() else { return all };
        at = last.position;
        all.extend(page);
    }
}

async fn caught_up(herald: &Herald, events: &[RecordedEvent]) {
    let consumers = herald.consumers();
    consumers
        .wait_for(events, ["ledger_lines", "loose_lines"], WAIT)
        .await
        .unwrap();
}

/// Archiving copies what every consumer passed, then (discarding) deletes it but each
/// stream's last event; everything reads the same through the archive: streams, the
/// global order, aggregates, repeated commands, a consumer replaying from the start.
async fn archived_events_stay_readable_after_they_are_discarded(
    test: &TestStore,
    archive: &Archive,
) {
    let herald = builder(&test.store).build().await.unwrap();
    let (a, b) = (account(), account());
    let repeated = Uuid::now_v7();
    // a1 b1 a2 b2 a3 a4: b's last event, which stays, is in the middle of the order.
    enter(&herald, &a).await;
    let first_of_b = herald.dispatch(Enter { account: b.clone() });
    let first_of_b = first_of_b.command_id(repeated).await.unwrap().into_events();
    let mut last = Vec::new();
    for account in [&a, &b, &a, &a] {
        last = enter(&herald, account).await.into_events();
    }
    caught_up(&herald, &last).await;
    let before = global_order(herald.store()).await;
    assert_eq!(before.len(), 6);
    herald.shutdown().await;

    // A pass that copies and stops there, as one that died before discarding would.
    let copying = builder(&test.store).archive(archive.clone()).build().await;
    let report = copying.unwrap().consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (6, 0));
    assert_eq!(report.up_to, before[5].position);
    let archived = archive.read_all(Position::START, 100).await.unwrap();
    assert_eq!(archived, before);

    // The next pass, discarding, archives nothing again and deletes all but the heads.
    let archive = archive.clone().discard(true);
    let herald = builder(&test.store).archive(archive.clone()).build().await;
    let herald = herald.unwrap();
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (0, 4));
    let plain = builder(&test.store).run_consumers(false).build().await;
    let plain = plain.unwrap();
    let left = global_order(plain.store()).await;
    let heads = [before[3].clone(), before[5].clone()];
    assert_eq!(
        left, heads,
        "the active store keeps each stream's last event"
    );
    // A runtime without the archive refuses to decide on part of a stream.
    let error = plain.load::<Ledger>(a.as_str()).await.unwrap_err();
    assert!(error.to_string().contains("from version 0 to 4"), "{error}");

    // Read through: the global order and the streams are whole again.
    assert_eq!(global_order(herald.store()).await, before);
    let stream_a: Vec<_> = before
        .iter()
        .filter(|e| e.stream == ledger(&a))
        .cloned()
        .collect();
    let read = herald.store().read_stream(&ledger(&a), 0).await.unwrap();
    assert_eq!(read, stream_a);
    let read = herald.store().read_stream(&ledger(&a), 2).await.unwrap();
    assert_eq!(read, stream_a[2..]);
    // An aggregate decides from all its events (its handler counts them).
    let next = enter(&herald, &a).await;
    assert_eq!(next.events()[0].decode::<Entered>().unwrap().seq, 5);
    let b_ledger = herald.load::<Ledger>(b.as_str()).await.unwrap();
    assert_eq!(b_ledger.state().entries, 2);
    // A repeated command answers with its first events, from the archive.
    let again = herald.dispatch(Enter { account: b.clone() });
    let again = again.command_id(repeated).await.unwrap();
    assert!(again.is_repeat());
    assert_eq!(again.events(), first_of_b);

    // A consumer replaying from the start reads the archive, then the active store.
    caught_up(&herald, next.events()).await;
    book(|book| book.lines.remove(&a));
    let consumers = herald.consumers();
    consumers
        .reset("ledger_lines", Position::START)
        .await
        .unwrap();
    caught_up(&herald, next.events()).await;
    assert_eq!(lines(&a), [1, 2, 3, 4, 5]);
}

/// Nothing is archived before every consumer passed it, and an event a consumer parked
/// stays in the active store until it is settled, also in the middle of its stream.
async fn archiving_waits_for_every_consumer(test: &TestStore, archive: &Archive) {
    let archive = archive.clone().discard(true);
    let idle = builder(&test.store)
        .archive(archive.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let (closed, flaky) = (account(), account());
    book(|b| b.failing.push(closed.clone()));
    book(|b| b.failing.push(format!("{flaky}#2")));
    for account in [&closed, &closed, &flaky, &flaky] {
        enter(&idle, account).await;
    }
    let report = idle.consumers().archive().await.unwrap();
    assert_eq!(
        (report.archived, report.up_to),
        (0, Position::START),
        "no consumer has run yet"
    );

    let herald = builder(&test.store).archive(archive.clone()).build().await;
    let herald = herald.unwrap();
    enter(&herald, &flaky).await;
    let last = enter(&herald, &flaky).await;
    caught_up(&herald, last.events()).await;
    let consumers = herald.consumers();
    let parked = consumers.dead_letters("ledger_lines").await.unwrap();
    assert_eq!(parked.len(), 2, "both events of the closed ledger");
    let loose = consumers.dead_letters("loose_lines").await.unwrap();
    assert_eq!(loose.len(), 1, "entry 2 of the flaky ledger alone");
    let report = consumers.archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (6, 2));
    let active = &*test.store;
    assert_eq!(versions(active, &closed).await, [1, 2], "parked: kept");
    assert_eq!(versions(active, &flaky).await, [2, 4], "1 and 3 discarded");
    assert_eq!(versions(herald.store(), &flaky).await, [1, 2, 3, 4]);
    let flaky_ledger = herald.load::<Ledger>(flaky.as_str()).await.unwrap();
    assert_eq!(flaky_ledger.state().entries, 4);

    // Settled, the parked events run from the active store, then can go. (Only this
    // test's: tests run side by side in one process under `cargo test`.)
    let flaky_two = format!("{flaky}#2");
    book(|b| b.failing.retain(|f| f != &closed && f != &flaky_two));
    consumers
        .retry("ledger_lines", parked[0].event_id)
        .await
        .unwrap();
    assert_eq!(lines(&closed), [1, 2]);
    consumers
        .retry("loose_lines", loose[0].event_id)
        .await
        .unwrap();
    let report = consumers.archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (0, 2));
    assert_eq!(versions(active, &closed).await, [2]);
    assert_eq!(versions(active, &flaky).await, [4]);
}

/// A consumer replaying discarded events can park one: it is retried from the archive,
/// and the archive keeps what the replaying consumer has not passed again.
async fn an_event_parked_while_replaying_the_archive_is_retried_from_it(
    test: &TestStore,
    archive: &Archive,
) {
    let archive = archive.clone().discard(true);
    let herald = builder(&test.store).archive(archive).build().await.unwrap();
    let x = account();
    let mut last = Vec::new();
    for _ in 0..3 {
        last = enter(&herald, &x).await.into_events();
    }
    caught_up(&herald, &last).await;
    let consumers = herald.consumers();
    assert_eq!(consumers.archive().await.unwrap().discarded, 2);

    book(|b| b.failing.push(x.clone()));
    consumers
        .reset("ledger_lines", Position::START)
        .await
        .unwrap();
    let error = consumers.wait_for(&last, ["ledger_lines"], WAIT).await;
    assert!(
        matches!(error.unwrap_err().kind(), ErrorKind::Parked { .. }),
        "the replayed ledger is parked"
    );
    let report = consumers.archive().await.unwrap();
    assert_eq!(report.discarded, 0);
    book(|b| b.failing.retain(|f| f != &x));
    let parked = consumers.dead_letters("ledger_lines").await.unwrap();
    assert_eq!(parked.len(), 3);
    consumers
        .retry("ledger_lines", parked[0].event_id)
        .await
        .unwrap();
    assert_eq!(lines(&x), [1, 2, 3, 1, 2, 3]);
    assert!(
        consumers
            .dead_letters("ledger_lines")
            .await
            .unwrap()
            .is_empty()
    );
}
/// The archive may hold more than every consumer has passed (one was reset since):
/// only what they all passed is discarded.
async fn only_what_every_consumer_passed_is_discarded(test: &TestStore, archive: &Archive) {
    let herald = builder(&test.store).archive(archive.clone()).build().await;
    let herald = herald.unwrap();
    let x = account();
    let mut last = Vec::new();
    for _ in 0..3 {
        last = enter(&herald, &x).await.into_events();
    }
    caught_up(&herald, &last).await;
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (3, 0));
    herald.shutdown().await;

    let archive = archive.clone().discard(true);
    let idle = builder(&test.store).archive(archive).run_consumers(false);
    let idle = idle.build().await.unwrap();
    let consumers = idle.consumers();
    consumers
        .reset("ledger_lines", Position::START)
        .await
        .unwrap();
    let report = consumers.archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (0, 0));
    assert_eq!(versions(&*test.store, &x).await, [1, 2, 3]);
}

/// The store discards page by page, each going on after the last position it deleted,
/// and never deletes a stream's last event.
async fn discarding_goes_page_by_page(test: &TestStore) {
    let herald = builder(&test.store).run_consumers(false).build().await;
    let herald = herald.unwrap();
    let x = account();
    let mut positions = Vec::new();
    for _ in 0..6 {
        positions.push(enter(&herald, &x).await.events()[0].position);
    }
    let store = &*test.store;
    let (head, mut from, mut pages) = (positions[5], Position::START, Vec::new());
    loop {
        let deleted = store.discard(from, head, 2).await.unwrap();
        let Some(&last) = deleted.last() else { break };
        pages.push(deleted);
        from = last;
    }
    let expected: Vec<Vec<Position>> = positions[..5].chunks(2).map(<[_]>::to_vec).collect();
    assert_eq!(pages, expected);
    assert_eq!(versions(store, &x).await, [6]);
}

/// An archive serves one store: a second store's events, whose positions it holds for
/// the first's, are refused, and nothing of that store is discarded. (`other` is a
/// second store whose positions start where the first's did: SQLite and memory ones.)
async fn an_archive_refuses_a_second_store(test: &TestStore, other: &TestStore, archive: &Archive) {
    let archive = archive.clone().discard(true);
    for store in [&test.store, &other.store] {
        let herald = builder(store)
            .archive(archive.clone())
            .build()
            .await
            .unwrap();
        let x = account();
        let mut last = Vec::new();
        for _ in 0..2 {
            last = enter(&herald, &x).await.into_events();
        }
        caught_up(&herald, &last).await;
        let archived = herald.consumers().archive().await;
        if Arc::ptr_eq(store, &test.store) {
            assert_eq!(archived.unwrap().discarded, 1);
            continue;
        }
        let error = archived.unwrap_err();
        assert!(error.to_string().contains("serves one store"), "{error}");
        assert_eq!(versions(&*other.store, &x).await, [1, 2]);
    }
}

/// A runtime without an archive cannot archive, and says how to give it one.
async fn archiving_without_an_archive_says_so(test: &TestStore) {
    let herald = builder(&test.store).build().await.unwrap();
    let error = herald.consumers().archive().await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Store { .. }), "{error}");
    assert!(
        error.to_string().contains("HeraldBuilder::archive"),
        "{error}"
    );
}

/// The cases, each with a fresh SQLite file as the archive.
mod into_sqlite {
    use herald_tests::on_every_backend;

    use super::*;

    #[on_every_backend]
    async fn archived_events_stay_readable_after_they_are_discarded(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        super::archived_events_stay_readable_after_they_are_discarded(test, &archive.archive).await;
    }

    #[on_every_backend]
    async fn archiving_waits_for_every_consumer(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        super::archiving_waits_for_every_consumer(test, &archive.archive).await;
    }

    #[on_every_backend]
    async fn an_event_parked_while_replaying_the_archive_is_retried_from_it(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        let archive = &archive.archive;
        super::an_event_parked_while_replaying_the_archive_is_retried_from_it(test, archive).await;
    }

    #[on_every_backend]
    async fn only_what_every_consumer_passed_is_discarded(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        super::only_what_every_consumer_passed_is_discarded(test, &archive.archive).await;
    }

    #[on_every_backend]
    async fn discarding_goes_page_by_page(test: &TestStore) {
        super::discarding_goes_page_by_page(test).await;
    }

    #[on_every_backend]
    async fn archiving_without_an_archive_says_so(test: &TestStore) {
        super::archiving_without_an_archive_says_so(test).await;
    }

    /// Two stores whose positions start alike, one SQLite archive.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_archive_refuses_a_second_store() {
        let (first, second) = (TestStore::memory(), TestStore::sqlite().await);
        let archive = TestArchive::sqlite().await;
        super::an_archive_refuses_a_second_store(&first, &second, &archive.archive).await;
    }
}

/// A SQLite store archived into a PostgreSQL database.
mod into_postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn archived_events_stay_readable_after_they_are_discarded() {
        let (test, archive) = (TestStore::sqlite().await, TestArchive::postgres().await);
        super::archived_events_stay_readable_after_they_are_discarded(&test, &archive.archive)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn archiving_waits_for_every_consumer() {
        let (test, archive) = (TestStore::postgres().await, TestArchive::postgres().await);
        super::archiving_waits_for_every_consumer(&test, &archive.archive).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_archive_refuses_a_second_store() {
        let (first, second) = (TestStore::sqlite().await, TestStore::sqlite().await);
        let archive = TestArchive::postgres().await;
        super::an_archive_refuses_a_second_store(&first, &second, &archive.archive).await;
    }
}
