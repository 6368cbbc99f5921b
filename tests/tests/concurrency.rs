//! Many writers on one stream: every committed command's events are there, versions are
//! contiguous, and a conflict is retried from the load, not lost; the top-level commands
//! of one runtime take turns on a stream instead of conflicting, within a bounded wait,
//! and a processor's command never waits for its parent's turn.

use std::collections::HashSet;
use std::time::Duration;

use herald::prelude::*;
use herald::store::{EventStore, MemoryStore, Position, StreamKey};
use herald::trace::{Operation, Outcome};
use herald_tests::backends::TestStore;
use herald_tests::on_every_backend;

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

/// Eight tasks of one runtime sending commands to one stream take turns: every command
/// succeeds at its first try (no conflict retries are allowed here, and no trace shows
/// one), and the versions run from 1 to the last without a gap.
#[on_every_backend]
async fn eight_tasks_on_one_stream_take_turns_without_conflicts(test: &TestStore) {
    const TASKS: u64 = 8;
    const COMMANDS: u64 = 40;
    let herald = Herald::builder()
        .modules(["concurrency::counter"])
        .store(test.store.clone())
        .conflict_retries(0)
        .build()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let herald = herald.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0..COMMANDS {
                    let add = Add {
                        id: 7,
                        by: task * COMMANDS + i + 1,
                    };
                    done.push(herald.dispatch(add).await.unwrap());
                }
                done
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        for dispatched in task.await.unwrap() {
            let conflicts = dispatched.trace().nodes();
            let conflicts = conflicts.filter(|n| n.outcome == Outcome::Conflict).count();
            assert_eq!(conflicts, 0, "{}", dispatched.trace());
            versions.push(dispatched.version());
        }
    }
    versions.sort_unstable();
    let n = TASKS * COMMANDS;
    assert_eq!(
        versions,
        (1..=n).collect::<Vec<_>>(),
        "one command a version"
    );
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "counter", "7").unwrap();
    let events = test.store.read_stream(&stream, 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "contiguous, no duplicates"
    );
    let mut total = 0;
    for event in &events {
        let added = event.decode::<Added>().unwrap();
        total += added.by;
        assert_eq!(added.total, total, "each command saw every earlier event");
    }
}

/// A ball whose every ping makes a strong processor send a pong to the same stream.
mod ball {
    use herald::prelude::*;

    #[event("ball.:id.pinged")]
    pub(crate) struct Pinged {
        pub(crate) id: u64,
    }

    #[event("ball.:id.ponged")]
    pub(crate) struct Ponged {
        pub(crate) id: u64,
    }

    #[command("ping.:id")]
    pub(crate) struct Ping {
        pub(crate) id: u64,
    }

    #[command("pong.:id")]
    pub(crate) struct Pong {
        pub(crate) id: u64,
    }

    #[aggregate(name = "ball")]
    #[derive(Default)]
    pub(crate) struct Ball;

    #[aggregate]
    impl Ball {
        #[handle]
        fn ping(&self, cmd: &Ping) -> Result<Pinged, String> {
            Ok(Pinged { id: cmd.id })
        }

        #[handle]
        fn pong(&self, cmd: &Pong) -> Result<Ponged, String> {
            Ok(Ponged { id: cmd.id })
        }

        #[apply]
        fn pinged(&mut self, _: &Pinged) {}

        #[apply]
        fn ponged(&mut self, _: &Ponged) {}
    }

    /// Its command goes to the stream whose turn its parent holds.
    #[processor("ball.:id.pinged")]
    async fn return_it(e: &Recorded<Pinged>, _cx: &mut Cx<'_>) -> Result<Pong, String> {
        Ok(Pong { id: e.id })
    }
}

/// A processor's command to the stream its parent holds the turn of does not queue (it
/// would wait for its own parent): it runs at once, nested, also while other commands
/// of the runtime queue for the stream. The wait is a minute: one that waited for the
/// turn would not be done within the ten seconds allowed.
#[on_every_backend]
async fn a_processors_command_to_its_parents_stream_does_not_queue(test: &TestStore) {
    let herald = Herald::builder()
        .modules(["concurrency::ball"])
        .store(test.store.clone())
        .stream_queue_wait(Duration::from_secs(60))
        .conflict_retries(0)
        .build()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let herald = herald.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    let pinged = herald.dispatch(ball::Ping { id: 3 }).await.unwrap();
                    let caused = pinged.caused();
                    assert_eq!(caused.len(), 1, "its pong");
                    assert_eq!(caused[0].version, pinged.version() + 1);
                }
            })
        })
        .collect();
    let all = async {
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all)
        .await
        .expect("no command waited for itself");
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "ball", "3").unwrap();
    let events = test.store.read_stream(&stream, 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    for pair in events.chunks(2) {
        assert_eq!(
            (pair[0].name.as_str(), pair[1].name.as_str()),
            ("Pinged", "Ponged")
        );
    }
}

/// A door whose before hook can hold its stream's turn for a while.
mod door {
    use std::time::Duration;

    use herald::prelude::*;

    #[event("door.:id.knocked")]
    pub(crate) struct Knocked {
        pub(crate) id: u64,
    }

    #[command("knock.:id")]
    pub(crate) struct Knock {
        pub(crate) id: u64,
        /// How long its hook takes, in milliseconds.
        pub(crate) linger_ms: u64,
    }

    #[aggregate(name = "door")]
    #[derive(Default)]
    pub(crate) struct Door;

    #[aggregate]
    impl Door {
        #[handle]
        fn knock(&self, cmd: &Knock) -> Result<Knocked, String> {
            Ok(Knocked { id: cmd.id })
        }

        #[apply]
        fn knocked(&mut self, _: &Knocked) {}
    }

    #[hook(before, "knock.:id")]
    async fn linger(cmd: &mut Knock, _cx: &mut Cx<'_>) -> Result<(), String> {
        tokio::time::sleep(Duration::from_millis(cmd.linger_ms)).await;
        Ok(())
    }
}

/// A command that waits longer than allowed for the one ahead of it on its stream (whose
/// hook lingers) fails with `StreamBusy`, having run nothing, and can be sent again once
/// the stream is free; a command to another stream does not wait for it.
#[on_every_backend]
async fn waiting_too_long_for_the_stream_is_stream_busy(test: &TestStore) {
    let herald = Herald::builder()
        .modules(["concurrency::door"])
        .store(test.store.clone())
        .stream_queue_wait(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let knock = |id, linger_ms| door::Knock { id, linger_ms };
    let slow = tokio::spawn({
        let herald = herald.clone();
        async move { herald.dispatch(knock(1, 1_500)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // the slow one holds the turn
    let busy = herald.dispatch(knock(1, 0)).await.unwrap_err();
    assert_eq!((busy.code(), busy.is_retryable()), ("stream_busy", true));
    match busy.kind() {
        herald::ErrorKind::StreamBusy {
            command,
            stream,
            waited,
            ..
        } => {
            assert_eq!(*command, "Knock");
            assert_eq!(stream.to_string(), "default/door/1");
            assert_eq!(*waited, Duration::from_millis(200));
        }
        other => panic!("expected StreamBusy, got {other}"),
    }
    let trace = busy.trace().expect("a dispatch's error has its trace");
    let steps: Vec<Operation> = trace.root().children.iter().map(|n| n.operation).collect();
    assert_eq!(
        steps,
        [Operation::Authorize, Operation::Queue],
        "nothing ran after the wait"
    );
    if test.kind() != "sqlite" {
        // (SQLite has one writer at a time: there the slow one holds it.)
        let elsewhere = herald.dispatch(knock(2, 0)).await;
        assert_eq!(
            elsewhere.unwrap().version(),
            1,
            "another stream does not wait"
        );
    }
    assert_eq!(slow.await.unwrap().unwrap().version(), 1);
    let again = herald.dispatch(knock(1, 0)).await.unwrap();
    assert_eq!(again.version(), 2, "the busy one appended nothing");
}
