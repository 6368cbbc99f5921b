//! A consumer's worker: reads the global order after the consumer's checkpoint and runs
//! its handler on the events it takes, a batch per transaction, with the checkpoint in
//! that transaction. Wakes on commits, and polls with a growing wait when none come.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use super::handle::handle;
use super::hub::{Hub, WeakHub};
use super::partition::{Layout, Members, Partition};
use super::{ConsumerSettings, WorkerProgress, consumer_store_error};
use crate::base::unwind::{Panicked, caught};
use crate::engine::handler::reaction::Reaction;
use crate::engine::handler::saga::{CommitOutcome, Saga};
use crate::outcome::error::{Error, ErrorKind};
use crate::store::{Checkpoint, DeadLetter, Position, RecordedEvent, StoreTransaction, StreamKey};

/// What a step found to do next.
enum Next {
    /// More events may be waiting: look again at once.
    Busy,
    /// Nothing after the checkpoint: wait for a commit.
    Idle,
    /// Another runtime holds the consumer's lease: look again later.
    Standby,
    /// The failing event's next try is not due yet.
    Waiting,
    /// The handler failed on an event and is to try it again after this long.
    Retry(Duration),
}

/// How a batch's events ran.
enum Batch<'e> {
    /// All ran: the checkpoint goes to the position, the sagas settle once committed.
    Done(Position, Vec<Saga>),
    /// The handler failed on `event`, the `index`th of the batch, after `sagas` ran.
    Failed {
        index: usize,
        event: &'e RecordedEvent,
        error: Error,
        sagas: Vec<Saga>,
    },
}

/// An event a handler failed on, to try again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failing {
    event_id: Uuid,
    position: Position,
    tries: u32,
    first: SystemTime,
}

impl Failing {
    /// One more try of `event` (the first, unless `earlier` is about it).
    fn again(earlier: Option<Failing>, event: &RecordedEvent) -> Failing {
        match earlier {
            Some(f) if f.event_id == event.event_id => Failing {
                tries: f.tries + 1,
                ..f
            },
            _ => Failing {
                event_id: event.event_id,
                position: event.position,
                tries: 1,
                first: SystemTime::now(),
            },
        }
    }
}

pub(crate) struct Worker {
    pub(crate) hub: WeakHub,
    /// The handler's name, which its dead letters are kept under.
    pub(crate) name: &'static str,
    /// Its checkpoint's and lease's key: the name, or its partition's key.
    pub(crate) key: String,
    /// How the consumer's checkpoints are laid out.
    pub(crate) layout: Layout,
    /// The share of the streams it takes, when the consumer is split.
    pub(crate) partition: Option<Partition>,
    /// The runtimes running the split consumer, which deal its partitions among them.
    pub(crate) members: Option<Arc<Members>>,
    pub(crate) ordered: bool,
    pub(crate) settings: ConsumerSettings,
    pub(crate) progress: Arc<watch::Sender<WorkerProgress>>,
    /// Changes when its checkpoint was moved under it: what it remembers is stale.
    pub(crate) moved: watch::Receiver<()>,
    /// Where it is, once read.
    pub(crate) position: Option<Position>,
    /// The event the handler keeps failing on, and its tries so far.
    pub(crate) failing: Option<Failing>,
    /// The first parked event of each stream with one (ordered consumers), once read.
    pub(crate) parked: Option<HashMap<StreamKey, Uuid>>,
    /// How many events the next batch may take: those before one that failed after
    /// others in its batch had written.
    pub(crate) stop_before: Option<usize>,
    /// When this runtime last took or renewed the consumer's lease, while it holds it.
    pub(crate) leased_at: Option<std::time::Instant>,
    /// Whether its last lease call failed: the store may have granted the lease without
    /// the reply arriving, so it may hold it without knowing.
    pub(crate) maybe_leased: bool,
    /// Not before when the failing event is tried again.
    pub(crate) retry_at: Option<tokio::time::Instant>,
    /// When it last counted its lag (for the metrics) with a query of its own.
    pub(crate) lag_counted: Option<std::time::Instant>,
    /// The store and the runtime's owner id, to give the lease up with.
    pub(crate) lessee: (Arc<dyn crate::store::EventStore>, Uuid),
}

impl Worker {
    /// Runs until `stop` says so or the runtime is dropped. A batch in flight finishes (or
    /// rolls back) before it stops.
    pub(crate) async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut commits: watch::Receiver<u64>,
    ) {
        let mut idle = self.settings.poll_min;
        loop {
            if *stop.borrow() {
                self.leave().await;
                return;
            }
            let Some(hub) = self.hub.upgrade() else {
                self.leave().await;
                return;
            };
            if self.moved.has_changed().unwrap_or(false) {
                self.moved.mark_unchanged();
                self.forget();
            }
            commits.mark_unchanged();
            let next = self.lease_and_step(&hub).await;
            drop(hub);
            let Some((wait, wake_on_commit)) = self.pause_after(next, &mut idle) else {
                continue;
            };
            // Awake at least every third of the lease, to renew it.
            let wait = wait.min(self.settings.lease / 3);
            let go_on = self.sleep(wait, wake_on_commit, &mut idle, &mut stop, &mut commits);
            if !go_on.await {
                return;
            }
        }
    }

    /// Renews the lease and, when this runtime holds it and no try is waiting, runs a
    /// batch: what to do next.
    async fn lease_and_step(&mut self, hub: &Hub) -> Result<Next, Error> {
        let due = self.retry_at.filter(|at| *at > tokio::time::Instant::now());
        match self.lease(hub).await {
            // Backing off: the lease was renewed, the try waits.
            Ok(true) if due.is_some() => Ok(Next::Waiting),
            Ok(true) => {
                self.retry_at = None;
                // Handlers' panics are their events' failures already: one here is
                // Herald's own, and this worker goes on after it too.
                let stepped = caught(|| self.step(hub)).await;
                stepped.unwrap_or_else(|panic| Err(panicked(&self.key, panic)))
            }
            Ok(false) => Ok(Next::Standby),
            Err(error) => Err(error),
        }
    }

    /// How long to wait after `next`, and whether a commit ends the wait; none to look
    /// again at once. Keeps `idle`, the wait while nothing comes, growing or reset.
    fn pause_after(
        &mut self,
        next: Result<Next, Error>,
        idle: &mut Duration,
    ) -> Option<(Duration, bool)> {
        Some(match next {
            Ok(Next::Busy) => {
                *idle = self.settings.poll_min;
                self.progress.send_modify(|p| p.error = None);
                return None;
            }
            Ok(Next::Idle) => {
                self.progress.send_modify(|p| p.error = None);
                let wait = *idle;
                *idle = (*idle * 2).min(self.settings.poll_max);
                (wait, true)
            }
            Ok(Next::Retry(wait)) => {
                self.retry_at = Some(tokio::time::Instant::now() + wait);
                (wait, false)
            }
            Ok(Next::Waiting) => {
                let left = self.retry_at.map_or(Duration::ZERO, |at| {
                    at.saturating_duration_since(tokio::time::Instant::now())
                });
                (left, false)
            }
            // The holder renews every third of the lease: look again as often.
            Ok(Next::Standby) => (self.settings.lease / 3, false),
            Err(error) => {
                // Nobody awaits a worker: the error is logged, kept for
                // `Consumers::list`, and the batch tried again later.
                tracing::error!(consumer = self.key, %error, "consumer batch failed; trying again");
                self.progress
                    .send_modify(|p| p.error = Some(error.to_string()));
                self.position = None; // read it again
                let wait = *idle;
                *idle = (*idle * 2).min(self.settings.poll_max);
                (wait, false)
            }
        })
    }

    /// Sleeps `wait`, or until a commit (when `wake_on_commit`) or its checkpoint moving
    /// under it; whether to go on. When `stop` says so it leaves, and says not to.
    async fn sleep(
        &mut self,
        wait: Duration,
        wake_on_commit: bool,
        idle: &mut Duration,
        stop: &mut watch::Receiver<bool>,
        commits: &mut watch::Receiver<u64>,
    ) -> bool {
        tokio::select! {
            changed = commits.changed(), if wake_on_commit => {
                if changed.is_ok() {
                    *idle = self.settings.poll_min;
                }
            }
            () = tokio::time::sleep(wait) => {}
            _ = self.moved.changed() => {
                // `changed` marked it seen: forget here what the top of the loop would.
                self.forget();
            }
            _ = stop.changed() => {
                self.leave().await;
                return false;
            }
        }
        true
    }

    /// Forgets what it remembers of the store (its position, the streams it parked, the
    /// event failing), to read them again: someone else may have moved them.
    fn forget(&mut self) {
        (self.position, self.parked, self.failing) = (None, None, None);
    }

    /// Tells those waiting for the consumer (`Consumers::wait_for`) that its checkpoint
    /// moved.
    fn moved_on(&self) {
        self.progress.send_modify(|p| p.retrying = None);
    }

    /// Takes or renews the consumer's lease (every third of it); whether this runtime
    /// holds it. Another runtime's worker takes over once this one stops renewing; the
    /// checkpoint row each batch locks keeps a holder that stalled past its lease from
    /// doing anything twice.
    ///
    /// A partition dealt to another runtime is given up (between batches), for that one
    /// to take.
    async fn lease(&mut self, hub: &Hub) -> Result<bool, Error> {
        let ttl = self.settings.lease;
        if self.leased_at.is_some_and(|at| at.elapsed() < ttl / 3) {
            return Ok(true);
        }
        if let (Some(members), Some(partition)) = (&self.members, self.partition)
            && !members.dealt_here(hub, partition, ttl).await?
        {
            // Given up also when a lease call's reply was lost: the lease may be ours.
            if self.leased_at.is_some() || self.maybe_leased {
                self.release().await;
            }
            return Ok(false);
        }
        let asked = std::time::Instant::now();
        let leased = hub
            .store()
            .consumers()
            .lease(&self.key, hub.owner(), ttl)
            .await;
        self.maybe_leased = leased.is_err();
        let held = leased.map_err(consumer_store_error(&self.key, "taking its lease"))?;
        if held && self.leased_at.is_none() {
            // Newly taken: another runtime may have moved things since.
            crate::telemetry::metrics::lease_taken(self.name);
            self.forget();
        }
        self.leased_at = held.then_some(asked);
        self.hold(held);
        if held {
            // A release with another number of partitions may have started since.
            self.checkpoint(hub).await?;
        }
        Ok(held)
    }

    /// Gives up the lease, so that another runtime takes over at once (also when the
    /// runtime is gone: the worker keeps the store and the owner for this).
    async fn release(&mut self) {
        // Also when it thinks it holds none: a lease it took but did not hear of is its
        // too, and giving up only ever removes this runtime's own.
        self.leased_at = None;
        self.maybe_leased = false;
        self.hold(false);
        let (store, owner) = &self.lessee;
        let released = store.consumers().release(&self.key, *owner);
        if let Err(error) = released.await {
            tracing::warn!(consumer = self.key, %error, "could not give up the lease; it expires");
        }
    }

    /// Stops running the consumer: gives up its lease and, for a partition, this
    /// runtime's membership, so that the others deal its partitions among them at once.
    async fn leave(&mut self) {
        self.release().await;
        if let Some(members) = &self.members {
            let (store, owner) = &self.lessee;
            let key = members.key(*owner);
            if let Err(error) = store.consumers().release(&key, *owner).await {
                tracing::warn!(consumer = self.key, %error, "could not leave; the membership expires");
            }
        }
    }

    /// Where the consumer's checkpoint is, once the store is seen to hold no checkpoints
    /// of it under another number of partitions.
    async fn checkpoint(&self, hub: &Hub) -> Result<Position, Error> {
        let checkpoints = self.layout.verify(hub).await?;
        Ok(position_of(&checkpoints, &self.key))
    }

    /// Tells `Consumers::list` whether this runtime holds the consumer.
    fn hold(&self, held: bool) {
        self.progress
            .send_if_modified(|p| std::mem::replace(&mut p.held, held) != held);
    }

    /// Whether `event` is in this worker's share of the streams.
    fn owns(&self, event: &RecordedEvent) -> bool {
        self.partition
            .is_none_or(|p| Partition::of(&event.stream, p.count) == p)
    }

    /// One batch: read, claim, handle, checkpoint, commit. The batch runs without a
    /// savepoint per event: when a handler fails after others wrote in the transaction,
    /// it is rolled back, and the events before the failing one are run again as a batch
    /// of their own; the failing event then runs alone, tried again with backoff, and
    /// parked after its last try.
    async fn step(&mut self, hub: &Hub) -> Result<Next, Error> {
        let handler = hub
            .registry()
            .eventual_named(self.name)
            .expect("workers run registered consumers");
        let Some((from, events)) = self.read_batch(hub).await? else {
            return Ok(Next::Idle);
        };
        // A new trace: the events' own are linked from each one's handling.
        let span = tracing::info_span!(
            parent: None,
            "herald.consumer.batch",
            consumer = self.name,
            events = events.len(),
            from = %from,
        );
        self.run_read(hub, handler, from, &events)
            .instrument(span)
            .await
    }

    /// The rest of [`step`](Self::step), once its batch is read.
    async fn run_read(
        &mut self,
        hub: &Hub,
        handler: Reaction<'_>,
        from: Position,
        events: &[RecordedEvent],
    ) -> Result<Next, Error> {
        let fail_store = |doing: &str| consumer_store_error(&self.key, doing);
        let mut tx = hub.store().begin().await.map_err(fail_store("beginning"))?;
        if !self.claim(&mut *tx, from).await? {
            return Ok(Next::Busy);
        }
        match self.run_batch(hub, &mut *tx, handler, events, from).await? {
            Batch::Done(done, sagas) => self.commit_batch(hub, tx, from, done, sagas).await,
            Batch::Failed {
                index,
                event,
                sagas,
                ..
            } if index > 0 => {
                // Undo the batch (this was one try); next time, the events before this
                // one alone, so that this one comes first in its batch, where it can be
                // parked.
                drop(tx);
                self.failing = Some(Failing::again(self.failing, event));
                reverse(hub, self.name, sagas).await;
                self.stop_before = Some(index);
                Ok(Next::Busy)
            }
            Batch::Failed { event, error, .. } => {
                drop(tx);
                self.failed(hub, event, from, error).await
            }
        }
    }

    /// The events after the checkpoint (those before `stop_before` only, if set), with
    /// where they start from; none when there are none.
    async fn read_batch(
        &mut self,
        hub: &Hub,
    ) -> Result<Option<(Position, Vec<RecordedEvent>)>, Error> {
        let from = match self.position {
            Some(position) => position,
            None => self.checkpoint(hub).await?,
        };
        let mut events = hub
            .store()
            .read_all(from, self.settings.batch)
            .await
            .map_err(consumer_store_error(&self.key, "reading events"))?;
        if let Some(before) = self.stop_before.take() {
            events.truncate(before);
        }
        if events.is_empty() {
            self.position = Some(from);
            crate::telemetry::metrics::consumer_lag(self.name, 0, 0.0);
            return Ok(None);
        }
        self.measure_lag(hub, from, &events).await;
        if self.failing.is_some_and(|f| f.position <= from) {
            self.failing = None; // someone else got past it
        }
        Ok(Some((from, events)))
    }

    /// The consumer's lag for the metrics, at a batch read from `from`: the batch's
    /// events when it is all there is, else counted (bounded, at most every 5 s).
    async fn measure_lag(&mut self, hub: &Hub, from: Position, events: &[RecordedEvent]) {
        if !cfg!(feature = "metrics") {
            return;
        }
        let seconds = SystemTime::now()
            .duration_since(events[0].recorded_at)
            .unwrap_or_default()
            .as_secs_f64();
        let mut count = events.len() as u64;
        if events.len() >= self.settings.batch {
            let due = self
                .lag_counted
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(5));
            if !due {
                return;
            }
            self.lag_counted = Some(std::time::Instant::now());
            if let Ok((counted, _)) = super::lag(hub.store().consumers(), from).await {
                count = counted.max(count);
            }
        }
        crate::telemetry::metrics::consumer_lag(self.name, count, seconds);
    }

    /// Claims the consumer's checkpoint in `tx`: whether it is still at `from`. Also
    /// reads the parked streams of an ordered consumer, once.
    async fn claim(
        &mut self,
        tx: &mut dyn StoreTransaction,
        from: Position,
    ) -> Result<bool, Error> {
        let claimed = tx
            .claim_consumer(&self.key)
            .await
            .map_err(consumer_store_error(&self.key, "claiming its checkpoint"))?;
        if claimed != from {
            // Another worker (another process, say) moved it, and may have parked events;
            // or a reset moved every checkpoint of the consumer: read it again, and
            // whether the store's checkpoints still fit this release's partitions.
            self.position = None;
            self.parked = None;
            self.moved_on();
            return Ok(false);
        }
        if self.ordered && self.parked.is_none() {
            self.parked = Some(parked_streams(&mut *tx, self.name).await?);
        }
        Ok(true)
    }

    /// Runs the handler on the batch's events in `tx`, parking those behind a parked
    /// event of their stream, until one fails.
    async fn run_batch<'e>(
        &mut self,
        hub: &Hub,
        tx: &mut dyn StoreTransaction,
        handler: Reaction<'_>,
        events: &'e [RecordedEvent],
        from: Position,
    ) -> Result<Batch<'e>, Error> {
        let name = self.name;
        let mut done = from;
        let mut sagas: Vec<Saga> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if !handler.takes(event) || !self.owns(event) {
                done = event.position;
                continue;
            }
            if let Some(head) = self.parked_head(&mut *tx, &event.stream).await? {
                tx.park(&letter_behind(name, event, head))
                    .await
                    .map_err(consumer_store_error(&self.key, "parking an event"))?;
                crate::telemetry::metrics::parked(name);
                done = event.position;
                continue;
            }
            match handle(hub.kernel(), &mut *tx, handler, event).await {
                Ok(saga) => {
                    sagas.push(saga);
                    done = event.position;
                    if self.failing.is_some_and(|f| f.event_id == event.event_id) {
                        self.failing = None;
                    }
                }
                Err(error) => {
                    return Ok(Batch::Failed {
                        index,
                        event,
                        error,
                        sagas,
                    });
                }
            }
        }
        Ok(Batch::Done(done, sagas))
    }

    /// Saves the checkpoint at `done` (when it moved) and commits the batch, then
    /// settles its sagas.
    async fn commit_batch(
        &mut self,
        hub: &Hub,
        mut tx: Box<dyn StoreTransaction>,
        from: Position,
        done: Position,
        mut sagas: Vec<Saga>,
    ) -> Result<Next, Error> {
        let name = self.name;
        let fail_store = |doing: &str| consumer_store_error(&self.key, doing);
        if done != from {
            tx.save_checkpoint(&self.key, done)
                .await
                .map_err(fail_store("saving its checkpoint"))?;
        }
        if let Err(source) = tx.commit().await {
            if !settle_failed_commit(hub, name, &mut sagas).await {
                return Err(fail_store("committing")(source));
            }
            tracing::warn!(consumer = self.key, %source, "a batch's commit reported an error, but its commands are recorded: it committed");
        }
        for saga in sagas {
            saga.settle_done(hub.store()).await;
        }
        self.position = Some(done);
        self.moved_on();
        Ok(Next::Busy)
    }

    /// The handler failed on `event`, the first of its batch: try it again later, or
    /// after the last try park it, with the checkpoint moved past it.
    async fn failed(
        &mut self,
        hub: &Hub,
        event: &RecordedEvent,
        from: Position,
        error: Error,
    ) -> Result<Next, Error> {
        let name = self.name;
        let failing = Failing::again(self.failing, event);
        let (attempts, first) = (failing.tries, failing.first);
        let policy = self.settings.retry;
        if attempts < policy.attempts.max(1) {
            tracing::warn!(consumer = self.key, %error, attempts, "event failed; trying again");
            let retrying = format!(
                "its handler failed on event `{}` ({}) {attempts} of {} times so far: {error}",
                event.route,
                event.event_id,
                policy.attempts.max(1)
            );
            self.progress
                .send_modify(|p| p.retrying = Some(retrying.clone()));
            self.failing = Some(failing);
            return Ok(Next::Retry(policy.wait(attempts)));
        }
        tracing::error!(consumer = self.key, %error, attempts, "event failed its last try; parked");
        let key = &self.key;
        let fail_store = consumer_store_error(key, &format!("parking event {}", event.event_id));
        let mut tx = hub.store().begin().await.map_err(&fail_store)?;
        if tx.claim_consumer(key).await.map_err(&fail_store)? != from {
            self.position = None;
            self.parked = None;
            return Ok(Next::Busy);
        }
        let letter = letter(name, event, error.to_string(), attempts, None, first);
        tx.park(&letter).await.map_err(&fail_store)?;
        tx.save_checkpoint(key, event.position)
            .await
            .map_err(&fail_store)?;
        tx.commit().await.map_err(&fail_store)?;
        crate::telemetry::metrics::parked(name);
        self.failing = None;
        if self.ordered {
            let parked = self.parked.get_or_insert_with(HashMap::new);
            parked.insert(event.stream.clone(), event.event_id);
        }
        self.position = Some(event.position);
        self.moved_on();
        Ok(Next::Busy)
    }

    /// The parked event `stream` waits behind, if any. The worker remembers the streams
    /// it parked; one that another runtime may since have retried or skipped is looked up.
    async fn parked_head(
        &mut self,
        tx: &mut dyn StoreTransaction,
        stream: &StreamKey,
    ) -> Result<Option<Uuid>, Error> {
        let Some(parked) = &mut self.parked else {
            return Ok(None);
        };
        if !parked.contains_key(stream) {
            return Ok(None);
        }
        let still = parked_streams(tx, self.name).await?;
        match still.get(stream) {
            Some(&now) => {
                parked.insert(stream.clone(), now);
                Ok(Some(now))
            }
            None => {
                parked.remove(stream);
                Ok(None)
            }
        }
    }
}

/// A worker's own panic, as its error.
pub(crate) fn panicked(consumer: &str, panic: Panicked) -> Error {
    ErrorKind::Store {
        context: format!("consumer `{consumer}`"),
        source: crate::store::StoreError::Backend(Box::new(panic)),
    }
    .into()
}

/// A batch's commit reported an error: whether it committed after all, as a command
/// row of its processors says. If it did, the sagas are left to settle as done. If not,
/// they are reversed; if the store cannot say, they are settled once it answers. A
/// batch that ran no saga needs no answer: it runs again, and finds its checkpoint
/// moved if it had committed.
pub(crate) async fn settle_failed_commit(hub: &Hub, consumer: &str, sagas: &mut Vec<Saga>) -> bool {
    let Some(witness) = sagas.iter().find_map(Saga::witness) else {
        return false;
    };
    match CommitOutcome::of(hub.store(), witness).await {
        CommitOutcome::Committed => return true,
        CommitOutcome::RolledBack => reverse(hub, consumer, std::mem::take(sagas)).await,
        CommitOutcome::Unknown(error) => {
            tracing::warn!(consumer, %error, "whether a batch's commit took effect is unknown");
            // One witness decides them all: one saga, asked about once.
            let mut batch = Saga::default();
            for saga in sagas.drain(..) {
                batch.append(saga);
            }
            batch.settle_when_known(hub.kernel(), witness);
        }
    }
    false
}

/// Reverses the saga steps of a rolled-back batch's processors, last first.
pub(crate) async fn reverse(hub: &Hub, consumer: &str, sagas: Vec<Saga>) {
    let mut tracer =
        crate::outcome::trace::Tracer::new(crate::outcome::trace::Operation::Rollback, consumer);
    for saga in sagas.into_iter().rev() {
        let store = hub.store();
        for problem in saga.reverse(store, hub.saga_retry(), &mut tracer).await {
            tracing::error!(consumer, "{problem}");
        }
    }
}

/// The consumer's committed checkpoint.
pub(crate) async fn checkpoint_of(hub: &Hub, name: &str) -> Result<Position, Error> {
    let checkpoints = hub
        .store()
        .consumers()
        .checkpoints()
        .await
        .map_err(consumer_store_error(name, "reading its checkpoint"))?;
    Ok(position_of(&checkpoints, name))
}

/// Where checkpoint `key` is among `checkpoints`: the start when it has none yet.
pub(crate) fn position_of(checkpoints: &[Checkpoint], key: &str) -> Position {
    (checkpoints.iter())
        .find(|c| c.consumer == key)
        .map_or(Position::START, |c| c.position)
}

/// The first parked event of each stream the consumer has parked events of, read in its
/// transaction (a read through the pool could wait for the connection the transaction
/// holds: `sqlite::memory:` has one).
async fn parked_streams(
    tx: &mut dyn StoreTransaction,
    name: &str,
) -> Result<HashMap<StreamKey, Uuid>, Error> {
    let letters = tx
        .dead_letters(name)
        .await
        .map_err(consumer_store_error(name, "reading its dead letters"))?;
    let mut heads = HashMap::new();
    for letter in letters {
        heads.entry(letter.stream).or_insert(letter.event_id);
    }
    Ok(heads)
}

/// A dead letter for `event`, which waits behind `head`, the parked event of its stream.
pub(crate) fn letter_behind(consumer: &str, event: &RecordedEvent, head: Uuid) -> DeadLetter {
    letter(
        consumer,
        event,
        waits_behind(head),
        0,
        Some(head),
        SystemTime::now(),
    )
}

/// Why an event waits behind `head`.
pub(crate) fn waits_behind(head: Uuid) -> String {
    format!("waits behind event {head} of its stream, which is parked")
}

/// A dead letter for `event`.
pub(crate) fn letter(
    consumer: &str,
    event: &RecordedEvent,
    error: String,
    attempts: u32,
    behind: Option<Uuid>,
    first_failed_at: SystemTime,
) -> DeadLetter {
    DeadLetter {
        consumer: consumer.to_owned(),
        event_id: event.event_id,
        position: event.position,
        stream: event.stream.clone(),
        route: event.route.to_string(),
        error,
        attempts,
        behind,
        first_failed_at,
        last_failed_at: SystemTime::now(),
        event: Some(Box::new(event.clone())),
    }
}
