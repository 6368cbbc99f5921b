//! Eventual handlers. Every `consistency = eventual` projector and processor is a
//! consumer: a named reader of the global order with a checkpoint in the store, run by a
//! worker of the runtime after the commands commit.
//!
//! A batch of events is one transaction that holds the consumer's checkpoint: a projector
//! writing to the same database writes its rows and the checkpoint together, so each event
//! takes effect exactly once, across crashes. A processor's commands run in that
//! transaction too, with ids derived from the event, so they are never doubled. Anything
//! else a handler does (a call to another system) happens at least once, and must be
//! idempotent. A failing event is tried again with backoff, then parked as a dead letter;
//! later events of its stream are parked behind it (unless the handler says `ordered =
//! false`) while other streams flow on.

mod archive;
mod handle;
mod hub;
mod live;
mod partition;
mod rebuild;
mod remote;
mod snapshot;
mod worker;

pub use archive::Archived;
#[cfg(feature = "cli")]
pub(crate) use archive::{ARCHIVE, archive_store, passed_by_all};
pub(crate) use hub::Hub;
pub use live::{Live, LiveEvents};
pub(crate) use live::{Tail, subscribe};
pub(crate) use partition::Layout;
pub use partition::Partition;
#[cfg(feature = "nats")]
pub(crate) use partition::{retired, retired_error};
pub use rebuild::{Rebuild, RebuildProgress, Rebuilt};
pub use remote::{
    Acknowledged, Register, Registered, RemoteConsumer, RemoteConsumers, SCAN_BUDGET,
};
pub(crate) use remote::{describe, parse_patterns, read_events};
pub use snapshot::{Restore, SnapshotInfo, SnapshotProgress, TakeSnapshot};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::base::retry::RetryPolicy;
use crate::engine::handler::reaction::Reaction;
use crate::engine::handler::saga::Saga;
use crate::outcome::error::{Error, ErrorKind};
use crate::store::{
    ConsumerLog, DeadLetter, Position, RecordedEvent, StoreError, StoreTransaction, StreamKey,
};
pub(crate) use handle::handle;
use worker::Worker;
pub(crate) use worker::{checkpoint_of, letter, position_of, waits_behind};
#[cfg(feature = "nats")]
pub(crate) use worker::{letter_behind, settle_failed_commit};

/// How the runtime's consumers run (see [`HeraldBuilder`](crate::HeraldBuilder)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConsumerSettings {
    /// Whether this runtime runs workers for its consumers.
    pub(crate) run: bool,
    pub(crate) retry: RetryPolicy,
    /// Events read per batch (one transaction).
    pub(crate) batch: usize,
    /// The shortest and longest wait between looks when no commit is heard of.
    pub(crate) poll_min: Duration,
    pub(crate) poll_max: Duration,
    /// How long a runtime's hold on a consumer lasts without being renewed.
    pub(crate) lease: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        ConsumerSettings {
            run: true,
            retry: RetryPolicy::new(5)
                .base(Duration::from_millis(100))
                .cap(Duration::from_secs(30))
                .jitter(0.2),
            // A processor's commands each take a savepoint, and PostgreSQL keeps at most 64
            // subtransactions per transaction in memory.
            batch: 25,
            poll_min: Duration::from_millis(10),
            poll_max: Duration::from_secs(1),
            lease: Duration::from_secs(30),
        }
    }
}

/// What a worker tells the rest of the runtime; each change also says that its
/// checkpoint may have moved.
#[derive(Clone, Debug, Default)]
pub(crate) struct WorkerProgress {
    /// The last batch's error, until a batch succeeds.
    error: Option<String>,
    /// The event its handler keeps failing on, while it is tried again: why.
    retrying: Option<String>,
    /// Whether this runtime holds the consumer's (or partition's) lease.
    held: bool,
}

/// The runtime's workers: one per consumer, and how to stop them.
#[derive(Default)]
pub(crate) struct Workers {
    stop: Option<watch::Sender<bool>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Each worker's, by checkpoint key (the consumer's name, or its partition's key).
    progress: HashMap<String, Arc<watch::Sender<WorkerProgress>>>,
    /// Tells a consumer's workers that their checkpoints were moved under them (a reset,
    /// a rebuild), by consumer name.
    moved: HashMap<&'static str, watch::Sender<()>>,
}

impl Workers {
    /// Starts a worker for each consumer of `herald`, unless its settings say not to or
    /// there is no Tokio runtime to run them on.
    pub(crate) fn start(hub: &Arc<Hub>) -> Workers {
        let settings = hub.consumer_settings();
        let Ok(tokio) = tokio::runtime::Handle::try_current() else {
            return Workers::default();
        };
        if !settings.run {
            return Workers::default();
        }
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut progress = HashMap::new();
        let mut moved = HashMap::new();
        for handler in hub.registry().eventual_handlers() {
            let name = handler.name();
            let layout = Layout::of(handler);
            let nudge = watch::Sender::new(());
            let members =
                (layout.partitions > 1).then(|| Arc::new(partition::Members::new(layout)));
            for (partition, key) in layout.keys() {
                let sender = Arc::new(watch::Sender::new(WorkerProgress::default()));
                progress.insert(key.clone(), sender.clone());
                let worker = Worker {
                    hub: hub.downgrade(),
                    name,
                    key,
                    layout,
                    partition,
                    members: members.clone(),
                    ordered: ordered(handler),
                    settings,
                    progress: sender,
                    moved: nudge.subscribe(),
                    position: None,
                    failing: None,
                    parked: None,
                    stop_before: None,
                    leased_at: None,
                    maybe_leased: false,
                    retry_at: None,
                    lag_counted: None,
                    lessee: (hub.shared_store(), hub.owner()),
                };
                let commits = hub.store().consumers().commits();
                tasks.push(tokio.spawn(worker.run(stop.subscribe(), commits)));
            }
            moved.insert(name, nudge);
        }
        Workers {
            stop: Some(stop),
            tasks: Mutex::new(tasks),
            progress,
            moved,
        }
    }

    /// Tells consumer `name`'s worker, if it runs here, that its checkpoint moved.
    pub(crate) fn moved(&self, name: &str) {
        if let Some(nudge) = self.moved.get(name) {
            nudge.send_replace(());
        }
    }

    /// Asks the workers to stop and waits for them: a batch in flight commits or rolls
    /// back first.
    pub(crate) async fn stop(&self) {
        if let Some(stop) = &self.stop {
            stop.send_replace(true);
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.send_replace(true);
        }
    }
}

/// Whether a parked event of `handler` holds back the later events of its stream.
pub(crate) fn ordered(handler: Reaction<'_>) -> bool {
    match handler {
        Reaction::Project(p, _) => p.ordered,
        Reaction::Process(p, _) => p.ordered,
        Reaction::Dispatch(..) => true,
    }
}

/// How far behind a consumer's lag is counted exactly: beyond it, [`Consumers::list`]
/// estimates it from the positions and says so (`lag_exact: false`).
pub const EXACT_LAG: u64 = 10_000;

/// How many committed events come after `position`: counted exactly up to
/// [`EXACT_LAG`] (`true`), estimated from the positions beyond (`false`), so that a
/// consumer far behind on a long log costs a bounded count, not a scan of the log.
pub(crate) async fn lag(
    log: &dyn ConsumerLog,
    position: Position,
) -> Result<(u64, bool), StoreError> {
    let counted = log.count_after_at_most(position, EXACT_LAG + 1).await?;
    if counted <= EXACT_LAG {
        return Ok((counted, true));
    }
    // Positions are a sequence with gaps (rolled back transactions) only: the distance
    // to the head is close, and never less than what was counted.
    let head = log.head().await?;
    let estimate = head.parts().1.saturating_sub(position.parts().1);
    Ok((estimate.max(counted), false))
}

/// A consumer as [`Consumers::list`] reports it: a row per consumer, or per partition of
/// a consumer split with `partitions = N`.
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// for consumer in herald.consumers().list().await? {
///     println!(
///         "{} {}: {} behind, {} parked{}",
///         consumer.kind, consumer.name, consumer.lag, consumer.parked,
///         consumer.error.map(|e| format!(", failing: {e}")).unwrap_or_default()
///     );
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStatus {
    /// Its name: the handler's.
    pub name: &'static str,
    /// The share of its streams this row is about, when it is split into partitions.
    pub partition: Option<Partition>,
    /// `projector` or `processor`.
    pub kind: &'static str,
    /// The last event it is done with.
    pub position: Position,
    /// How many committed events come after it (not all need be its own): counted up
    /// to [`EXACT_LAG`] events, estimated from the positions beyond (see `lag_exact`).
    pub lag: u64,
    /// Whether `lag` was counted (at most [`EXACT_LAG`] events behind) rather than
    /// estimated from the positions, which is what keeps listing fast on a long log.
    pub lag_exact: bool,
    /// How many events it has parked.
    pub parked: usize,
    /// Whether this runtime has a worker for it (holding it, or standing by).
    pub running: bool,
    /// Whether this runtime holds it now: its worker here runs it, while the other
    /// runtimes' stand by.
    pub held: bool,
    /// The error of its worker's last batch, while it keeps failing (the store is
    /// unreachable, say); a handler's errors park events instead.
    pub error: Option<String>,
}

/// The eventual consumers of a runtime: where they are, their dead letters, and waiting
/// for them. Get one with [`Herald::consumers`](crate::Herald::consumers).
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// let herald = herald::Herald::builder().modules(["herald_doc_fixtures"]).build().await?;
/// let opened = herald.dispatch(OpenAccount { account_id: 1 }).await?;
/// let consumers = herald.consumers();
/// consumers.wait_for(opened.events(), ["statements"], std::time::Duration::from_secs(5)).await?;
/// let statements = consumers.list().await?.into_iter().find(|c| c.name == "statements").unwrap();
/// assert_eq!((statements.lag, statements.parked), (0, 0));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Consumers<'h> {
    hub: &'h Hub,
}

impl<'h> Consumers<'h> {
    pub(crate) fn new(hub: &'h Hub) -> Self {
        Consumers { hub }
    }

    /// Every consumer of this runtime's registrations, by name.
    pub async fn list(&self) -> Result<Vec<ConsumerStatus>, Error> {
        let log = self.hub.store().consumers();
        let checkpoints = log.checkpoints().await.map_err(|source| ErrorKind::Store {
            context: "listing consumers".into(),
            source,
        })?;
        let mut found = Vec::new();
        for handler in self.hub.registry().eventual_handlers() {
            let name = handler.name();
            let layout = Layout::of(handler);
            let letters = log
                .dead_letters(name)
                .await
                .map_err(consumer_store_error(name, "listing its dead letters"))?;
            for (partition, key) in layout.keys() {
                let position = position_of(&checkpoints, &key);
                let (lag, lag_exact) = lag(log, position)
                    .await
                    .map_err(consumer_store_error(&key, "counting its lag"))?;
                let parked = letters
                    .iter()
                    .filter(|l| layout.partition_of(&l.stream) == partition)
                    .count();
                let progress = self.hub.workers().progress.get(&key).map(|p| p.borrow());
                found.push(ConsumerStatus {
                    name,
                    partition,
                    kind: match handler {
                        Reaction::Process(..) => "processor",
                        _ => "projector",
                    },
                    position,
                    lag,
                    lag_exact,
                    parked,
                    running: progress.is_some(),
                    held: progress.as_ref().is_some_and(|p| p.held),
                    error: progress.and_then(|p| p.error.clone()),
                });
            }
        }
        Ok(found)
    }

    /// The events `consumer` parked, in global order.
    pub async fn dead_letters(&self, consumer: &str) -> Result<Vec<DeadLetter>, Error> {
        self.handler(consumer)?;
        let log = self.hub.store().consumers();
        log.dead_letters(consumer)
            .await
            .map_err(consumer_store_error(consumer, "listing its dead letters"))
    }

    /// Runs `consumer`'s handler on a parked event now. If it succeeds the event leaves
    /// the dead letters, and so do the events of its stream parked behind it, each run in
    /// order (the first that fails stays parked, with the rest behind it). If it fails the
    /// letter keeps the new error and count, and the error is returned.
    pub async fn retry(&self, consumer: &str, event_id: Uuid) -> Result<(), Error> {
        self.settle(consumer, event_id, true).await
    }

    /// Gives up on a parked event: it leaves the dead letters without running, and the
    /// events of its stream parked behind it run in order, as after a
    /// [`retry`](Self::retry).
    pub async fn skip(&self, consumer: &str, event_id: Uuid) -> Result<(), Error> {
        self.settle(consumer, event_id, false).await
    }

    /// Waits until every consumer named is past all of `events` (those of a
    /// [`Dispatched`](crate::Dispatched), say), so that what they write can be read. An
    /// event a consumer parked is an error ([`ErrorKind::Parked`]), as is a wait longer
    /// than `timeout` ([`ErrorKind::Timeout`]).
    pub async fn wait_for<I, S>(
        &self,
        events: &[RecordedEvent],
        consumers: I,
        timeout: Duration,
    ) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if events.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        for consumer in consumers {
            let consumer = consumer.as_ref();
            let layout = Layout::of(self.handler(consumer)?);
            // Not past them under another layout's checkpoints (a retired one stands past
            // every event).
            layout.verify(self.hub).await?;
            // Each partition the events fall in, to be past the last of them.
            let mut lasts: HashMap<String, Position> = HashMap::new();
            for event in events {
                let last = lasts
                    .entry(layout.key_of(&event.stream))
                    .or_insert(Position::START);
                *last = (*last).max(event.position);
            }
            for (key, last) in lasts {
                self.wait_past(consumer, &key, last, deadline, timeout)
                    .await?;
            }
            let letters = self.dead_letters(consumer).await?;
            let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
            if let Some(letter) = letters.into_iter().find(|l| ids.contains(&l.event_id)) {
                return Err(ErrorKind::Parked {
                    consumer: consumer.to_owned(),
                    event: letter.route,
                    event_id: letter.event_id,
                    attempts: letter.attempts,
                    error: letter.error,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Waits until checkpoint `key` of `consumer` is at `last` or past it.
    async fn wait_past(
        &self,
        consumer: &str,
        key: &str,
        last: Position,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<(), Error> {
        let mut progress = self.hub.workers().progress.get(key).map(|p| p.subscribe());
        let mut poll = Duration::from_millis(5);
        loop {
            if checkpoint_of(self.hub, key).await? >= last {
                break;
            }
            // A worker of this runtime says when it moves; another process's is looked
            // at again a little later each time.
            let waited = async {
                let moved = async {
                    match &mut progress {
                        Some(progress) => drop(progress.changed().await),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = moved => {}
                    () = tokio::time::sleep(poll) => {}
                }
                poll = (poll * 2).min(Duration::from_millis(200));
            };
            if tokio::time::timeout_at(deadline, waited).await.is_err() {
                return Err(ErrorKind::Timeout {
                    consumer: consumer.to_owned(),
                    waited: timeout,
                    why: self.why_not_past(key).await,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Why checkpoint `key` is not where it was waited for: what a timeout says.
    async fn why_not_past(&self, key: &str) -> String {
        if let Some(progress) = self.hub.workers().progress.get(key) {
            let progress = progress.borrow();
            return match (&progress.error, &progress.retrying, progress.held) {
                (Some(error), _, _) => format!("its worker in this runtime keeps failing: {error}"),
                (None, Some(retrying), _) => retrying.clone(),
                (None, None, true) => "its worker in this runtime has not got there yet".into(),
                (None, None, false) => {
                    "another runtime holds its lease and has not got there yet".into()
                }
            };
        }
        let here = match self.hub.consumer_settings().run {
            true => "this runtime does not run it",
            false => "this runtime runs no consumers (it was built with `.run_consumers(false)`)",
        };
        match self.hub.store().consumers().leases(key).await {
            Ok(leases) if leases.iter().all(|l| l.consumer != key) => {
                format!("{here}, and no runtime holds its lease: nothing runs it")
            }
            Ok(_) => format!("{here}; the runtime that holds its lease has not got there yet"),
            Err(_) => here.to_owned(),
        }
    }

    /// The consumer called `name`, or an error naming the ones there are.
    fn handler(&self, name: &str) -> Result<Reaction<'h>, Error> {
        self.hub.registry().eventual_named(name).ok_or_else(|| {
            let known: Vec<&str> = self
                .hub
                .registry()
                .eventual_handlers()
                .iter()
                .map(Reaction::name)
                .collect();
            ErrorKind::NoSuchConsumer(format!(
                "no eventual projector or processor is called `{name}` in this runtime (there are: {})",
                known.join(", ")
            ))
            .into()
        })
    }

    /// Retries (`run`) or skips a parked event, then releases the events parked behind it.
    async fn settle(&self, consumer: &str, event_id: Uuid, run: bool) -> Result<(), Error> {
        let handler = self.handler(consumer)?;
        let hub = self.hub;
        let store = hub.store();
        let fail_store = consumer_store_error(consumer, &format!("settling event {event_id}"));
        // The events it may run, read before the transaction (a read through the pool in
        // it could wait for the connection it holds): those parked on the event's stream.
        let (stream, events) = self
            .parked_on_its_stream(consumer, event_id, &fail_store)
            .await?;
        // One transaction, holding the consumer (the partition of the event's stream): its
        // worker waits meanwhile, and the dead letters read in it are the ones to settle.
        let layout = Layout::of(handler);
        layout.verify(hub).await?;
        let mut tx = store.begin().await.map_err(&fail_store)?;
        let key = layout.key_of(&stream);
        tx.claim_consumer(&key).await.map_err(&fail_store)?;
        let letters = tx.dead_letters(consumer).await.map_err(&fail_store)?;
        let first = first_to_settle(&letters, consumer, event_id)?;
        // An ordered consumer's later letters of the stream wait behind this one.
        let behind = letters.iter().filter(|l| {
            ordered(handler) && l.stream == first.stream && l.position > first.position
        });
        let mut sagas = Vec::new();
        let mut first_error = None;
        let mut head: Option<Uuid> = None;
        for (index, parked) in std::iter::once(first).chain(behind).enumerate() {
            if let Some(head) = head {
                // An earlier one failed again: this one stays parked, behind it.
                let waiting = DeadLetter {
                    behind: Some(head),
                    error: waits_behind(head),
                    ..parked.clone()
                };
                tx.park(&waiting).await.map_err(&fail_store)?;
                continue;
            }
            if index == 0 && !run {
                tx.unpark(consumer, parked.event_id)
                    .await
                    .map_err(&fail_store)?;
                continue;
            }
            let Some(event) = events.get(&parked.event_id) else {
                return Err(fail_store(StoreError::Backend(
                    format!(
                        "parked event {} is not in this runtime's store and its letter does not keep it \
                         (an older Herald parked it); or it was parked meanwhile: try again",
                        parked.event_id
                    )
                    .into(),
                )));
            };
            let retried =
                retry_parked(hub, &mut *tx, handler, consumer, parked, event, &fail_store);
            match retried.await? {
                Ok(saga) => sagas.push(saga),
                Err(error) => {
                    head = Some(parked.event_id);
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Err(source) = tx.commit().await
            && !worker::settle_failed_commit(hub, consumer, &mut sagas).await
        {
            return Err(fail_store(source));
        }
        hub.workers().moved(consumer);
        for saga in sagas {
            saga.settle_done(store).await;
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The stream of event `event_id`, parked by `consumer`, and the events parked on that
    /// stream, by id: kept with their letters, or (a letter of an older Herald's) read from
    /// the store.
    async fn parked_on_its_stream(
        &self,
        consumer: &str,
        event_id: Uuid,
        fail_store: &impl Fn(StoreError) -> Error,
    ) -> Result<(StreamKey, HashMap<Uuid, RecordedEvent>), Error> {
        let before = self.dead_letters(consumer).await?;
        let Some(stream) = before
            .iter()
            .find(|l| l.event_id == event_id)
            .map(|l| &l.stream)
        else {
            return Err(not_parked(consumer, event_id));
        };
        let mut events = HashMap::new();
        for letter in before.iter().filter(|l| &l.stream == stream) {
            // Kept with the letter; a letter of an older Herald's, from the store.
            let event = match &letter.event {
                Some(event) => Some((**event).clone()),
                None => self
                    .hub
                    .store()
                    .consumers()
                    .event(letter.event_id)
                    .await
                    .map_err(fail_store)?,
            };
            if let Some(event) = event {
                events.insert(letter.event_id, event);
            }
        }
        Ok((stream.clone(), events))
    }
}

/// The letter of event `event_id` among `letters`, when it is parked and waits behind no
/// other: the first to settle.
fn first_to_settle<'l>(
    letters: &'l [DeadLetter],
    consumer: &str,
    event_id: Uuid,
) -> Result<&'l DeadLetter, Error> {
    let Some(first) = letters.iter().find(|l| l.event_id == event_id) else {
        return Err(not_parked(consumer, event_id));
    };
    if let Some(head) = first
        .behind
        .filter(|h| letters.iter().any(|l| l.event_id == *h))
    {
        return Err(ErrorKind::NoSuchConsumer(format!(
            "event {event_id} waits behind event {head} of its stream: retry or skip that one first"
        ))
        .into());
    }
    Ok(first)
}

/// Runs `event`, parked as `parked`, again in a savepoint: unparked when it succeeds
/// (`Ok` with its saga), parked again with one more attempt when it fails (`Err` with
/// its error). The outer error is the store's.
async fn retry_parked(
    hub: &Hub,
    tx: &mut dyn StoreTransaction,
    handler: Reaction<'_>,
    consumer: &str,
    parked: &DeadLetter,
    event: &RecordedEvent,
    fail_store: &impl Fn(StoreError) -> Error,
) -> Result<Result<Saga, Error>, Error> {
    let savepoint = tx.savepoint().await.map_err(fail_store)?;
    match handle(hub.kernel(), &mut *tx, handler, event).await {
        Ok(saga) => {
            tx.release(savepoint).await.map_err(fail_store)?;
            tx.unpark(consumer, parked.event_id)
                .await
                .map_err(fail_store)?;
            Ok(Ok(saga))
        }
        Err(error) => {
            tx.rollback_to(savepoint).await.map_err(fail_store)?;
            let tried = parked.attempts + 1;
            let since = parked.first_failed_at;
            let again = letter(consumer, event, error.to_string(), tried, None, since);
            tx.park(&again).await.map_err(fail_store)?;
            Ok(Err(error))
        }
    }
}

/// That `consumer` has not parked event `event_id`.
fn not_parked(consumer: &str, event_id: Uuid) -> Error {
    ErrorKind::NoSuchConsumer(format!(
        "consumer `{consumer}` has not parked event {event_id}"
    ))
    .into()
}

/// A store failure while working on consumer `consumer`, saying what was being done.
pub(crate) fn consumer_store_error(
    consumer: &str,
    doing: &str,
) -> impl Fn(StoreError) -> Error + use<> {
    let context = format!("consumer `{consumer}`: {doing}");
    move |source| {
        ErrorKind::Store {
            context: context.clone(),
            source,
        }
        .into()
    }
}
