//! Archiving on every store: events every consumer has passed move to a second store,
//! are discarded from the active one, and are read through to wherever old events are
//! read (loading a stream, the global order, replaying a consumer, a repeated command).
#![allow(missing_docs, reason = "test fixtures")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald::prelude::*;
use herald::store::{Archive, EventStore, Position, RecordedEvent, StreamKey};
use herald::{ErrorKind, RetryPolicy};

use crate::backends::TestStore;

#[event("ledger.:account.entered")]
pub struct Entered {
    pub account: String,
    /// Which entry of the ledger this is, as the ledger counted when it decided.
    pub seq: u32,
}

#[command("enter.ledger.:account")]
pub struct Enter {
    pub account: String,
}

#[aggregate(name = "ledger")]
#[derive(Debug, Default)]
pub struct Ledger {
    pub entries: u32,
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

/// What `ledger_lines` applied, by account; accounts whose entries fail.
#[derive(Default)]
struct Book {
    lines: HashMap<String, Vec<u32>>,
    failing: Vec<String>,
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
    if book(|b| b.failing.contains(&e.account)) {
        return Err(format!("ledger {} is closed", e.account));
    }
    book(|b| b.lines.entry(e.account.clone()).or_default().push(e.seq));
    Ok(())
}

const WAIT: Duration = Duration::from_secs(20);

fn account() -> String {
    Uuid::now_v7().simple().to_string()
}

fn builder(store: &Arc<dyn EventStore>) -> herald::HeraldBuilder {
    Herald::builder()
        .modules(["herald_tests::archive_suite"])
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
        .wait_for(events, ["ledger_lines"], WAIT)
        .await
        .unwrap();
}

/// Archiving copies what every consumer passed, then (discarding) deletes it but each
/// stream's last event; everything reads the same through the archive: streams, the
/// global order, aggregates, repeated commands, a consumer replaying from the start.
pub async fn archived_events_stay_readable_after_they_are_discarded(
    test: &TestStore,
    archive: &Archive,
) {
    let herald = builder(&test.store).build().await.unwrap();
    let (a, b) = (account(), account());
    let repeated = Uuid::now_v7();
    let mut last = Vec::new();
    for n in 0..4 {
        enter(&herald, &a).await;
        last = match n {
            1 => {
                let account = b.clone();
                let dispatch = herald.dispatch(Enter { account }).command_id(repeated);
                dispatch.await.unwrap().into_events()
            }
            _ => enter(&herald, &b).await.into_events(),
        };
    }
    caught_up(&herald, &last).await;
    let before = global_order(herald.store()).await;
    assert_eq!(before.len(), 8);
    let first_of_b: Vec<RecordedEvent> = before
        .iter()
        .filter(|e| e.stream == ledger(&b) && e.version == 2)
        .cloned()
        .collect();
    herald.shutdown().await;

    // A pass that copies and stops there, as one that died before discarding would.
    let copying = builder(&test.store).archive(archive.clone()).build().await;
    let report = copying.unwrap().consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (8, 0));
    assert_eq!(report.up_to, before[7].position);
    assert_eq!(
        archive.read_all(Position::START, 100).await.unwrap(),
        before
    );

    // The next pass, discarding, archives nothing again and deletes all but the heads.
    let archive = archive.clone().discard(true);
    let herald = builder(&test.store).archive(archive.clone()).build().await;
    let herald = herald.unwrap();
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (0, 6));
    let plain = builder(&test.store).run_consumers(false).build().await;
    let plain = plain.unwrap();
    let left = global_order(plain.store()).await;
    let heads: Vec<_> = before.iter().filter(|e| e.version == 4).cloned().collect();
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
    assert_eq!(
        herald.store().read_stream(&ledger(&a), 0).await.unwrap(),
        stream_a
    );
    assert_eq!(
        herald.store().read_stream(&ledger(&a), 2).await.unwrap(),
        stream_a[2..]
    );
    // An aggregate decides from all its events (its handler counts them).
    let next = enter(&herald, &a).await;
    assert_eq!(next.events()[0].decode::<Entered>().unwrap().seq, 5);
    assert_eq!(
        herald
            .load::<Ledger>(b.as_str())
            .await
            .unwrap()
            .state()
            .entries,
        4
    );
    // A repeated command answers with its first events, from the archive.
    let again = herald.dispatch(Enter { account: b.clone() });
    let again = again.command_id(repeated).await.unwrap();
    assert!(again.is_repeat());
    assert_eq!(again.events(), first_of_b);

    // A consumer replaying from the start reads the archive, then the active store.
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
/// stays in the active store until it is settled.
pub async fn archiving_waits_for_every_consumer(test: &TestStore, archive: &Archive) {
    let archive = archive.clone().discard(true);
    let idle = builder(&test.store)
        .archive(archive.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let (closed, open) = (account(), account());
    book(|b| b.failing.push(closed.clone()));
    for account in [&closed, &closed, &open, &open] {
        enter(&idle, account).await;
    }
    let report = idle.consumers().archive().await.unwrap();
    assert_eq!(
        (report.archived, report.up_to),
        (0, Position::START),
        "`ledger_lines` has not run yet"
    );

    let herald = builder(&test.store).archive(archive.clone()).build().await;
    let herald = herald.unwrap();
    let last = enter(&herald, &open).await;
    caught_up(&herald, last.events()).await;
    let parked = herald.consumers().dead_letters("ledger_lines").await;
    assert_eq!(parked.unwrap().len(), 2, "both events of the closed ledger");
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (5, 2));
    let active = |account: &str| {
        let stream = ledger(account);
        let store = test.store.clone();
        async move {
            let events = store.read_stream(&stream, 0).await.unwrap();
            events.iter().map(|e| e.version).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        active(&closed).await,
        [1, 2],
        "parked events are not discarded"
    );
    assert_eq!(active(&open).await, [3]);

    // Settled, the parked event runs from the active store, then can go.
    book(|b| b.failing.retain(|a| a != &closed));
    let first = herald
        .consumers()
        .dead_letters("ledger_lines")
        .await
        .unwrap();
    let consumers = herald.consumers();
    consumers
        .retry("ledger_lines", first[0].event_id)
        .await
        .unwrap();
    assert_eq!(lines(&closed), [1, 2]);
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (0, 1));
    assert_eq!(active(&closed).await, [2]);
}

/// A runtime without an archive cannot archive, and says how to give it one.
pub async fn archiving_without_an_archive_says_so(test: &TestStore) {
    let herald = builder(&test.store).build().await.unwrap();
    let error = herald.consumers().archive().await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Store { .. }), "{error}");
    assert!(
        error.to_string().contains("HeraldBuilder::archive"),
        "{error}"
    );
}
