//! What a dispatch promises on every store: idempotent command ids, snapshots, the
//! caller's transaction, limits, and many writers on one stream.

use std::collections::HashSet;
use std::time::Duration;

use herald::prelude::*;
use herald::store::{Snapshot, Sql, StreamKey};
use herald::trace::Operation;

use herald_tests::backends::TestStore;
use herald_tests::domain::{self, Attach, Ledger, Open, Post, Posted, Renamed};
use herald_tests::on_every_backend;

fn post(id: &str, amount: i64) -> Post {
    Post {
        ledger_id: id.to_owned(),
        amount,
    }
}

fn ledger(id: &str) -> StreamKey {
    StreamKey::new(Actor::DEFAULT_TENANT, "ledger", id).unwrap()
}

/// A runtime over the ledger that keeps no aggregate in memory: it reads the store.
async fn uncached(test: &TestStore) -> Herald {
    Herald::builder()
        .modules(["herald_tests::domain"])
        .store(test.store.clone())
        .cached_aggregates(0)
        .build()
        .await
        .unwrap()
}

async fn opened(test: &TestStore, id: &str) -> Herald {
    let herald = domain::herald(&test.store).await;
    herald
        .dispatch(Open {
            ledger_id: id.to_owned(),
        })
        .await
        .unwrap();
    herald
}

/// A command id that was committed runs nothing again and returns the first result.
#[on_every_backend]
async fn a_repeated_command_id_returns_the_first_result(test: &TestStore) {
    let herald = opened(test, "l1").await;
    let id = Uuid::now_v7();
    let first = herald.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    let again = herald.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    assert!(!first.is_repeat() && again.is_repeat());
    assert_eq!(again.events(), first.events(), "the same events, read back");
    assert_eq!(
        (again.version(), again.stream(), again.route()),
        (first.version(), first.stream(), first.route())
    );
    assert_eq!(
        again.trace().root().handler,
        first.trace().root().handler,
        "the first run's trace"
    );
    assert!(
        again
            .trace()
            .nodes()
            .any(|n| n.operation == Operation::Handle)
    );
    assert_eq!(
        herald
            .store()
            .read_stream(&ledger("l1"), 0)
            .await
            .unwrap()
            .len(),
        2,
        "nothing appended twice"
    );
    // A fresh runtime on the same store (a restarted process) knows it too.
    let restarted = domain::herald(&test.store).await;
    assert!(
        restarted
            .dispatch(post("l1", 5))
            .command_id(id)
            .await
            .unwrap()
            .is_repeat()
    );
}

/// Two dispatches racing with one command id: the command runs once, both succeed.
#[on_every_backend]
async fn racing_dispatches_of_one_command_id_run_it_once(test: &TestStore) {
    let herald = opened(test, "l1").await;
    let id = Uuid::now_v7();
    let (a, b) = tokio::join!(
        herald.dispatch(post("l1", 5)).command_id(id).into_future(),
        herald.dispatch(post("l1", 5)).command_id(id).into_future()
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        u8::from(a.is_repeat()) + u8::from(b.is_repeat()),
        1,
        "exactly one ran"
    );
    assert_eq!(a.events(), b.events());
    let stored = herald.store().read_stream(&ledger("l1"), 0).await.unwrap();
    assert_eq!(stored.len(), 2, "open and one post");
}

/// The same command id with another payload is an error, and changes nothing.
#[on_every_backend]
async fn a_command_id_reused_with_another_payload_or_tenant_is_an_error(test: &TestStore) {
    let herald = opened(test, "l1").await;
    let id = Uuid::now_v7();
    herald.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    let error = herald
        .dispatch(post("l1", 6))
        .command_id(id)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::CommandIdReused { command_id, .. } if *command_id == id),
        "{error}"
    );
    let error = herald
        .dispatch(Open {
            ledger_id: "l1".into(),
        })
        .command_id(id)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::CommandIdReused { .. }),
        "another command: {error}"
    );
    // The same command and payload from another tenant: its own stream is not touched,
    // and the first tenant's events are not handed out.
    let other = Actor::new("eve", "globex");
    let error = herald
        .dispatch(post("l1", 5))
        .command_id(id)
        .actor(other)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::CommandIdReused { .. }),
        "another tenant: {error}"
    );
    assert_eq!(herald.load::<Ledger>("l1").await.unwrap().state().total, 5);
}

/// A rejected command records nothing, so its id can be used again.
#[on_every_backend]
async fn a_rejected_command_leaves_its_id_free(test: &TestStore) {
    let herald = domain::herald(&test.store).await;
    let id = Uuid::now_v7();
    assert!(
        herald.dispatch(post("l1", 5)).command_id(id).await.is_err(),
        "not open yet"
    );
    herald
        .dispatch(Open {
            ledger_id: "l1".into(),
        })
        .await
        .unwrap();
    let posted = herald.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    assert!(!posted.is_repeat());
}

/// `snapshot_every = 5`: a snapshot at versions 5, 10, …; a runtime without the aggregate
/// in memory loads the snapshot and the events after it.
#[on_every_backend]
async fn snapshots_are_taken_every_n_events_and_used(test: &TestStore) {
    let herald = opened(test, "l1").await;
    for amount in 1..=11 {
        let posted = herald.dispatch(post("l1", amount)).await.unwrap();
        let snapshotted = posted
            .trace()
            .nodes()
            .any(|n| n.operation == Operation::Snapshot);
        assert_eq!(
            snapshotted,
            posted.version() % 5 == 0,
            "version {}",
            posted.version()
        );
    }
    let snapshot = test
        .store
        .read_snapshot(&ledger("l1"))
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!((snapshot.version, snapshot.state_version), (10, 1));
    assert_eq!(snapshot.state["total"], serde_json::json!(45));

    let fresh = uncached(test).await;
    let posted = fresh.dispatch(post("l1", 100)).await.unwrap();
    let load = posted
        .trace()
        .nodes()
        .find(|n| n.operation == Operation::Load)
        .unwrap();
    assert_eq!(
        load.detail.as_deref(),
        Some("snapshot at version 10 + 2 events")
    );
    assert_eq!(posted.events()[0].decode::<Posted>().unwrap().total, 166);
    let loaded = fresh.load::<Ledger>("l1").await.unwrap();
    assert_eq!(
        (
            loaded.state().total,
            loaded.state().postings,
            loaded.version()
        ),
        (166, 12, 13)
    );
}

/// A snapshot of another state version, or one that no longer decodes, is ignored: the
/// stream is replayed.
#[on_every_backend]
async fn stale_or_broken_snapshots_are_ignored(test: &TestStore) {
    let herald = opened(test, "l1").await;
    herald.dispatch(post("l1", 7)).await.unwrap();
    for bad in [
        Snapshot {
            version: 2,
            state_version: 99,
            state: serde_json::json!({ "open": true, "total": 1000, "postings": 1 }),
        },
        Snapshot {
            version: 2,
            state_version: 1,
            state: serde_json::json!({ "total": "not a number" }),
        },
    ] {
        // Newer than anything there: the store keeps the newest.
        let mut tx = test.store.begin().await.unwrap();
        tx.save_snapshot(
            &ledger("l1"),
            Snapshot {
                version: 1_000 + bad.state_version as u64,
                ..bad
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let fresh = uncached(test).await;
        assert_eq!(fresh.load::<Ledger>("l1").await.unwrap().state().total, 7);
        let posted = fresh.dispatch(post("l1", 0)).await.unwrap();
        let load = posted
            .trace()
            .nodes()
            .find(|n| n.operation == Operation::Load)
            .unwrap();
        let detail = load.detail.as_deref().unwrap();
        assert!(
            !detail.starts_with("snapshot"),
            "the stream was replayed: {detail}"
        );
    }
}

/// Rows written at older schema versions are read as the current type, through the
/// upcasters, wherever they are read; the rows themselves stay as they were written. A
/// row from a newer version than this code is a typed error naming it.
#[on_every_backend]
async fn old_events_are_upcast_when_read(test: &TestStore) {
    let herald = opened(test, "l9").await;
    let stream = ledger("l9");
    let row = |schema_version, payload| {
        let mut event = herald_tests::events::event(&stream, 0);
        event.name = "Renamed".to_owned();
        event.schema_version = schema_version;
        event.payload = payload;
        event
    };
    // What earlier versions of the code stored.
    let mut tx = test.store.begin().await.unwrap();
    let v1 = row(
        1,
        serde_json::json!({ "ledger_id": "l9", "title": "Ada: groceries" }),
    );
    let v2 = row(
        2,
        serde_json::json!({ "ledger_id": "l9", "owner": "Bob", "title": "rent" }),
    );
    tx.append(&stream, 1, vec![v1, v2]).await.unwrap();
    tx.commit().await.unwrap();

    let rows = test.store.read_stream(&stream, 1).await.unwrap();
    assert_eq!(rows[0].schema_version, 1, "rows are never rewritten");
    assert_eq!(
        rows[0].decode::<Renamed>().unwrap(),
        Renamed {
            ledger_id: "l9".into(),
            owner: "Ada".into(),
            title: "groceries".into(),
            tags: Vec::new(),
        }
    );
    assert_eq!(rows[1].decode::<Renamed>().unwrap().owner, "Bob");

    // Loading, and dispatching on a runtime that has nothing cached.
    let loaded = herald.load::<Ledger>("l9").await.unwrap();
    assert_eq!(
        (loaded.state().name.clone(), loaded.version()),
        (Some(("Bob".to_owned(), "rent".to_owned())), 3)
    );
    let fresh = uncached(test).await;
    assert_eq!(fresh.dispatch(post("l9", 5)).await.unwrap().version(), 4);

    // A row from code newer than this.
    let mut tx = test.store.begin().await.unwrap();
    let v4 = row(
        4,
        serde_json::json!({ "ledger_id": "l9", "owner": "Cy", "title": "x", "tags": [], "color": "red" }),
    );
    tx.append(&stream, 4, vec![v4]).await.unwrap();
    tx.commit().await.unwrap();
    let error = fresh.load::<Ledger>("l9").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "aggregate `ledger` of stream `default/ledger/l9`: event `Renamed` at version 5: event `Renamed` is stored at schema version 4, newer than this code's version 3"
    );
    let error = fresh.dispatch(post("l9", 1)).await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            herald::ErrorKind::Apply {
                version: Some(5),
                ..
            }
        ),
        "{error}"
    );
}

/// Events and the caller's own rows commit together, or not at all; a failing dispatch
/// inside is undone to its savepoint and the transaction goes on.
#[on_every_backend]
async fn the_callers_transaction_binds_events_and_own_rows(test: &TestStore) {
    let herald = domain::herald(&test.store).await;
    let mut tx = herald.begin().await.unwrap();
    create_notes(&mut tx).await;
    tx.commit().await.unwrap();

    let mut tx = herald.begin().await.unwrap();
    tx.dispatch(Open {
        ledger_id: "l1".into(),
    })
    .await
    .unwrap();
    let refused = tx.dispatch(post("l2", 1)).await;
    assert!(refused.is_err(), "l2 is not open");
    tx.dispatch(post("l1", 3)).await.unwrap();
    note(&mut tx, "posted 3").await;
    tx.commit().await.unwrap();
    assert_eq!(herald.load::<Ledger>("l1").await.unwrap().state().total, 3);
    let expected_notes = |notes: Vec<&str>| {
        (test.kind() != "memory").then(|| notes.into_iter().map(String::from).collect())
    };
    assert_eq!(notes(test).await, expected_notes(vec!["posted 3"]));

    let mut tx = herald.begin().await.unwrap();
    tx.dispatch(post("l1", 4)).await.unwrap();
    note(&mut tx, "posted 4").await;
    tx.rollback().await.unwrap();
    let ledger_state = herald.load::<Ledger>("l1").await.unwrap();
    assert_eq!(
        (ledger_state.state().total, ledger_state.version()),
        (3, 2),
        "the event was rolled back"
    );
    assert_eq!(
        notes(test).await,
        expected_notes(vec!["posted 3"]),
        "and the row too"
    );
    // The rolled back dispatch was not cached: the next one sees version 2.
    assert_eq!(herald.dispatch(post("l1", 1)).await.unwrap().version(), 3);
}

/// A command id repeated inside the caller's transaction returns the first run, read in
/// the transaction (it is not committed yet), and the same after the commit; a hundred
/// dispatches in one transaction keep no savepoint open.
#[on_every_backend]
async fn a_repeat_inside_the_callers_transaction_returns_the_first_run(test: &TestStore) {
    let herald = opened(test, "l1").await;
    let id = Uuid::now_v7();
    let mut tx = herald.begin().await.unwrap();
    let first = tx.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    let again = tx.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    assert!(!first.is_repeat() && again.is_repeat());
    assert_eq!(again.events(), first.events());
    assert_eq!(again.version(), 2);
    let error = tx.dispatch(post("l1", 6)).command_id(id).await.unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::CommandIdReused { .. }),
        "{error}"
    );
    for _ in 0..100 {
        tx.dispatch(post("l1", 1)).await.unwrap();
    }
    tx.commit().await.unwrap();
    let after = herald.dispatch(post("l1", 5)).command_id(id).await.unwrap();
    assert!(after.is_repeat());
    assert_eq!(after.events(), first.events());
    assert_eq!(
        herald.load::<Ledger>("l1").await.unwrap().state().total,
        105
    );
}

async fn create_notes(tx: &mut herald::HeraldTransaction) {
    match tx.sql() {
        Sql::Sqlite(conn) => {
            sqlx::query("CREATE TABLE notes (note TEXT NOT NULL)")
                .execute(conn)
                .await
                .unwrap();
        }
        Sql::Postgres(conn) => {
            sqlx::query("CREATE TABLE notes (note TEXT NOT NULL)")
                .execute(conn)
                .await
                .unwrap();
        }
        _ => {}
    }
}

async fn note(tx: &mut herald::HeraldTransaction, text: &str) {
    match tx.sql() {
        Sql::Sqlite(conn) => {
            sqlx::query("INSERT INTO notes (note) VALUES (?)")
                .bind(text)
                .execute(conn)
                .await
                .unwrap();
        }
        Sql::Postgres(conn) => {
            sqlx::query("INSERT INTO notes (note) VALUES ($1)")
                .bind(text)
                .execute(conn)
                .await
                .unwrap();
        }
        _ => {}
    }
}

/// The notes, read in a transaction of their own; `None` on the memory store.
async fn notes(test: &TestStore) -> Option<Vec<String>> {
    let mut tx = test.store.begin().await.unwrap();
    let notes = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_scalar("SELECT note FROM notes")
            .fetch_all(conn)
            .await
            .unwrap(),
        Sql::Postgres(conn) => sqlx::query_scalar("SELECT note FROM notes")
            .fetch_all(conn)
            .await
            .unwrap(),
        _ => return None,
    };
    Some(notes)
}

/// An event over the payload limit is an error before anything is written.
#[on_every_backend]
async fn an_oversized_payload_is_refused_whole(test: &TestStore) {
    let herald = opened(test, "l1").await;
    let error = herald
        .dispatch(Attach {
            ledger_id: "l1".into(),
            bytes: herald::store::MAX_PAYLOAD_LEN,
        })
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("event `Attached` produced by `Ledger::attach`: the payload is"),
        "{message}"
    );
    assert!(
        message.ends_with("at most 4194304 are allowed"),
        "{message}"
    );
    assert_eq!(herald.load::<Ledger>("l1").await.unwrap().version(), 1);
    herald
        .dispatch(Attach {
            ledger_id: "l1".into(),
            bytes: 100_000,
        })
        .await
        .unwrap();
}

/// The caller's expected version is checked against the stream, never the cache, and a
/// mismatch is never retried.
#[on_every_backend]
async fn the_callers_expected_version_is_checked_against_the_stream(test: &TestStore) {
    let herald = opened(test, "l1").await;
    let other = domain::herald(&test.store).await; // another process: this cache goes stale
    other.dispatch(post("l1", 1)).await.unwrap();
    let posted = herald
        .dispatch(post("l1", 1))
        .expected_version(2)
        .await
        .unwrap();
    assert_eq!(posted.version(), 3);
    let error = herald
        .dispatch(post("l1", 1))
        .expected_version(2)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            herald::ErrorKind::Conflict { attempts: 1, .. }
        ),
        "{error}"
    );
}

/// Correlation ids, actors and tenants reach the stored metadata.
#[on_every_backend]
async fn metadata_reaches_the_store(test: &TestStore) {
    let herald = domain::herald(&test.store).await;
    let correlation = Uuid::now_v7();
    let ada = Actor::new("ada", "acme");
    let opened = herald
        .dispatch(Open {
            ledger_id: "l1".into(),
        })
        .actor(ada)
        .correlation_id(correlation)
        .await
        .unwrap();
    let stored = test
        .store
        .read_stream(&StreamKey::new("acme", "ledger", "l1").unwrap(), 0)
        .await
        .unwrap();
    assert_eq!(stored, opened.events());
    let meta = &stored[0].metadata;
    assert_eq!(
        (meta.correlation_id, meta.command_id, meta.causation_id),
        (correlation, opened.command_id(), opened.command_id())
    );
    assert_eq!((meta.actor.as_str(), meta.tenant.as_str()), ("ada", "acme"));
    assert!(
        test.store
            .read_stream(&ledger("l1"), 0)
            .await
            .unwrap()
            .is_empty(),
        "not in the default tenant"
    );
}

/// 8 tasks × 500 commands on one stream: versions 1..=4001 contiguous, every committed
/// command's event present, each running total right.
#[on_every_backend]
async fn eight_writers_on_one_stream_lose_nothing(test: &TestStore) {
    const TASKS: i64 = 8;
    const COMMANDS: i64 = 500;
    let herald = Herald::builder()
        .modules(["herald_tests::domain"])
        .store(test.store.clone())
        .conflict_retries(10_000)
        .build()
        .await
        .unwrap();
    herald
        .dispatch(Open {
            ledger_id: "l1".into(),
        })
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let herald = herald.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..COMMANDS {
                    let posted = herald
                        .dispatch(post("l1", task * COMMANDS + i + 1))
                        .await
                        .unwrap();
                    ids.extend(posted.events().iter().map(|e| e.event_id));
                }
                ids
            })
        })
        .collect();
    let mut committed = HashSet::new();
    for task in tasks {
        committed.extend(
            tokio::time::timeout(Duration::from_secs(600), task)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    eprintln!(
        "{}: {} commands on one stream in {:?}",
        test.kind(),
        TASKS * COMMANDS,
        started.elapsed()
    );
    let events = test.store.read_stream(&ledger("l1"), 1).await.unwrap();
    let n = (TASKS * COMMANDS) as u64;
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (2..=n + 1).collect::<Vec<_>>()
    );
    assert_eq!(
        events.iter().map(|e| e.event_id).collect::<HashSet<_>>(),
        committed
    );
    let mut total = 0;
    for event in &events {
        let posted = event.decode::<Posted>().unwrap();
        total += posted.amount;
        assert_eq!(posted.total, total, "each command saw every earlier event");
    }
    let n = n as i64;
    assert_eq!(
        herald.load::<Ledger>("l1").await.unwrap().state().total,
        n * (n + 1) / 2
    );
}
