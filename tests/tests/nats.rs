//! Events carried to other machines by NATS JetStream (the server on `NATS_URL`, default
//! `127.0.0.1:4222`): the relay publishes every committed event once, in order, with its
//! id as `Nats-Msg-Id`, and resumes from its checkpoint; remote workers run eventual
//! handlers from durable consumers on a store of their own. Each test has its own stream
//! and subject prefix, deleted at the end.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use herald::nats::{Nats, Relay, RemoteWorkers};
use herald::prelude::*;
use herald::store::{EventStore, MemoryStore, Position, RecordedEvent};
use herald_tests::backends::TestStore;

mod shop {
    use std::sync::{Mutex, PoisonError};

    use herald::prelude::*;

    #[event("order.:id.placed")]
    pub(crate) struct Placed {
        pub(crate) id: u64,
    }

    #[event("order.:id.shipped")]
    pub(crate) struct Shipped {
        pub(crate) id: u64,
    }

    #[command("place.order.:id")]
    pub(crate) struct Place {
        pub(crate) id: u64,
    }

    #[command("ship.order.:id")]
    pub(crate) struct Ship {
        pub(crate) id: u64,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Order;

    #[aggregate]
    impl Order {
        #[handle]
        fn place(&self, cmd: &Place) -> Result<Placed, String> {
            Ok(Placed { id: cmd.id })
        }

        #[handle]
        fn ship(&self, cmd: &Ship) -> Result<Shipped, String> {
            Ok(Shipped { id: cmd.id })
        }

        #[apply]
        fn placed(&mut self, _: &Placed) {}

        #[apply]
        fn shipped(&mut self, _: &Shipped) {}
    }

    /// What the remote projector saw: (test run, route).
    pub(crate) static SEEN: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

    /// Orders whose shipments the remote projector cannot record: it returns an error,
    /// or panics (`true`).
    pub(crate) static BROKEN: Mutex<Vec<(u64, bool)>> = Mutex::new(Vec::new());

    /// Runs on the remote machine: only shipped orders.
    #[projector("order.:id.shipped", consistency = eventual)]
    async fn shipments(e: &Recorded<Shipped>, _cx: &mut Cx<'_>) -> Result<(), String> {
        let broken = BROKEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(id, _)| *id == e.id)
            .map(|(_, panics)| *panics);
        match broken {
            Some(true) => panic!("order {} cannot be recorded", e.id),
            Some(false) => return Err(format!("order {} cannot be recorded", e.id)),
            None => {}
        }
        let run = e.id / 1_000_000;
        SEEN.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((run, e.record().route.to_string()));
        Ok(())
    }
}

/// A remote projector split by stream, for the test that runs it.
mod split {
    use std::sync::{Mutex, PoisonError};

    use herald::prelude::*;

    use crate::shop::Shipped;

    /// The orders it saw.
    pub(crate) static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[projector("order.:id.shipped", consistency = eventual, partitions = 4)]
    async fn split_shipments(e: &Recorded<Shipped>, _cx: &mut Cx<'_>) {
        SEEN.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e.id);
    }
}

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned())
}

/// A stream and prefix of this test's own.
async fn nats() -> Nats {
    let name = format!("herald_test_{}", Uuid::now_v7().simple());
    Nats::connect(&nats_url(), &name, &name)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "NATS at {} is not reachable (is it running?): {e}",
                nats_url()
            )
        })
        .duplicate_window(Duration::from_secs(300))
}

async fn delete(nats: &Nats) {
    let name = nats.prefix().to_owned();
    let _ = nats.jetstream().delete_stream(&name).await;
}

/// The messages in the stream: (subject, Nats-Msg-Id, event).
async fn stored(nats: &Nats) -> Vec<(String, String, RecordedEvent)> {
    let stream = nats.stream().await.unwrap();
    let count = stream.get_info().await.unwrap().state.messages;
    let mut found = Vec::new();
    for sequence in 1..=count {
        let message = stream.get_raw_message(sequence).await.unwrap();
        let id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.to_string())
            .unwrap_or_default();
        let event: RecordedEvent = serde_json::from_slice(&message.payload).unwrap();
        found.push((message.subject.to_string(), id, event));
    }
    found
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A number of this test's own (the random bits of a UUID v7), which its orders' ids
/// start with: `run * 1_000_000 + n`.
fn test_run() -> u64 {
    (Uuid::now_v7().as_u128() % 1_000_000_000) as u64 + 1
}

/// What the remote projector recorded in test run `run`, in order.
fn seen_in(run: u64) -> Vec<String> {
    let seen = shop::SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.iter()
        .filter(|(r, _)| *r == run)
        .map(|(_, route)| route.clone())
        .collect()
}

/// A runtime on another machine: its own store, its events from NATS, a failing event
/// tried three times, 5 ms apart at first.
async fn remote(store: &Arc<dyn EventStore>) -> Herald {
    Herald::builder()
        .modules(["nats::shop"])
        .store(store.clone())
        .run_consumers(false)
        .consumer_retry(herald::RetryPolicy::new(3).base(Duration::from_millis(5)))
        .build()
        .await
        .unwrap()
}

async fn source(store: &Arc<dyn EventStore>) -> Herald {
    Herald::builder()
        .modules(["nats::shop"])
        .store(store.clone())
        .run_consumers(false) // the shipments projector runs on the remote side
        .build()
        .await
        .unwrap()
}

/// Every committed event once, in order, on `prefix.route`, with its id as message id;
/// a restarted relay resumes from its checkpoint; one that publishes again (its
/// checkpoint lost) is de-duplicated by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_each_event_once_in_order_and_resumes() {
    let test = TestStore::sqlite().await;
    let herald = source(&test.store).await;
    let nats = nats().await;
    for id in 1..=3 {
        herald.dispatch(shop::Place { id }).await.unwrap();
    }
    let relay = Relay::start(&herald, &nats).await.unwrap();
    herald.dispatch(shop::Ship { id: 2 }).await.unwrap();
    until("4 messages", async || stored(&nats).await.len() == 4).await;
    relay.stop().await;

    let events = test.store.read_all(Position::START, 100).await.unwrap();
    let messages = stored(&nats).await;
    let expected: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                format!("{}.{}", nats.prefix(), e.route),
                e.event_id.to_string(),
            )
        })
        .collect();
    let got: Vec<(String, String)> = messages
        .iter()
        .map(|(s, id, _)| (s.clone(), id.clone()))
        .collect();
    assert_eq!(got, expected, "in the global order, each once");
    assert_eq!(messages[3].2, events[3], "the whole recorded event");

    // Stopped, then started again: only what was committed since.
    herald.dispatch(shop::Ship { id: 3 }).await.unwrap();
    let relay = Relay::start(&herald, &nats).await.unwrap();
    until("5 messages", async || stored(&nats).await.len() == 5).await;
    relay.stop().await;

    // A relay whose checkpoint was lost publishes everything again: the server keeps one.
    let mut tx = test.store.begin().await.unwrap();
    let name = format!("relay:{}", nats.prefix());
    tx.claim_consumer(&name).await.unwrap();
    tx.save_checkpoint(&name, Position::START).await.unwrap();
    tx.commit().await.unwrap();
    let relay = Relay::start(&herald, &nats).await.unwrap();
    let last = test
        .store
        .read_all(Position::START, 100)
        .await
        .unwrap()
        .last()
        .unwrap()
        .position;
    until("the relay to catch up again", async || {
        let checkpoints = test.store.consumers().checkpoints().await.unwrap();
        checkpoints
            .iter()
            .any(|c| c.consumer == name && c.position == last)
    })
    .await;
    relay.stop().await;
    assert_eq!(
        stored(&nats).await.len(),
        5,
        "republished events were dropped as duplicates"
    );
    delete(&nats).await;
}

/// A remote runtime, on a store of its own, runs its eventual projector from JetStream:
/// only the events it takes, in order, once, and resumes after a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_workers_run_eventual_handlers_from_jetstream() {
    let test = TestStore::postgres().await;
    let herald = source(&test.store).await;
    let nats = nats().await;
    let relay = Relay::start(&herald, &nats).await.unwrap();
    let run = test_run(); // tells this run's orders apart
    let order = |n: u64| run * 1_000_000 + n;

    let remote_store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let remote = remote(&remote_store).await;
    let workers = RemoteWorkers::start(&remote, &nats).await.unwrap();
    for n in 1..=3 {
        herald.dispatch(shop::Place { id: order(n) }).await.unwrap();
        herald.dispatch(shop::Ship { id: order(n) }).await.unwrap();
    }
    let seen = || seen_in(run);
    until("3 shipments", async || seen().len() == 3).await;
    let expected: Vec<String> = (1..=3)
        .map(|n| format!("order.{}.shipped", order(n)))
        .collect();
    assert_eq!(seen(), expected, "only shipments, in order");
    workers.stop().await;

    // Stopped: what is committed meanwhile waits in JetStream, and comes once restarted.
    herald.dispatch(shop::Ship { id: order(4) }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen().len(), 3);
    let workers = RemoteWorkers::start(&remote, &nats).await.unwrap();
    until("the fourth shipment", async || seen().len() == 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen().len(), 4, "none twice");
    let checkpoints = remote_store.consumers().checkpoints().await.unwrap();
    assert!(
        checkpoints.iter().any(|c| c.consumer == "shipments"),
        "kept in the remote store"
    );
    workers.stop().await;
    relay.stop().await;
    delete(&nats).await;
}

/// A durable consumer per handler exists, named after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_remote_handler_has_a_durable_consumer() {
    let nats = nats().await;
    let remote = source(&(Arc::new(MemoryStore::new()) as Arc<dyn EventStore>)).await;
    let workers = RemoteWorkers::start(&remote, &nats).await.unwrap();
    let stream = nats.stream().await.unwrap();
    let names: Vec<String> = stream
        .consumer_names()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|n| n.unwrap())
        .collect();
    assert_eq!(names, ["herald-shipments"]);
    workers.stop().await;
    delete(&nats).await;
}

/// A remote handler that keeps failing on an event: it comes again after the backoff,
/// then is parked in the remote runtime's dead letters, with the later events of its
/// stream behind it, while other streams flow on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_remote_event_is_tried_again_then_parked() {
    a_broken_remote_handler_parks_its_event(false).await;
}

/// The same when the handler panics: the panic is its failure, the worker goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_remote_handler_is_tried_again_then_parked() {
    a_broken_remote_handler_parks_its_event(true).await;
}

async fn a_broken_remote_handler_parks_its_event(panics: bool) {
    let test = TestStore::sqlite().await;
    let herald = source(&test.store).await;
    let nats = nats().await;
    let relay = Relay::start(&herald, &nats).await.unwrap();
    let run = test_run();
    let (broken, fine) = (run * 1_000_000 + 1, run * 1_000_000 + 2);
    shop::BROKEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((broken, panics));
    let remote_store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let remote = remote(&remote_store).await;
    let workers = RemoteWorkers::start(&remote, &nats).await.unwrap();
    let first = herald.dispatch(shop::Ship { id: broken }).await.unwrap();
    let second = herald.dispatch(shop::Ship { id: broken }).await.unwrap();
    herald.dispatch(shop::Ship { id: fine }).await.unwrap();
    let seen = || seen_in(run);
    until("the fine shipment", async || seen().len() == 1).await;
    assert_eq!(
        seen(),
        [format!("order.{fine}.shipped")],
        "another stream flows on"
    );
    let letters = remote.consumers().dead_letters("shipments").await.unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0].event_id, first.events()[0].event_id);
    assert_eq!(letters[0].attempts, 3, "tried as often as the policy says");
    assert!(letters[0].error.contains("cannot be recorded"));
    assert_eq!(
        letters[0].error.contains("panicked"),
        panics,
        "{}",
        letters[0].error
    );
    assert_eq!(letters[1].event_id, second.events()[0].event_id);
    assert_eq!(letters[1].behind, Some(letters[0].event_id));
    // Put right, the parked event is retried from its letter (the remote store holds
    // no events), then the one parked behind it.
    shop::BROKEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(id, _)| *id != broken);
    remote
        .consumers()
        .retry("shipments", letters[0].event_id)
        .await
        .unwrap();
    assert_eq!(
        seen(),
        [
            format!("order.{fine}.shipped"),
            format!("order.{broken}.shipped"),
            format!("order.{broken}.shipped"),
        ],
        "retried in order"
    );
    let left = remote.consumers().dead_letters("shipments").await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    workers.stop().await;
    relay.stop().await;
    delete(&nats).await;
}

/// A remote runtime runs a handler split into partitions from its one durable consumer,
/// moving each event's partition's checkpoint: its `Consumers` reads its store as it
/// reads one its own workers run (waiting for the events, a row per partition).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_handler_runs_remotely_with_a_checkpoint_per_partition() {
    let test = TestStore::sqlite().await;
    let herald = source(&test.store).await;
    let nats = nats().await;
    let relay = Relay::start(&herald, &nats).await.unwrap();
    let run = test_run();
    let order = |n: u64| run * 1_000_000 + n;

    let remote_store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let remote = Herald::builder()
        .modules(["nats::shop", "nats::split"])
        .store(remote_store.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let workers = RemoteWorkers::start(&remote, &nats).await.unwrap();
    let mut shipped = Vec::new();
    for n in 1..=8 {
        herald.dispatch(shop::Place { id: order(n) }).await.unwrap();
        let ship = herald.dispatch(shop::Ship { id: order(n) }).await.unwrap();
        shipped.extend(ship.into_events());
    }
    let consumers = remote.consumers();
    consumers
        .wait_for(&shipped, ["split_shipments"], Duration::from_secs(20))
        .await
        .unwrap();
    let seen: Vec<u64> = split::SEEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .copied()
        .filter(|id| id / 1_000_000 == run)
        .collect();
    let expected: Vec<u64> = (1..=8).map(order).collect();
    assert_eq!(seen, expected, "each once, in order");
    let rows: Vec<_> = consumers
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.name == "split_shipments")
        .collect();
    assert_eq!(rows.len(), 4);
    for event in &shipped {
        let partition = herald::Partition::of(&event.stream, 4);
        let row = rows
            .iter()
            .find(|r| r.partition == Some(partition))
            .unwrap();
        assert!(row.position >= event.position, "{row:?}");
    }
    let names: Vec<String> = remote_store
        .consumers()
        .checkpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.consumer)
        .filter(|c| c.starts_with("split_shipments"))
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains('#')),
        "{names:?}"
    );
    workers.stop().await;
    relay.stop().await;
    delete(&nats).await;
}
