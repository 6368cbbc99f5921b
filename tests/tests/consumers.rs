//! Eventual consumers on every store: catching up after the commit, retries, dead
//! letters parked per stream, retry and skip, processors, stopping and resuming.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald::prelude::*;
use herald::store::{EventStore, RecordedEvent, Sql, StreamKey};
use herald::{ErrorKind, RetryPolicy};

use herald_tests::backends::{TestStore, sql};
use herald_tests::on_every_backend;

#[event("note.:note_id.posted")]
struct Posted {
    note_id: String,
    n: u32,
}

#[command("post.note.:note_id")]
struct Post {
    note_id: String,
    n: u32,
}

#[aggregate(name = "note")]
#[derive(Default)]
struct Note;

#[aggregate]
impl Note {
    #[handle]
    fn post(&self, cmd: &Post) -> Result<Posted, std::convert::Infallible> {
        Ok(Posted {
            note_id: cmd.note_id.clone(),
            n: cmd.n,
        })
    }

    #[apply]
    fn posted(&mut self, _: &Posted) {}
}

#[event("tally.:note_id.counted")]
struct Counted {
    note_id: String,
    n: u32,
}

#[command("count.tally.:note_id", roles = ["counter"])]
struct Count {
    note_id: String,
    n: u32,
}

#[aggregate(name = "tally")]
#[derive(Default)]
struct Tally;

#[aggregate]
impl Tally {
    #[handle]
    fn count(&self, cmd: &Count) -> Result<Counted, std::convert::Infallible> {
        Ok(Counted {
            note_id: cmd.note_id.clone(),
            n: cmd.n,
        })
    }

    #[apply]
    fn counted(&mut self, _: &Counted) {}
}

/// What each consumer applied, by note id, in order; and how often each was tried.
#[derive(Default)]
struct Book {
    applied: HashMap<(String, &'static str), Vec<u32>>,
    tries: HashMap<(String, u32), u32>,
    /// Notes whose events fail this many times before they succeed.
    failing: HashMap<String, u32>,
}

static BOOK: Mutex<Option<Book>> = Mutex::new(None);

fn book<T>(f: impl FnOnce(&mut Book) -> T) -> T {
    let mut book = BOOK.lock().unwrap_or_else(PoisonError::into_inner);
    f(book.get_or_insert_with(Book::default))
}

/// What `consumer` applied for `note`, in order.
fn applied(note: &str, consumer: &'static str) -> Vec<u32> {
    book(|b| b.applied.get(&(note.to_owned(), consumer)).cloned()).unwrap_or_default()
}

/// Makes the events of `note` fail `times` tries before they succeed.
fn fail(note: &str, times: u32) {
    book(|b| b.failing.insert(note.to_owned(), times));
}

/// How many times `notes` (the ordered projector) was tried on event `n` of `note`.
fn tries(note: &str, n: u32) -> u32 {
    book(|b| b.tries.get(&(note.to_owned(), n)).copied()).unwrap_or(0)
}

/// The ordered projector: a row per event on SQL stores (in its transaction, with its
/// checkpoint), and a line in the book.
#[projector("note.:note_id.posted", consistency = eventual)]
async fn notes(e: &Recorded<Posted>, cx: &mut Cx<'_>) -> Result<(), String> {
    let failing = book(|b| {
        let tried = b.tries.entry((e.note_id.clone(), e.n)).or_default();
        *tried += 1;
        *tried <= b.failing.get(&e.note_id).copied().unwrap_or(0)
    });
    if failing {
        return Err(format!("note {} is not ready", e.note_id));
    }
    let insert = "INSERT INTO note_rows (note_id, n) VALUES ($1, $2)";
    let written = match cx.sql() {
        Sql::Sqlite(conn) => sqlx::query(insert)
            .bind(&e.note_id)
            .bind(e.n)
            .execute(conn)
            .await
            .map(drop),
        Sql::Postgres(conn) => sqlx::query(insert)
            .bind(&e.note_id)
            .bind(e.n as i32)
            .execute(conn)
            .await
            .map(drop),
        _ => Ok(()),
    };
    written.map_err(|e| e.to_string())?;
    book(|b| {
        b.applied
            .entry((e.note_id.clone(), "notes"))
            .or_default()
            .push(e.n)
    });
    Ok(())
}

/// The same, without holding back a stream behind a parked event.
#[projector("note.:note_id.posted", consistency = eventual, ordered = false)]
async fn loose_notes(e: &Recorded<Posted>, _cx: &mut Cx<'_>) -> Result<(), String> {
    if book(|b| b.failing.get(&e.note_id).copied().unwrap_or(0)) == u32::MAX {
        return Err("never".into());
    }
    book(|b| {
        b.applied
            .entry((e.note_id.clone(), "loose_notes"))
            .or_default()
            .push(e.n)
    });
    Ok(())
}

/// Posts per note, in a table it declares, so that it can be rebuilt.
#[projector("note.:note_id.posted", consistency = eventual, tables = ["note_counts"])]
async fn note_counts(e: &Recorded<Posted>, cx: &mut Cx<'_>) -> Result<(), String> {
    if book(|b| b.failing.get(&e.note_id).copied().unwrap_or(0)) == u32::MAX {
        return Err(format!("note {} cannot be counted", e.note_id));
    }
    let upsert = format!(
        "INSERT INTO {} (note_id, posts) VALUES ($1, 1) ON CONFLICT (note_id) DO UPDATE SET posts = {0}.posts + 1",
        cx.table("note_counts")
    );
    let written = match cx.sql() {
        Sql::Sqlite(conn) => sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(&e.note_id)
            .execute(conn)
            .await
            .map(drop),
        Sql::Postgres(conn) => sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(&e.note_id)
            .execute(conn)
            .await
            .map(drop),
        _ => Ok(()),
    };
    written.map_err(|e| e.to_string())
}

/// Counts every note event in a tally, as the actor that posted it.
#[processor("note.:note_id.posted", consistency = eventual)]
async fn tally(e: &Recorded<Posted>, _cx: &mut Cx<'_>) -> Result<Count, String> {
    Ok(Count {
        note_id: e.note_id.clone(),
        n: e.n,
    })
}

/// Any event at all, untyped.
#[projector("*", consistency = eventual)]
async fn everything(e: &RecordedEvent, _cx: &mut Cx<'_>) {
    if let Some(note) = e.payload.get("note_id").and_then(|n| n.as_str()) {
        let what = e.route.as_str().split('.').next().unwrap_or_default();
        let n = u32::from(what == "tally");
        book(|b| {
            b.applied
                .entry((note.to_owned(), "everything"))
                .or_default()
                .push(n)
        });
    }
}

const WAIT: Duration = Duration::from_secs(20);

fn note() -> String {
    Uuid::now_v7().simple().to_string()
}

fn poster() -> Actor {
    Actor::new("ada", "default").with_role("counter")
}

/// A runtime over these fixtures: tries each event 3 times, a millisecond apart.
async fn herald(store: &Arc<dyn EventStore>) -> Herald {
    with_tables(builder(store).build().await.expect("consistent fixtures")).await
}

/// `herald`, with the projectors' tables made if missing.
async fn with_tables(herald: Herald) -> Herald {
    let create = "CREATE TABLE IF NOT EXISTS note_rows (note_id TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (note_id, n))";
    // A `serial` column and an index of its own: a rebuild keeps both.
    let counts = "CREATE TABLE IF NOT EXISTS note_counts (id SERIAL, note_id TEXT PRIMARY KEY, posts INTEGER NOT NULL)";
    let index = "CREATE INDEX IF NOT EXISTS note_counts_by_posts ON note_counts (posts)";
    for create in [create, counts, index] {
        sql(&herald, create).await;
    }
    herald
}

fn builder(store: &Arc<dyn EventStore>) -> herald::HeraldBuilder {
    Herald::builder()
        .modules(["consumers"])
        .store(store.clone())
        .consumer_retry(
            RetryPolicy::new(3)
                .base(Duration::from_millis(1))
                .cap(Duration::from_millis(5)),
        )
}

async fn post(herald: &Herald, note: &str, n: u32) -> Dispatched {
    let post = Post {
        note_id: note.to_owned(),
        n,
    };
    herald.dispatch(post).actor(poster()).await.unwrap()
}

/// Posts event 1 of each note in one commit, so that a worker reads them in one batch;
/// the events of the last.
async fn post_together(herald: &Herald, notes: [&str; 2]) -> Vec<RecordedEvent> {
    let mut tx = herald.begin().await.unwrap();
    let mut last = Vec::new();
    for note in notes {
        let post = Post {
            note_id: note.to_owned(),
            n: 1,
        };
        last = tx
            .dispatch(post)
            .actor(poster())
            .await
            .unwrap()
            .into_events();
    }
    tx.commit().await.unwrap();
    last
}

/// The rows `notes` wrote for `note`, on SQL stores (`None` in memory).
async fn rows(herald: &Herald, note: &str) -> Option<Vec<u32>> {
    let mut tx = herald.begin().await.unwrap();
    let select = "SELECT n FROM note_rows WHERE note_id = $1 ORDER BY n";
    let rows: Option<Vec<i64>> = match tx.sql() {
        Sql::Sqlite(conn) => Some(
            sqlx::query_scalar(select)
                .bind(note)
                .fetch_all(conn)
                .await
                .unwrap(),
        ),
        Sql::Postgres(conn) => {
            let rows: Vec<i32> = sqlx::query_scalar(select)
                .bind(note)
                .fetch_all(conn)
                .await
                .unwrap();
            Some(rows.into_iter().map(i64::from).collect())
        }
        _ => None,
    };
    tx.rollback().await.unwrap();
    rows.map(|rows| rows.into_iter().map(|n| n as u32).collect())
}

/// Eventual projectors run after the commit, in order; waiting for them makes their
/// writes readable; they checkpoint past every event, their own or not.
#[on_every_backend]
async fn eventual_projectors_catch_up_after_the_commit(test: &TestStore) {
    let herald = herald(&test.store).await;
    let note = note();
    for n in 1..=3 {
        let posted = herald
            .dispatch(Post {
                note_id: note.clone(),
                n,
            })
            .actor(poster())
            .wait_for(["notes", "loose_notes"], WAIT)
            .await
            .unwrap();
        assert_eq!(posted.events().len(), 1);
    }
    assert_eq!(applied(&note, "notes"), [1, 2, 3]);
    assert_eq!(applied(&note, "loose_notes"), [1, 2, 3]);
    if let Some(rows) = rows(&herald, &note).await {
        assert_eq!(rows, [1, 2, 3], "the rows, written with the checkpoint");
    }
    let last = post(&herald, &note, 4).await;
    let consumers = herald.consumers();
    consumers
        .wait_for(
            last.events(),
            ["notes", "loose_notes", "tally", "everything"],
            WAIT,
        )
        .await
        .unwrap();
    let list = consumers.list().await.unwrap();
    let names: Vec<&str> = list.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        ["everything", "loose_notes", "note_counts", "notes", "tally"]
    );
    let notes = list.iter().find(|c| c.name == "notes").unwrap();
    assert!(
        notes.running && notes.parked == 0 && notes.error.is_none(),
        "{notes:?}"
    );
    assert_eq!(notes.kind, "projector");
    assert!(notes.position >= last.events()[0].position);
}

/// A failing event is tried again with backoff; once it succeeds nothing is parked.
#[on_every_backend]
async fn a_failing_event_is_tried_again_until_it_succeeds(test: &TestStore) {
    let herald = herald(&test.store).await;
    let note = note();
    fail(&note, 2); // the third try succeeds
    let posted = post(&herald, &note, 1).await;
    herald
        .consumers()
        .wait_for(posted.events(), ["notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(tries(&note, 1), 3);
    assert_eq!(applied(&note, "notes"), [1]);
    assert!(
        herald
            .consumers()
            .dead_letters("notes")
            .await
            .unwrap()
            .is_empty()
    );
}

/// After its last try an event is parked with its error; later events of its stream are
/// parked behind it while other streams flow on; a retry runs them all, in order.
#[on_every_backend]
async fn a_parked_event_holds_back_its_stream_until_retried(test: &TestStore) {
    let herald = herald(&test.store).await;
    let (stuck, free) = (note(), note());
    fail(&stuck, 5);
    let first = post(&herald, &stuck, 1).await;
    let second = post(&herald, &stuck, 2).await;
    let other = post(&herald, &free, 1).await;
    let consumers = herald.consumers();
    consumers
        .wait_for(other.events(), ["notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(applied(&free, "notes"), [1], "another stream flows on");
    assert!(applied(&stuck, "notes").is_empty());
    assert_eq!(tries(&stuck, 1), 3, "tried as often as the policy says");
    assert_eq!(
        tries(&stuck, 2),
        0,
        "never tried while the one before it is parked"
    );

    let error = consumers
        .wait_for(first.events(), ["notes"], WAIT)
        .await
        .unwrap_err();
    match error.kind() {
        ErrorKind::Parked {
            consumer,
            attempts,
            error,
            ..
        } => {
            assert_eq!((consumer.as_str(), *attempts), ("notes", 3));
            assert!(error.contains("is not ready"), "{error}");
        }
        other => panic!("expected a parked event, got {other:?}"),
    }
    let letters = consumers.dead_letters("notes").await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let first_id = first.events()[0].event_id;
    assert_eq!(letters[0].event_id, first_id);
    assert_eq!((letters[0].attempts, letters[0].behind), (3, None));
    assert!(letters[0].error.contains("is not ready"));
    assert_eq!(letters[1].event_id, second.events()[0].event_id);
    assert_eq!(letters[1].behind, Some(first_id));
    // The unordered projector did not wait.
    assert_eq!(applied(&stuck, "loose_notes"), [1, 2]);

    // Retrying the one behind first is refused: order is kept.
    let refused = consumers
        .retry("notes", letters[1].event_id)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("waits behind"), "{refused}");
    // Still failing: the retry returns the error, and the letter counts the try.
    let again = consumers.retry("notes", first_id).await.unwrap_err();
    assert!(
        matches!(again.kind(), ErrorKind::Consumer { .. }),
        "{again}"
    );
    let letters = consumers.dead_letters("notes").await.unwrap();
    assert_eq!((letters.len(), letters[0].attempts), (2, 4));
    // Fixed: the retry runs it and the one behind it, in order.
    fail(&stuck, 0);
    consumers.retry("notes", first_id).await.unwrap();
    assert_eq!(applied(&stuck, "notes"), [1, 2]);
    assert!(consumers.dead_letters("notes").await.unwrap().is_empty());
    if let Some(rows) = rows(&herald, &stuck).await {
        assert_eq!(rows, [1, 2]);
    }
    // And later events of the stream flow again.
    let third = post(&herald, &stuck, 3).await;
    consumers
        .wait_for(third.events(), ["notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(applied(&stuck, "notes"), [1, 2, 3]);
}

/// Skipping a parked event gives up on it and runs the events behind it.
#[on_every_backend]
async fn skipping_a_parked_event_releases_the_ones_behind_it(test: &TestStore) {
    let herald = herald(&test.store).await;
    let note = note();
    fail(&note, 3); // every try of the first event fails
    let first = post(&herald, &note, 1).await;
    let consumers = herald.consumers();
    let parked = consumers.wait_for(first.events(), ["notes"], WAIT).await;
    assert!(matches!(
        parked.unwrap_err().kind(),
        ErrorKind::Parked { .. }
    ));
    fail(&note, 0);
    let second = post(&herald, &note, 2).await;
    let parked = consumers.wait_for(second.events(), ["notes"], WAIT).await;
    assert!(matches!(
        parked.unwrap_err().kind(),
        ErrorKind::Parked { .. }
    ));
    consumers
        .skip("notes", first.events()[0].event_id)
        .await
        .unwrap();
    assert_eq!(applied(&note, "notes"), [2], "the first never applied");
    assert!(consumers.dead_letters("notes").await.unwrap().is_empty());
    let unknown = consumers.skip("notes", first.events()[0].event_id).await;
    assert!(unknown.unwrap_err().to_string().contains("has not parked"));
    let nobody = consumers.dead_letters("nobody").await.unwrap_err();
    assert!(
        nobody.to_string().contains("notes"),
        "names the consumers there are: {nobody}"
    );
}

/// An eventual processor's command runs as the event's actor (roles included), caused
/// by the event, with its correlation id, once.
#[on_every_backend]
async fn an_eventual_processor_dispatches_its_command_once(test: &TestStore) {
    let herald = herald(&test.store).await;
    let note = note();
    let posted = post(&herald, &note, 7).await;
    herald
        .consumers()
        .wait_for(posted.events(), ["tally"], WAIT)
        .await
        .unwrap();
    let source = &posted.events()[0];
    let tally = StreamKey::new("default", "tally", note.as_str()).unwrap();
    let counted = test.store.read_stream(&tally, 0).await.unwrap();
    assert_eq!(counted.len(), 1, "one command for the event");
    let counted = &counted[0];
    assert_eq!(counted.metadata.causation_id, source.event_id);
    assert_eq!(
        counted.metadata.correlation_id,
        source.metadata.correlation_id
    );
    assert_eq!(counted.metadata.actor, "ada");
    assert_eq!(
        counted.metadata.roles,
        ["counter"],
        "as the actor, with its role"
    );
    let event: Counted = counted.decode().unwrap();
    assert_eq!(event.n, 7);
    // The untyped projector saw the note's event and the tally's, in the global order.
    herald
        .consumers()
        .wait_for(std::slice::from_ref(counted), ["everything"], WAIT)
        .await
        .unwrap();
    assert_eq!(applied(&note, "everything"), [0, 1]);
}

/// Stopped workers finish their batch; a runtime started later resumes from the
/// checkpoints, and runs nothing twice.
#[on_every_backend]
async fn a_stopped_runtime_resumes_from_its_checkpoints(test: &TestStore) {
    let note = note();
    let first = herald(&test.store).await;
    let one = post(&first, &note, 1).await;
    first
        .consumers()
        .wait_for(one.events(), ["notes"], WAIT)
        .await
        .unwrap();
    first.shutdown().await;
    let two = post(&first, &note, 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(applied(&note, "notes"), [1], "stopped: the second waits");
    let status = first.consumers().list().await.unwrap();
    let notes = status.iter().find(|c| c.name == "notes").unwrap();
    assert!(notes.lag >= 1, "{notes:?}");

    // A runtime that does not run consumers leaves them to others.
    let idle = builder(&test.store)
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let waited = idle
        .consumers()
        .wait_for(two.events(), ["notes"], Duration::from_millis(200))
        .await;
    assert!(matches!(
        waited.unwrap_err().kind(),
        ErrorKind::Timeout { .. }
    ));

    let second = herald(&test.store).await;
    second
        .consumers()
        .wait_for(two.events(), ["notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(
        applied(&note, "notes"),
        [1, 2],
        "resumed; the first not again"
    );
    if let Some(rows) = rows(&second, &note).await {
        assert_eq!(rows, [1, 2]);
    }
}

/// On PostgreSQL a commit in another process wakes the workers at once (`NOTIFY`): here
/// a second store on the same schema stands for the other process, and the workers poll
/// only once a minute, so only the notice can wake them in time.
#[on_every_backend]
async fn a_commit_elsewhere_wakes_the_workers(test: &TestStore) {
    let Some(elsewhere) = test.reopen().await else {
        return; // one process's store: nothing else can commit
    };
    let workers = builder(&test.store)
        .consumer_poll(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let note = note();
    // Idle, the workers wait 10 ms, then twice as long each time: 3 s in, they are in a
    // wait from about 2.5 s to 5 s, so only the notice can wake them within the 1.5 s
    // allowed below.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let other = builder(&elsewhere)
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let posted = post(&other, &note, 1).await;
    workers
        .consumers()
        .wait_for(
            posted.events(),
            ["loose_notes"],
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
    assert_eq!(applied(&note, "loose_notes"), [1]);
}

/// Commits in another process wake the workers within milliseconds, also those of a
/// caller's transaction: each round comes after the workers were idle 1.5 s, when they
/// are in a wait that ends about 2.5 s after they last handled an event (10 ms, then
/// twice as long each time), so a round that only polling delivered would take a second
/// or more. (On PostgreSQL the notice is sent by the committing process's store after
/// the commit; elsewhere there is no other process.)
#[on_every_backend]
async fn a_commit_elsewhere_wakes_the_workers_within_milliseconds(test: &TestStore) {
    let Some(elsewhere) = test.reopen().await else {
        return;
    };
    let workers = builder(&test.store)
        .consumer_poll(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let workers = with_tables(workers).await;
    let other = builder(&elsewhere)
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (note, together) = (note(), note());
        let events = match round % 2 {
            0 => post(&other, &note, 1).await.into_events(),
            _ => post_together(&other, [&together, &note]).await,
        };
        let committed = std::time::Instant::now();
        workers
            .consumers()
            .wait_for(&events, ["loose_notes"], WAIT)
            .await
            .unwrap();
        let woken = committed.elapsed();
        assert!(
            woken < Duration::from_millis(400),
            "round {round}: readable {woken:?} after the commit elsewhere"
        );
        assert_eq!(applied(&note, "loose_notes"), [1]);
    }
}

/// A burst of concurrent commits in another process reaches the workers whole and at
/// once: its notices fold together while one is on its way, and the last commits are
/// told of too. The burst starts after the workers were idle 1.5 s (see above) and
/// lasts a fraction of a second, so polling alone would deliver its end late.
#[on_every_backend]
async fn a_burst_of_commits_elsewhere_is_all_delivered(test: &TestStore) {
    let Some(elsewhere) = test.reopen().await else {
        return;
    };
    let workers = builder(&test.store)
        .consumer_poll(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let workers = with_tables(workers).await;
    let other = builder(&elsewhere)
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let other = other.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for _ in 0..8 {
                    let note = note();
                    let events = post(&other, &note, 1).await.into_events();
                    written.push((note, events));
                }
                written
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let events: Vec<RecordedEvent> = written.iter().flat_map(|(_, e)| e.clone()).collect();
    let committed = std::time::Instant::now();
    workers
        .consumers()
        .wait_for(&events, ["loose_notes", "notes"], WAIT)
        .await
        .unwrap();
    let (burst, woken) = (committed - started, committed.elapsed());
    assert!(
        woken < Duration::from_millis(400),
        "the last of the burst ({burst:?}) readable {woken:?} after it committed"
    );
    for (note, _) in &written {
        assert_eq!(applied(note, "loose_notes"), [1], "{note}");
        assert_eq!(rows(&workers, note).await, Some(vec![1]), "{note}");
    }
}

/// A transaction that appended first and commits last is not skipped: the consumer waits
/// for it, then takes the events in the global order. (SQLite has one writer at a time,
/// so its transactions cannot commit out of order.)
#[on_every_backend]
async fn an_event_committed_late_is_not_skipped(test: &TestStore) {
    if test.kind() == "sqlite" {
        return;
    }
    let herald = herald(&test.store).await;
    let (early, late) = (note(), note());
    let mut slow = herald.begin().await.unwrap();
    let first = slow
        .dispatch(Post {
            note_id: early.clone(),
            n: 1,
        })
        .actor(poster())
        .await
        .unwrap();
    let second = post(&herald, &late, 1).await;
    // The later commit is not taken while the earlier transaction is open.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        applied(&late, "loose_notes").is_empty(),
        "it waits for the open transaction"
    );
    slow.commit().await.unwrap();
    let consumers = herald.consumers();
    consumers
        .wait_for(first.events(), ["loose_notes"], WAIT)
        .await
        .unwrap();
    consumers
        .wait_for(second.events(), ["loose_notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(applied(&early, "loose_notes"), [1]);
    assert_eq!(applied(&late, "loose_notes"), [1]);
}

/// When an event fails after others of its batch were handled, the batch is undone and
/// the events before it run again on their own: their rows are written once (their other
/// effects, like the book here, at least once), and the failing event is tried again.
#[on_every_backend]
async fn a_failure_mid_batch_keeps_the_events_before_it_once(test: &TestStore) {
    let herald = herald(&test.store).await;
    let (fine, flaky) = (note(), note());
    fail(&flaky, 1);
    let last = post_together(&herald, [&fine, &flaky]).await;
    herald
        .consumers()
        .wait_for(&last, ["notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(tries(&flaky, 1), 2);
    assert_eq!(tries(&fine, 1), 2, "run again once its batch was undone");
    if let (Some(fine_rows), Some(flaky_rows)) =
        (rows(&herald, &fine).await, rows(&herald, &flaky).await)
    {
        assert_eq!((fine_rows, flaky_rows), (vec![1], vec![1]), "each row once");
    }
    assert!(
        herald
            .consumers()
            .dead_letters("notes")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A live subscriber gets the matching events committed after it subscribed, in order;
/// one that falls behind is told how many it skipped.
#[on_every_backend]
async fn a_live_subscriber_sees_new_events_and_is_told_what_it_skipped(test: &TestStore) {
    let herald = herald(&test.store).await;
    let before = note();
    let posted = post(&herald, &before, 1).await;
    // On PostgreSQL the tail starts at the last event no older transaction can still
    // precede: wait until the workers' transactions are past the one posted before.
    let consumers = herald.consumers();
    let names: Vec<&str> = consumers
        .list()
        .await
        .unwrap()
        .iter()
        .map(|c| c.name)
        .collect();
    consumers
        .wait_for(posted.events(), names, WAIT)
        .await
        .unwrap();
    let bad = herald.live("note..posted").await.unwrap_err();
    assert!(bad.to_string().contains("note..posted"), "{bad}");

    let mut live = herald.live("note.*").await.unwrap();
    let note = note();
    for n in 1..=3 {
        post(&herald, &note, n).await;
    }
    for n in 1..=3 {
        let next = tokio::time::timeout(WAIT, live.next()).await.unwrap();
        match next {
            Some(herald::Live::Event(event)) => {
                assert_eq!(event.route.as_str(), format!("note.{note}.posted"));
                let posted: Posted = event.decode().unwrap();
                assert_eq!(posted.n, n, "in order, none from before it subscribed");
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
    assert_eq!(live.skipped(), 0);

    if test.kind() != "memory" {
        return; // falling behind is the same on every store; memory is quick to fill
    }
    // More notes than a subscriber may fall behind, with their tallies.
    for n in 0..1100 {
        post(&herald, &note, 10 + n).await;
    }
    // The runtime's tail hands them over as it reads them: wait until they overflow.
    let deadline = tokio::time::Instant::now() + WAIT;
    while live.behind() <= 1024 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} behind",
            live.behind()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut skipped = 0;
    while skipped == 0 {
        match tokio::time::timeout_at(deadline, live.next())
            .await
            .unwrap()
        {
            Some(herald::Live::Skipped(missed)) => skipped = missed,
            Some(herald::Live::Event(_)) => {}
            None => panic!("the feed ended"),
        }
    }
    assert!(skipped > 0);
    assert_eq!(live.skipped(), skipped);
}

/// The posts `note_counts` counted for `note` (`None` in memory or when absent).
async fn count(herald: &Herald, note: &str) -> Option<i64> {
    let mut tx = herald.begin().await.unwrap();
    let select = "SELECT posts FROM note_counts WHERE note_id = $1";
    let posts: Option<i64> = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_scalar(select)
            .bind(note)
            .fetch_optional(conn)
            .await
            .unwrap(),
        Sql::Postgres(conn) => {
            let posts: Option<i32> = sqlx::query_scalar(select)
                .bind(note)
                .fetch_optional(conn)
                .await
                .unwrap();
            posts.map(i64::from)
        }
        _ => None,
    };
    tx.rollback().await.unwrap();
    posts
}

/// A rebuild fills fresh copies of the projector's tables from every event, reporting its
/// progress, then swaps them in with the checkpoint; the worker goes on from there. A
/// failing event stops it and leaves the tables as they were; `only` narrows it.
#[on_every_backend]
async fn a_rebuild_fills_the_tables_aside_then_swaps_them_in(test: &TestStore) {
    let herald = herald(&test.store).await;
    let (a, b) = (note(), note());
    post(&herald, &a, 1).await;
    post(&herald, &a, 2).await;
    let last = post(&herald, &b, 1).await;
    let consumers = herald.consumers();
    consumers
        .wait_for(last.events(), ["note_counts"], WAIT)
        .await
        .unwrap();
    if test.kind() == "memory" {
        let refused = consumers.rebuild("note_counts").await.unwrap_err();
        assert!(
            refused.to_string().contains("needs a SQL store"),
            "{refused}"
        );
        return;
    }
    assert_eq!(
        (count(&herald, &a).await, count(&herald, &b).await),
        (Some(2), Some(1))
    );
    // A bug wrote nonsense; the rebuild puts it right.
    sql(&herald, "UPDATE note_counts SET posts = 99").await;
    let mut reports = Vec::new();
    let rebuilt = consumers
        .rebuild("note_counts")
        .on_progress(|p| reports.push(p.clone()))
        .await
        .unwrap();
    assert_eq!(
        (count(&herald, &a).await, count(&herald, &b).await),
        (Some(2), Some(1))
    );
    assert_eq!(
        rebuilt.handled, 3,
        "the three posts; the tallies are read past"
    );
    let report = reports.last().expect("progress was reported");
    assert_eq!(report.done, rebuilt.events);
    assert!(report.done >= report.total.min(rebuilt.events) && report.rate() > 0.0);
    assert_eq!(report.eta(), Some(Duration::ZERO));
    // The worker goes on into the new table.
    let more = post(&herald, &a, 3).await;
    consumers
        .wait_for(more.events(), ["note_counts"], WAIT)
        .await
        .unwrap();
    assert_eq!(count(&herald, &a).await, Some(3));

    // Only some events: b's count is gone.
    consumers
        .rebuild("note_counts")
        .only([format!("note.{a}.*")])
        .await
        .unwrap();
    assert_eq!(
        (count(&herald, &a).await, count(&herald, &b).await),
        (Some(3), None)
    );

    // A failing event stops the rebuild; the tables are as they were.
    fail(&b, u32::MAX);
    let stopped = consumers.rebuild("note_counts").await.unwrap_err();
    assert!(
        stopped.to_string().contains("cannot be counted"),
        "{stopped}"
    );
    assert_eq!(
        (count(&herald, &a).await, count(&herald, &b).await),
        (Some(3), None)
    );
    fail(&b, 0);

    // The swapped-in table kept its index, under its name.
    let mut tx = herald.begin().await.unwrap();
    let indexes: Vec<String> = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'note_counts' AND sql IS NOT NULL",
        )
        .fetch_all(conn)
        .await
        .unwrap(),
        Sql::Postgres(conn) => sqlx::query_scalar(
            // This schema's indexes first: `pg_indexes` would describe every index of the
            // cluster, and fails on one another test drops meanwhile.
            "WITH mine AS MATERIALIZED (SELECT x.indexrelid, c.relname FROM pg_index x \
             JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             WHERE t.relname = 'note_counts' AND t.relnamespace = current_schema()::regnamespace) \
             SELECT relname::text FROM mine WHERE pg_get_indexdef(indexrelid) LIKE '%(posts)%'",
        )
        .fetch_all(conn)
        .await
        .unwrap(),
        _ => unreachable!(),
    };
    tx.rollback().await.unwrap();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    if test.kind() == "sqlite" {
        assert_eq!(indexes, ["note_counts_by_posts"]);
    }

    let no_tables = consumers.rebuild("notes").await.unwrap_err();
    assert!(
        no_tables.to_string().contains("declare the tables"),
        "{no_tables}"
    );
    let processor = consumers.rebuild("tally").await.unwrap_err();
    assert!(
        processor.to_string().contains("only an eventual projector"),
        "{processor}"
    );
}

/// Resetting a consumer runs it again on every later event.
#[on_every_backend]
async fn a_reset_consumer_runs_again_from_there(test: &TestStore) {
    let herald = herald(&test.store).await;
    let note = note();
    let first = post(&herald, &note, 1).await;
    let second = post(&herald, &note, 2).await;
    let consumers = herald.consumers();
    consumers
        .wait_for(second.events(), ["loose_notes"], WAIT)
        .await
        .unwrap();
    assert_eq!(applied(&note, "loose_notes"), [1, 2]);
    consumers
        .reset("loose_notes", first.events()[0].position)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while applied(&note, "loose_notes").len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "never replayed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        applied(&note, "loose_notes"),
        [1, 2, 2],
        "only the events after the position"
    );
}

/// A failing event that comes after events not its handler's, in one batch, counts its
/// tries and is parked after the last (it is not tried for ever).
#[on_every_backend]
async fn a_failing_event_after_others_not_its_own_is_parked(test: &TestStore) {
    let herald = herald(&test.store).await;
    let note = note();
    fail(&note, 99);
    let mut tx = herald.begin().await.unwrap();
    // A tally event (not `notes`' own), then the failing note, in one commit.
    let count = Count {
        note_id: note.clone(),
        n: 0,
    };
    tx.dispatch(count).actor(poster()).await.unwrap();
    let post = Post {
        note_id: note.clone(),
        n: 1,
    };
    let posted = tx.dispatch(post).actor(poster()).await.unwrap();
    tx.commit().await.unwrap();
    let parked = herald
        .consumers()
        .wait_for(posted.events(), ["notes"], WAIT)
        .await;
    assert!(matches!(
        parked.unwrap_err().kind(),
        ErrorKind::Parked { attempts: 3, .. }
    ));
    assert_eq!(tries(&note, 1), 3);
}

/// An event that keeps failing after another of its batch was handled: the undone batch
/// was its first try, and it is parked after the last of the tries the policy allows.
#[on_every_backend]
async fn a_failing_event_after_a_handled_one_is_tried_as_often_as_allowed(test: &TestStore) {
    let herald = herald(&test.store).await;
    let (fine, broken) = (note(), note());
    fail(&broken, 99);
    let last = post_together(&herald, [&fine, &broken]).await;
    let parked = herald.consumers().wait_for(&last, ["notes"], WAIT).await;
    assert!(matches!(
        parked.unwrap_err().kind(),
        ErrorKind::Parked { attempts: 3, .. }
    ));
    assert_eq!(
        tries(&broken, 1),
        3,
        "three tries in all, the undone batch's included"
    );
    assert_eq!(
        applied(&fine, "notes"),
        [1, 1],
        "its neighbour ran again (the book is not transactional)"
    );
    if let Some(rows) = rows(&herald, &fine).await {
        assert_eq!(rows, [1], "but its row is written once");
    }
}

/// Where a transaction is held open while this store's events commit.
#[derive(Clone, Copy, Debug)]
#[allow(
    clippy::enum_variant_names,
    reason = "each is another place: `Elsewhere::AnotherTable` says it"
)]
enum Elsewhere {
    /// In another database of the same server.
    AnotherDatabase,
    /// In this database, writing a table that is not Herald's.
    AnotherTable,
    /// In another Herald store (schema) of this database, in the middle of a dispatch.
    AnotherStore,
}

/// A transaction kept open by [`a_transaction_elsewhere_holds_no_reader_back`].
enum Held {
    Connection(sqlx::PgConnection),
    Herald(Box<(herald::HeraldTransaction, TestStore)>),
}

/// The id of the transaction running on `conn`.
async fn transaction_id(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// A transaction that holds a transaction id somewhere else on the PostgreSQL server
/// does not hold this store's readers back: every `wait_for` returns at once. (Readers
/// that waited for every transaction of the server stopped until it ended.)
async fn a_transaction_elsewhere_holds_no_reader_back(test: &TestStore, place: Elsewhere) {
    use sqlx::Connection;
    if test.kind() != "postgres" {
        return;
    }
    let herald = herald(&test.store).await;
    let options: sqlx::postgres::PgConnectOptions =
        herald_tests::backends::database_url().parse().unwrap();
    let (mut held, held_id) = match place {
        Elsewhere::AnotherDatabase | Elsewhere::AnotherTable => {
            let (options, write) = match place {
                Elsewhere::AnotherDatabase => (
                    options.clone().database("postgres"),
                    "CREATE TEMP TABLE held_elsewhere (n INTEGER)",
                ),
                _ => (
                    options.clone(),
                    "INSERT INTO public.held_elsewhere VALUES (1)",
                ),
            };
            let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
            sqlx::query("CREATE TABLE IF NOT EXISTS public.held_elsewhere (n INTEGER)")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            sqlx::query(write).execute(&mut conn).await.unwrap();
            let id = transaction_id(&mut conn).await;
            (Held::Connection(conn), id)
        }
        Elsewhere::AnotherStore => {
            let store = TestStore::postgres().await;
            let other = builder(&store.store)
                .run_consumers(false)
                .build()
                .await
                .unwrap();
            let mut tx = other.begin().await.unwrap();
            tx.dispatch(Post {
                note_id: note(),
                n: 1,
            })
            .actor(poster())
            .await
            .unwrap();
            let Sql::Postgres(conn) = tx.sql() else {
                unreachable!("a PostgreSQL store")
            };
            let id = transaction_id(conn).await;
            (Held::Herald(Box::new((tx, store))), id)
        }
    };
    let note = note();
    for n in 1..=3 {
        let started = std::time::Instant::now();
        herald
            .dispatch(Post {
                note_id: note.clone(),
                n,
            })
            .actor(poster())
            .wait_for(["notes"], Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{place:?}: post {n} was not read: {e}"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{place:?}: post {n} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(applied(&note, "notes"), [1, 2, 3]);
    // The server's own horizon stayed at or below the held transaction all along, so
    // readers going by it could not have read these events.
    let mut probe = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let xmin: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut probe)
            .await
            .unwrap();
    assert!(
        xmin <= held_id,
        "{place:?}: the held transaction {held_id} is not running (xmin {xmin})"
    );
    match held {
        Held::Connection(ref mut conn) => {
            sqlx::query("ROLLBACK").execute(conn).await.unwrap();
        }
        Held::Herald(held) => held.0.rollback().await.unwrap(),
    }
}

/// Whether running `statement` on the store succeeds (SQL stores only).
async fn sql_succeeds(herald: &Herald, statement: &str) -> bool {
    let mut tx = herald.begin().await.unwrap();
    let ran = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(conn)
            .await
            .is_ok(),
        Sql::Postgres(conn) => sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(conn)
            .await
            .is_ok(),
        _ => unreachable!("a SQL store"),
    };
    tx.rollback().await.unwrap();
    ran
}

/// A rebuild keeps what the table had beside its columns and indexes: its foreign keys
/// and its triggers. A table that a view or another table's foreign key depends on is
/// refused before anything is built, naming what depends on it.
#[on_every_backend]
async fn a_rebuild_keeps_triggers_and_foreign_keys_and_refuses_dependents(test: &TestStore) {
    if test.kind() == "memory" {
        return;
    }
    let herald = builder(&test.store).build().await.unwrap();
    let (a, b) = (note(), note());
    let trigger = match test.kind() {
        "sqlite" => vec![
            "CREATE TRIGGER note_counts_logged AFTER UPDATE ON note_counts \
             BEGIN INSERT INTO note_count_log VALUES (NEW.note_id, NEW.posts); END"
                .to_owned(),
        ],
        _ => vec![
            "CREATE FUNCTION log_note_count() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN INSERT INTO note_count_log VALUES (NEW.note_id, NEW.posts); RETURN NEW; END $$"
                .to_owned(),
            "CREATE TRIGGER note_counts_logged AFTER UPDATE ON note_counts \
             FOR EACH ROW EXECUTE FUNCTION log_note_count()"
                .to_owned(),
        ],
    };
    let setup = [
        "CREATE TABLE note_rows (note_id TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (note_id, n))".to_owned(),
        "CREATE TABLE note_owners (note_id TEXT PRIMARY KEY)".to_owned(),
        "CREATE TABLE note_counts (note_id TEXT PRIMARY KEY REFERENCES note_owners (note_id), posts INTEGER NOT NULL)".to_owned(),
        "CREATE TABLE note_count_log (note_id TEXT, posts INTEGER)".to_owned(),
        format!("INSERT INTO note_owners VALUES ('{a}'), ('{b}')"),
    ];
    for statement in setup.iter().chain(&trigger) {
        sql(&herald, statement).await;
    }
    post(&herald, &a, 1).await;
    let last = post(&herald, &a, 2).await;
    let consumers = herald.consumers();
    consumers
        .wait_for(last.events(), ["note_counts"], WAIT)
        .await
        .unwrap();
    consumers.rebuild("note_counts").await.unwrap();
    assert_eq!(count(&herald, &a).await, Some(2));

    // The trigger came along: an update after the swap is logged.
    let more = post(&herald, &a, 3).await;
    consumers
        .wait_for(more.events(), ["note_counts"], WAIT)
        .await
        .unwrap();
    let logged = format!("SELECT 1 FROM note_count_log WHERE note_id = '{a}' AND posts = 3");
    let mut tx = herald.begin().await.unwrap();
    let found = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query(sqlx::AssertSqlSafe(logged))
            .fetch_optional(conn)
            .await
            .unwrap()
            .is_some(),
        Sql::Postgres(conn) => sqlx::query(sqlx::AssertSqlSafe(logged))
            .fetch_optional(conn)
            .await
            .unwrap()
            .is_some(),
        _ => unreachable!(),
    };
    tx.rollback().await.unwrap();
    assert!(found, "the trigger fires on the rebuilt table");
    // So did the foreign key: a count for a note nobody owns is refused.
    let unowned = "INSERT INTO note_counts (note_id, posts) VALUES ('nobody', 1)";
    assert!(
        !sql_succeeds(&herald, unowned).await,
        "the foreign key holds"
    );

    // What depends on the table is named, and nothing is built.
    for (dependent, create, named) in [
        (
            "a view",
            "CREATE VIEW busy_notes AS SELECT note_id FROM note_counts WHERE posts > 1",
            "view `busy_notes`",
        ),
        (
            "a foreign key",
            "CREATE TABLE note_tags (note_id TEXT REFERENCES note_counts (note_id))",
            "note_tags",
        ),
    ] {
        sql(&herald, create).await;
        let refused = consumers.rebuild("note_counts").await.unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("its table `note_counts` cannot be swapped")
                && message.contains(named),
            "{dependent}: {message}"
        );
        assert!(
            !sql_succeeds(&herald, "SELECT 1 FROM note_counts__rebuild").await,
            "{dependent}: no copy was built"
        );
        let drop = match dependent {
            "a view" => "DROP VIEW busy_notes",
            _ => "DROP TABLE note_tags",
        };
        sql(&herald, drop).await;
    }
    assert_eq!(count(&herald, &a).await, Some(3));
}

/// `sqlite::memory:` keeps its database in one connection: a worker must read what it
/// needs in its transaction, never through the pool the transaction holds.
mod sqlite_in_one_connection {
    use herald_tests::backends::TestStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parked_event_holds_back_its_stream_until_retried() {
        let test = TestStore::sqlite_in_memory().await;
        super::a_parked_event_holds_back_its_stream_until_retried(&test).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn skipping_a_parked_event_releases_the_ones_behind_it() {
        let test = TestStore::sqlite_in_memory().await;
        super::skipping_a_parked_event_releases_the_ones_behind_it(&test).await;
    }
}

/// PostgreSQL: readers are held back by this store's transactions only.
mod postgres_horizon {
    use super::{Elsewhere, a_transaction_elsewhere_holds_no_reader_back};
    use herald_tests::backends::TestStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_in_another_database_holds_no_reader_back() {
        let test = TestStore::postgres().await;
        a_transaction_elsewhere_holds_no_reader_back(&test, Elsewhere::AnotherDatabase).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_on_another_table_holds_no_reader_back() {
        let test = TestStore::postgres().await;
        a_transaction_elsewhere_holds_no_reader_back(&test, Elsewhere::AnotherTable).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_of_another_store_holds_no_reader_back() {
        let test = TestStore::postgres().await;
        a_transaction_elsewhere_holds_no_reader_back(&test, Elsewhere::AnotherStore).await;
    }
}
