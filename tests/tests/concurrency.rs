//! Many writers on one stream: every committed command's events are there, versions are
//! contiguous, and a conflict is retried from the load, not lost.

use std::collections::HashSet;
use std::time::Duration;

use herald::prelude::*;
use herald::store::{EventStore, MemoryStore, Position, StreamKey};
use herald::trace::{Operation, Outcome};

mod counter {
    use herald::prelude::*;

    #[event("counter.:id.added")]
    pub(crate) struct Added {
        pub(crate) id: u64,
        pub(crate) by: u64,
        pub(crate) total: u64,
    }

    #[command("add.:id")]
    pub(crate) struct Add {
        pub(crate) id: u64,
        pub(crate) by: u64,
    }

    #[aggregate(name = "counter")]
    #[derive(Default)]
    pub(crate) struct Counter {
        pub(crate) total: u64,
    }

    #[aggregate]
    impl Counter {
        /// Each event carries the running total, so a lost update would show.
        #[handle]
        fn add(&self, cmd: &Add) -> Result<Added, String> {
            Ok(Added {
                id: cmd.id,
                by: cmd.by,
                total: self.total + cmd.by,
            })
        }

        #[apply]
        fn added(&mut self, e: &Added) {
            self.total = e.total;
        }
    }
}

use counter::{Add, Added, Counter};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_on_one_stream_lose_nothing() {
    const TASKS: u64 = 8;
    const COMMANDS: u64 = 500;
    let herald = Herald::builder()
        .modules(["concurrency::counter"])
        .conflict_retries(1_000)
        .build()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let herald = herald.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..COMMANDS {
                    let dispatched = herald
                        .dispatch(Add {
                            id: 1,
                            by: task * COMMANDS + i + 1,
                        })
                        .await
                        .unwrap();
                    ids.extend(dispatched.events().iter().map(|e| e.event_id));
                }
                ids
            })
        })
        .collect();
    let mut committed = HashSet::new();
    for task in tasks {
        committed.extend(task.await.unwrap());
    }

    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "counter", "1").unwrap();
    let events = herald.store().read_stream(&stream, 0).await.unwrap();
    let n = TASKS * COMMANDS;
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "contiguous, no duplicates"
    );
    assert_eq!(
        events.iter().map(|e| e.event_id).collect::<HashSet<_>>(),
        committed,
        "every dispatch's events, nothing else"
    );
    let mut total = 0;
    for event in &events {
        let added = event.decode::<Added>().unwrap();
        total += added.by;
        assert_eq!(added.total, total, "each command saw every earlier event");
    }
    assert_eq!(
        herald.load::<Counter>(1).await.unwrap().state().total,
        n * (n + 1) / 2
    );
    assert_eq!(
        herald
            .store()
            .read_all(Position::START, 10_000)
            .await
            .unwrap()
            .len() as u64,
        n
    );
}

/// Holds the stream in an open transaction while a dispatch runs, then commits: the
/// dispatch's append waits, conflicts, and the loop runs load, handle and append again.
#[tokio::test]
async fn a_conflict_runs_load_handle_and_append_again() {
    let store = MemoryStore::new();
    let herald = Herald::builder()
        .modules(["concurrency::counter"])
        .store(store.clone())
        .build()
        .await
        .unwrap();
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "counter", "1").unwrap();
    let (other_writer, dispatched) = tokio::join!(
        async {
            let mut tx = store.begin().await.unwrap();
            let mut event = herald_tests::events::event(&stream, 0);
            event.name = "Added".into();
            event.payload = serde_json::json!({ "id": 1, "by": 5, "total": 5 });
            tx.append(&stream, 0, vec![event]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await; // the dispatch loads version 0 meanwhile
            tx.commit().await
        },
        herald.dispatch(Add { id: 1, by: 2 })
    );
    other_writer.unwrap();
    let dispatched = dispatched.unwrap();
    assert_eq!(dispatched.version(), 2);
    assert_eq!(
        dispatched.events()[0].decode::<Added>().unwrap().total,
        7,
        "the retry saw the other writer's event"
    );
    let steps: Vec<(Operation, Outcome)> = dispatched
        .trace()
        .root()
        .children
        .iter()
        .map(|n| (n.operation, n.outcome.clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Operation::Authorize, Outcome::Ok),
            (Operation::Begin, Outcome::Ok),
            (Operation::Load, Outcome::Ok),
            (Operation::Handle, Outcome::Ok),
            (Operation::Apply, Outcome::Ok),
            (Operation::Append, Outcome::Conflict),
            (Operation::Load, Outcome::Ok),
            (Operation::Handle, Outcome::Ok),
            (Operation::Apply, Outcome::Ok),
            (Operation::Append, Outcome::Ok),
            (Operation::Finish, Outcome::Ok),
            (Operation::Commit, Outcome::Ok),
        ]
    );
}

#[tokio::test]
async fn without_retries_the_conflict_reaches_the_caller() {
    let store = MemoryStore::new();
    let herald = Herald::builder()
        .modules(["concurrency::counter"])
        .store(store.clone())
        .conflict_retries(0)
        .build()
        .await
        .unwrap();
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "counter", "1").unwrap();
    let (_, dispatched) = tokio::join!(
        async {
            let mut tx = store.begin().await.unwrap();
            let mut event = herald_tests::events::event(&stream, 0);
            event.name = "Added".into();
            event.payload = serde_json::json!({ "id": 1, "by": 5, "total": 5 });
            tx.append(&stream, 0, vec![event]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.commit().await.unwrap();
        },
        herald.dispatch(Add { id: 1, by: 2 })
    );
    match dispatched.unwrap_err().into_kind() {
        herald::ErrorKind::Conflict {
            conflict,
            attempts,
            command,
            ..
        } => {
            assert_eq!(
                (command, conflict.expected, conflict.actual, attempts),
                ("Add", 0, 1, 1)
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(
        store.read_stream(&stream, 0).await.unwrap().len(),
        1,
        "only the other writer's event"
    );
}
