//! The promises every [`EventStore`] keeps, written once as test cases and run on every
//! backend: the in-memory store, a SQLite file and PostgreSQL. A second writer always
//! begins inside its own concurrent branch: SQLite admits one writer at a time from
//! `BEGIN`, the others from the first conflicting write, and the outcomes are the same.

use std::time::{Duration, SystemTime};

use herald::Uuid;
use herald::route::Pattern;
use herald::store::{
    EventStore, Position, RecordedEvent, ResultJson, Snapshot, Sql, StoreError, StoreTransaction,
    StreamKey,
};

use herald_tests::backends::TestStore;
use herald_tests::events::{event, read_all_settled, read_settled, stream};
use herald_tests::on_every_backend;

fn numbers(events: &[RecordedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.payload["n"].as_u64().expect("n"))
        .collect()
}

fn is_conflict(
    result: &Result<Vec<RecordedEvent>, StoreError>,
    expected: u64,
    actual: u64,
) -> bool {
    matches!(result, Err(StoreError::Conflict(c)) if (c.expected, c.actual) == (expected, actual))
}

async fn commit_one(store: &dyn EventStore, stream: &StreamKey, expected: u64, n: u64) {
    let mut tx = store.begin().await.unwrap();
    tx.append(stream, expected, vec![event(stream, n)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Appends commit in order; streams read back with versions 1.., the global order in
/// position order, in batches.
#[on_every_backend]
async fn append_and_read(test: &TestStore) {
    let store = &*test.store;
    let (a, b) = (stream("a"), stream("b"));
    let mut tx = store.begin().await.unwrap();
    let first = tx
        .append(&a, 0, vec![event(&a, 1), event(&a, 2)])
        .await
        .unwrap();
    assert_eq!(first.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    tx.append(&b, 0, vec![event(&b, 3)]).await.unwrap();
    assert_eq!(
        numbers(&tx.load_stream(&a, 0).await.unwrap()),
        [1, 2],
        "a transaction reads its own appends"
    );
    assert!(
        store.read_stream(&a, 0).await.unwrap().is_empty(),
        "nothing is visible before commit"
    );
    tx.commit().await.unwrap();
    commit_one(store, &a, 2, 4).await;

    let read = store.read_stream(&a, 0).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(numbers(&read), [1, 2, 4]);
    assert_eq!(
        numbers(&store.read_stream(&a, 2).await.unwrap()),
        [4],
        "from a version"
    );
    let all = read_all_settled(store, Position::START, 4).await;
    assert_eq!(numbers(&all), [1, 2, 3, 4]);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    // In batches: read settled, as another test's transaction can hold one read back.
    let batch = read_settled(store, all[0].position, 2, 2).await;
    assert_eq!(numbers(&batch), [2, 3], "after a position, in batches");
    assert_eq!(all[0].route.as_str(), "thing.a.happened");
    assert_eq!(
        first[0].position, all[0].position,
        "append returns the stored position"
    );
}

/// The global order read a page at a time, filtered by route pattern: every matching
/// event once, in order, and a page of none that match still moves the reader on.
#[on_every_backend]
async fn reads_can_be_filtered_by_route_pattern(test: &TestStore) {
    let store = &*test.store;
    let (a, b) = (stream("a"), stream("b"));
    for (n, s) in [(1, &a), (2, &b), (3, &b), (4, &b), (5, &a), (6, &b)] {
        let version = store.read_stream(s, 0).await.unwrap().len() as u64;
        commit_one(store, s, version, n).await;
    }
    read_all_settled(store, Position::START, 6).await;
    let only_a = [Pattern::parse("thing.a.*").unwrap()];
    let mut pages = Vec::new();
    let mut at = Position::START;
    loop {
        let page = store.read_matching(at, 2, &only_a).await.unwrap();
        if page.next == at {
            assert!(page.events.is_empty());
            break;
        }
        assert!(page.next > at);
        pages.push(numbers(&page.events));
        at = page.next;
    }
    assert_eq!(
        pages,
        [vec![1], vec![], vec![5]],
        "pages of two events examined"
    );
    let everything = store.read_matching(Position::START, 10, &[]).await.unwrap();
    assert_eq!(numbers(&everything.events), [1, 2, 3, 4, 5, 6]);
    assert_eq!(everything.next, everything.events[5].position);
    let either = [
        Pattern::parse("nothing.*").unwrap(),
        Pattern::parse("*.b.:verb").unwrap(),
    ];
    let page = store
        .read_matching(Position::START, 10, &either)
        .await
        .unwrap();
    assert_eq!(numbers(&page.events), [2, 3, 4, 6]);
}

/// Every field of an event comes back as it went in.
#[on_every_backend]
async fn events_round_trip(test: &TestStore) {
    let store = &*test.store;
    let s = StreamKey::new("tenant-ü", "thing", "id with spaces and ü").unwrap();
    let mut new = event(&stream("route"), 1);
    new.payload = serde_json::json!({ "text": "ünïcode ✓", "nested": { "list": [1, 2.5, null, true] }, "big": u64::MAX });
    new.schema_version = 7;
    new.metadata.actor = "ada lovelace".into();
    new.metadata.causation_id = Uuid::now_v7();
    let before = SystemTime::now() - Duration::from_secs(5);
    let mut tx = store.begin().await.unwrap();
    tx.append(&s, 0, vec![new.clone()]).await.unwrap();
    tx.commit().await.unwrap();
    let read = store.read_stream(&s, 0).await.unwrap();
    let e = &read[0];
    assert_eq!(
        (e.event_id, &e.stream, e.version, &e.route, &e.name),
        (new.event_id, &s, 1, &new.route, &new.name)
    );
    assert_eq!(
        (e.schema_version, &e.payload, &e.metadata),
        (7, &new.payload, &new.metadata)
    );
    assert!(e.recorded_at > before && e.recorded_at < SystemTime::now() + Duration::from_secs(5));
}

/// An append with the wrong expected version is a conflict naming both versions; nothing
/// of it is written.
#[on_every_backend]
async fn versions_are_checked(test: &TestStore) {
    let store = &*test.store;
    let a = stream("a");
    commit_one(store, &a, 0, 1).await;
    let mut tx = store.begin().await.unwrap();
    let stale = tx.append(&a, 0, vec![event(&a, 2), event(&a, 3)]).await;
    assert!(is_conflict(&stale, 0, 1), "{stale:?}");
    let ahead = tx.append(&a, 5, vec![event(&a, 2)]).await;
    assert!(
        is_conflict(&ahead, 5, 1),
        "a version ahead of the stream would leave a gap: {ahead:?}"
    );
    tx.append(&a, 1, vec![event(&a, 4)]).await.unwrap();
    tx.commit().await.unwrap();
    let read = store.read_stream(&a, 0).await.unwrap();
    assert_eq!(
        (
            numbers(&read),
            read.iter().map(|e| e.version).collect::<Vec<_>>()
        ),
        (vec![1, 4], vec![1, 2])
    );
}

/// A second writer of a stream waits for the first, then conflicts when it committed.
#[on_every_backend]
async fn a_waiting_writer_conflicts_when_the_first_commits(test: &TestStore) {
    let store = &*test.store;
    let a = stream("a");
    let mut first = store.begin().await.unwrap();
    first.append(&a, 0, vec![event(&a, 1)]).await.unwrap();
    let (second, ()) = tokio::join!(
        async {
            let mut second = store.begin().await.unwrap();
            second.append(&a, 0, vec![event(&a, 2)]).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            first.commit().await.unwrap();
        }
    );
    assert!(is_conflict(&second, 0, 1), "{second:?}");
    assert_eq!(numbers(&store.read_stream(&a, 0).await.unwrap()), [1]);
}

/// A second writer of a stream waits for the first and goes ahead when it rolled back.
#[on_every_backend]
async fn a_waiting_writer_proceeds_when_the_first_rolls_back(test: &TestStore) {
    let store = &*test.store;
    let a = stream("a");
    let mut first = store.begin().await.unwrap();
    first.append(&a, 0, vec![event(&a, 1)]).await.unwrap();
    let (second, ()) = tokio::join!(
        async {
            let mut second = store.begin().await.unwrap();
            let appended = second.append(&a, 0, vec![event(&a, 2)]).await.unwrap();
            second.commit().await.unwrap();
            appended
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            first.rollback().await.unwrap();
        }
    );
    assert_eq!(second[0].version, 1);
    assert_eq!(numbers(&store.read_stream(&a, 0).await.unwrap()), [2]);
}

/// Writer A takes a position, writer B a later one and commits (on SQLite B must wait
/// for A); a reader polling meanwhile must not see B before A, and then sees A and B,
/// in that order.
#[on_every_backend]
async fn readers_never_skip_an_event_that_commits_later(test: &TestStore) {
    let store = &*test.store;
    let (a, b) = (stream("a"), stream("b"));
    let mut writer_a = store.begin().await.unwrap();
    let at = writer_a.append(&a, 0, vec![event(&a, 1)]).await.unwrap()[0].position;
    let (polls, ()) = tokio::join!(
        async {
            let mut polls = Vec::new();
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                polls.push(numbers(
                    &store.read_all(Position::START, 100).await.unwrap(),
                ));
            }
            writer_a.commit().await.unwrap();
            polls
        },
        async {
            let mut writer_b = store.begin().await.unwrap();
            writer_b.append(&b, 0, vec![event(&b, 2)]).await.unwrap();
            writer_b.commit().await.unwrap();
        }
    );
    assert!(
        polls.iter().all(Vec::is_empty),
        "a reader saw B before A committed: {polls:?}"
    );
    let all = read_all_settled(store, Position::START, 2).await;
    assert_eq!(numbers(&all), [1, 2]);
    assert_eq!(all[0].position, at);
    assert_eq!(
        numbers(&store.read_all(at, 100).await.unwrap()),
        [2],
        "B is after A's position"
    );
}

/// A stream's events are in the global order in version order, also when the writer of
/// the later version began first (it wrote elsewhere, then appended to the stream after
/// another writer committed to it). On PostgreSQL a transaction's id is older than the
/// other's here, so ordering by transaction id alone would put version 2 first.
#[on_every_backend]
async fn a_streams_events_stay_in_order_when_an_older_writer_commits_last(test: &TestStore) {
    let store = &*test.store;
    let (a, s) = (stream("a"), stream("s"));
    // Appends to `s` at whatever version it has in the transaction.
    async fn append_to(tx: &mut dyn StoreTransaction, s: &StreamKey, n: u64) {
        let version = tx.load_stream(s, 0).await.unwrap().len() as u64;
        tx.append(s, version, vec![event(s, n)]).await.unwrap();
    }
    let mut early = store.begin().await.unwrap();
    early.append(&a, 0, vec![event(&a, 1)]).await.unwrap();
    tokio::join!(
        async {
            let mut late = store.begin().await.unwrap();
            append_to(&mut *late, &s, 2).await;
            late.commit().await.unwrap();
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            append_to(&mut *early, &s, 3).await;
            early.commit().await.unwrap();
        }
    );
    let all = read_all_settled(store, Position::START, 3).await;
    assert_eq!(all.len(), 3);
    let versions: Vec<u64> = all
        .iter()
        .filter(|e| e.stream == s)
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [1, 2], "stream `s` in the global order: {all:#?}");
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
}

/// Rolling back to a savepoint undoes the appends after it and releases their stream.
#[on_every_backend]
async fn savepoints_undo_what_came_after(test: &TestStore) {
    let store = &*test.store;
    let (a, b) = (stream("a"), stream("b"));
    let mut tx = store.begin().await.unwrap();
    tx.append(&a, 0, vec![event(&a, 1)]).await.unwrap();
    let savepoint = tx.savepoint().await.unwrap();
    tx.append(&a, 1, vec![event(&a, 2)]).await.unwrap();
    tx.append(&b, 0, vec![event(&b, 3)]).await.unwrap();
    tx.rollback_to(savepoint).await.unwrap();
    assert_eq!(numbers(&tx.load_stream(&a, 0).await.unwrap()), [1]);
    tx.append(&a, 1, vec![event(&a, 4)]).await.unwrap();
    if test.kind() != "sqlite" {
        // `b` is free again: another writer does not wait (SQLite has one writer anyway).
        let mut other = store.begin().await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(5),
            other.append(&b, 0, vec![event(&b, 5)]),
        )
        .await
        .expect("b was released by the rollback")
        .unwrap();
        other.commit().await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(numbers(&store.read_stream(&a, 0).await.unwrap()), [1, 4]);
    let b_events = numbers(&store.read_stream(&b, 0).await.unwrap());
    assert!(
        !b_events.contains(&3),
        "the rolled back event stays rolled back: {b_events:?}"
    );
}

/// A deferred savepoint undoes what came after it, however the store takes it (SQLite
/// with the next append, in one call; PostgreSQL and the memory store at once): a
/// rollback to it right after an append undoes the append, and it stays usable; after an
/// append, a read and another append, a rollback to it undoes both appends; a release
/// keeps what came after it.
#[on_every_backend]
async fn deferred_savepoints_undo_what_came_after(test: &TestStore) {
    let store = &*test.store;
    let (a, b, c) = (stream("a"), stream("b"), stream("c"));
    let mut tx = store.begin().await.unwrap();
    tx.append(&a, 0, vec![event(&a, 1)]).await.unwrap();
    let first = tx.defer_savepoint().await.unwrap();
    tx.append(&b, 0, vec![event(&b, 2)]).await.unwrap();
    tx.rollback_to(first).await.unwrap();
    tx.append(&b, 0, vec![event(&b, 3)]).await.unwrap();
    assert_eq!(numbers(&tx.load_stream(&b, 0).await.unwrap()), [3]);
    tx.append(&c, 0, vec![event(&c, 4)]).await.unwrap();
    tx.rollback_to(first).await.unwrap();
    assert_eq!(
        numbers(&tx.load_stream(&b, 0).await.unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        numbers(&tx.load_stream(&c, 0).await.unwrap()),
        Vec::<u64>::new()
    );
    let second = tx.defer_savepoint().await.unwrap();
    tx.append(&b, 0, vec![event(&b, 5)]).await.unwrap();
    tx.release(second).await.unwrap();
    tx.commit().await.unwrap();
    let all = read_all_settled(store, Position::START, 2).await;
    assert_eq!(numbers(&all), [1, 5], "{all:#?}");
    assert_eq!(
        numbers(&store.read_stream(&c, 0).await.unwrap()),
        Vec::<u64>::new()
    );
}

/// A transaction dropped without commit leaves nothing and releases its streams.
#[on_every_backend]
async fn dropping_a_transaction_rolls_it_back(test: &TestStore) {
    let store = &*test.store;
    let a = stream("a");
    let mut tx = store.begin().await.unwrap();
    tx.append(&a, 0, vec![event(&a, 1)]).await.unwrap();
    drop(tx);
    let next = async {
        let mut tx = store.begin().await.unwrap();
        tx.append(&a, 0, vec![event(&a, 2)]).await.unwrap();
        tx.commit().await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(10), next)
        .await
        .expect("the dropped transaction released the stream");
    assert_eq!(
        numbers(&read_all_settled(store, Position::START, 1).await),
        [2]
    );
}

/// The same type and id in two tenants are two streams.
#[on_every_backend]
async fn streams_are_keyed_by_tenant(test: &TestStore) {
    let store = &*test.store;
    let one = StreamKey::new("t1", "thing", "x").unwrap();
    let two = StreamKey::new("t2", "thing", "x").unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.append(&one, 0, vec![event(&one, 1)]).await.unwrap();
    tx.append(&two, 0, vec![event(&two, 2)]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(numbers(&store.read_stream(&one, 0).await.unwrap()), [1]);
    assert_eq!(numbers(&store.read_stream(&two, 0).await.unwrap()), [2]);
}

/// Two writers that each hold one stream and want the other's do not wait forever: at
/// least one of them fails (a conflict, or the database's deadlock error).
#[on_every_backend]
async fn crossed_writers_do_not_hang(test: &TestStore) {
    let store = &*test.store;
    let (a, b) = (stream("a"), stream("b"));
    let writer = |mine: StreamKey, theirs: StreamKey, n: u64| async move {
        let mut tx = store.begin().await?;
        tx.append(&mine, 0, vec![event(&mine, n)]).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.append(&theirs, 0, vec![event(&theirs, n)]).await?;
        tx.commit().await
    };
    let crossed = async {
        tokio::join!(
            writer(a.clone(), b.clone(), 1),
            writer(b.clone(), a.clone(), 2)
        )
    };
    let (x, y) = tokio::time::timeout(Duration::from_secs(20), crossed)
        .await
        .expect("crossed writers hang");
    if test.kind() == "sqlite" {
        assert!(
            x.is_ok() || y.is_ok(),
            "with one writer at a time, one of them commits: {x:?} / {y:?}"
        );
    } else {
        assert!(
            x.is_err() || y.is_err(),
            "one of the crossed writers fails: {x:?} / {y:?}"
        );
    }
}

/// Empty or oversized stream key parts are refused with a message naming the part.
#[on_every_backend]
async fn invalid_stream_keys_are_refused(_test: &TestStore) {
    let empty = StreamKey::new("t1", "thing", "").unwrap_err();
    assert_eq!(empty.to_string(), "invalid stream: the stream id is empty");
    let long = StreamKey::new("t1", "x".repeat(300), "1").unwrap_err();
    assert_eq!(
        long.to_string(),
        "invalid stream: the stream type is 300 bytes; at most 255 are allowed"
    );
}

/// A command's result as a store takes it: JSON text.
fn raw(value: &serde_json::Value) -> String {
    value.to_string()
}

/// A command id is recorded once: a later transaction finds its hash and result; a
/// rolled back one leaves nothing.
#[on_every_backend]
async fn command_ids_are_recorded_once(test: &TestStore) {
    let store = &*test.store;
    let (id, hash) = (Uuid::now_v7(), vec![1u8, 2, 3]);
    let result = serde_json::json!({ "version": 3 });
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.record_command(id, &hash).await.unwrap(), None);
    tx.finish_command(id, &hash, ResultJson::new(&raw(&result)).unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let earlier = tx
        .record_command(id, &[9])
        .await
        .unwrap()
        .expect("recorded before");
    assert_eq!((earlier.payload_hash, earlier.result), (hash, result));
    drop(tx);

    let rolled_back = Uuid::now_v7();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.record_command(rolled_back, &[1]).await.unwrap(), None);
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.record_command(rolled_back, &[1]).await.unwrap(),
        None,
        "the rollback forgot it"
    );
}

/// Committed commands list newest first, a page at a time after the last one listed;
/// rolled back ones and claims without a result do not list.
#[on_every_backend]
async fn commands_list_newest_first_in_pages(test: &TestStore) {
    let store = &*test.store;
    let mut committed = Vec::new();
    for n in 0..5u64 {
        // Ids that sort the other way: the order is the store's, not the ids'.
        let id = Uuid::from_u128(u128::from(100 - n) << 64 | Uuid::now_v7().as_u128() >> 64);
        let result = serde_json::json!({ "n": n });
        let mut tx = store.begin().await.unwrap();
        if n % 2 == 0 {
            assert_eq!(tx.record_command(id, &[1]).await.unwrap(), None);
        }
        tx.finish_command(id, &[1], ResultJson::new(&raw(&result)).unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        committed.push(id);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut tx = store.begin().await.unwrap();
    tx.finish_command(
        Uuid::now_v7(),
        &[1],
        ResultJson::new(&raw(&serde_json::json!({}))).unwrap(),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.record_command(Uuid::now_v7(), &[1]).await.unwrap();
    tx.commit().await.unwrap();

    let newest: Vec<Uuid> = committed.iter().rev().copied().collect();
    let all = store.recent_commands(None, 100).await.unwrap();
    assert_eq!(all.iter().map(|c| c.id).collect::<Vec<_>>(), newest);
    assert_eq!(all[0].result, serde_json::json!({ "n": 4 }));
    assert!(all.windows(2).all(|w| w[0].recorded_at >= w[1].recorded_at));
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = store.recent_commands(before, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        paged.extend(page.iter().map(|c| c.id));
    }
    assert_eq!(paged, newest);
    let unknown = store.recent_commands(Some(Uuid::now_v7()), 10).await;
    assert!(
        unknown.unwrap().is_empty(),
        "before a command that is not there"
    );
}

/// Two transactions recording one command id: the second waits for the first and finds
/// its record once it commits.
#[on_every_backend]
async fn a_racing_command_id_waits_for_the_first(test: &TestStore) {
    let store = &*test.store;
    let id = Uuid::now_v7();
    let mut first = store.begin().await.unwrap();
    assert_eq!(first.record_command(id, &[1]).await.unwrap(), None);
    let (second, ()) = tokio::join!(
        async {
            let mut second = store.begin().await.unwrap();
            second.record_command(id, &[1]).await.unwrap()
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            first
                .finish_command(
                    id,
                    &[1],
                    ResultJson::new(&raw(&serde_json::json!("done"))).unwrap(),
                )
                .await
                .unwrap();
            first.commit().await.unwrap();
        }
    );
    let second = second.expect("the second finds the first's record");
    assert_eq!(second.result, serde_json::json!("done"));
}

/// The newest snapshot wins; a rolled back one is forgotten.
#[on_every_backend]
async fn snapshots_keep_the_newest(test: &TestStore) {
    let store = &*test.store;
    let a = stream("a");
    let snapshot = |version, n| Snapshot {
        version,
        state_version: 2,
        state: serde_json::json!({ "n": n }),
    };
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.load_snapshot(&a).await.unwrap(), None);
    tx.save_snapshot(&a, snapshot(10, 1)).await.unwrap();
    assert_eq!(
        tx.load_snapshot(&a).await.unwrap(),
        Some(snapshot(10, 1)),
        "visible in its transaction"
    );
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.save_snapshot(&a, snapshot(20, 2)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.save_snapshot(&a, snapshot(15, 3)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.read_snapshot(&a).await.unwrap(),
        Some(snapshot(20, 2)),
        "an older one does not replace it"
    );
    let mut tx = store.begin().await.unwrap();
    tx.save_snapshot(&a, snapshot(30, 4)).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        store.read_snapshot(&a).await.unwrap(),
        Some(snapshot(20, 2))
    );
}

/// SQL stores hand out their connection; the memory store has none.
#[on_every_backend]
async fn the_transaction_gives_its_connection(test: &TestStore) {
    let mut tx = test.store.begin().await.unwrap();
    let kind = match tx.sql() {
        Sql::None => "memory",
        Sql::Sqlite(conn) => {
            let one: i64 = sqlx::query_scalar("SELECT 1")
                .fetch_one(conn)
                .await
                .unwrap();
            assert_eq!(one, 1);
            "sqlite"
        }
        Sql::Postgres(conn) => {
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(conn)
                .await
                .unwrap();
            assert_eq!(one, 1);
            "postgres"
        }
        _ => "other",
    };
    assert_eq!(kind, test.kind());
}

/// Eight writers commit at once, each pausing for a while inside its transaction, while
/// a reader pages through the global order from where it was: it reads every event
/// once, in the order a reader starting afterwards reads them.
#[on_every_backend]
async fn a_reader_paging_beside_many_writers_reads_every_event_once(test: &TestStore) {
    use std::sync::atomic::{AtomicU64, Ordering};
    const WRITERS: u64 = 8;
    const EACH: u64 = 25;
    const TOTAL: usize = (WRITERS * EACH) as usize;
    let store = &*test.store;
    let writing = AtomicU64::new(WRITERS);
    let write = |w: u64| {
        let writing = &writing;
        async move {
            let s = stream(&format!("w{w}"));
            for i in 0..EACH {
                let mut tx = store.begin().await.unwrap();
                // Pauses of different lengths, so that commits cross positions.
                tokio::time::sleep(Duration::from_micros(spread(w, i) % 3000)).await;
                tx.append(&s, i, vec![event(&s, w * 1000 + i)])
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_micros(spread(i, w) % 2000)).await;
                tx.commit().await.unwrap();
            }
            writing.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let read = async {
        let mut seen = Vec::new();
        let mut at = Position::START;
        // Until the writers are done and everything they wrote was read.
        while writing.load(Ordering::SeqCst) > 0 || seen.len() < TOTAL {
            let page = store.read_all(at, 7).await.unwrap();
            match page.last() {
                Some(last) => at = last.position,
                None => tokio::time::sleep(Duration::from_millis(1)).await,
            }
            seen.extend(numbers(&page));
            assert!(seen.len() <= TOTAL, "the reader read an event twice");
        }
        seen
    };
    let writers = futures_util::future::join_all((0..WRITERS).map(write));
    let (seen, _) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(read, writers)
    })
    .await
    .expect("the reader read every event within a minute");
    let all = numbers(&read_all_settled(store, Position::START, TOTAL).await);
    assert_eq!(
        seen, all,
        "the paging reader read what a later reader reads"
    );
    let mut distinct = all.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), TOTAL, "every event, once");
}

/// A spread of numbers from two, without a random generator.
fn spread(a: u64, b: u64) -> u64 {
    (a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)).rotate_left(17)
}
