//! A store that fails on purpose: a commit that reports an error after the database
//! committed (a connection dropped after the commit record), or instead of committing,
//! and reads of command records that fail for a while (the store does not answer).
//! Everything else goes to the store it wraps.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald::Uuid;
use herald::route::Pattern;
use herald::store::{
    AggregateRead, BoxFuture, Checkpoint, ConsumerLog, DeadLetter, EventStore, Lease, NewEvent,
    Page, Position, RecordedCommand, RecordedEvent, ReplayEvent, ReplayFrom, ResultJson, SagaLog,
    Savepoint, Snapshot, Sql, StoreError, StoreTransaction, StreamKey,
};

/// How the next commit concerned fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitFault {
    /// The database commits, then the commit reports an error.
    AfterCommit,
    /// The database rolls back, and the commit reports an error.
    InsteadOfCommit,
}

/// The faults to inject, shared by the store and its transactions.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next commit of a transaction that appended an event whose route starts with
    /// the prefix (any transaction for `""`) fails so.
    commit: Mutex<Option<(String, CommitFault)>>,
    /// How many reads of a command's record fail from now on.
    lookups: AtomicU32,
    /// How many commits failed as asked.
    injected: AtomicU32,
    /// Leases on this consumer key are taken, but the reply is lost: an error comes back.
    lost_lease_replies: Mutex<Option<String>>,
}

impl Faults {
    /// Makes the next commit of a transaction that appended an event under `route_prefix`
    /// fail as `fault` says.
    pub fn fail_commit(&self, route_prefix: &str, fault: CommitFault) {
        *self.commit.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((route_prefix.to_owned(), fault));
    }

    /// Makes the next `n` reads of a command's record fail.
    pub fn fail_lookups(&self, n: u32) {
        self.lookups.store(n, Ordering::SeqCst);
    }

    /// Makes every lease call on consumer `key` take the lease and report an error, as
    /// a reply lost on the way back would.
    pub fn lose_lease_replies(&self, key: &str) {
        *self
            .lost_lease_replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(key.to_owned());
    }

    fn loses_lease_reply(&self, key: &str) -> bool {
        let lost = self
            .lost_lease_replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        lost.as_deref() == Some(key)
    }

    /// How many commits failed as asked so far.
    pub fn injected(&self) -> u32 {
        self.injected.load(Ordering::SeqCst)
    }

    fn take_commit_fault(&self, routes: &[String]) -> Option<CommitFault> {
        let mut armed = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        let (prefix, fault) = armed.as_ref()?;
        let applies = prefix.is_empty() || routes.iter().any(|r| r.starts_with(prefix.as_str()));
        if !applies {
            return None;
        }
        let fault = *fault;
        *armed = None;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(fault)
    }

    fn lookup_fails(&self) -> bool {
        self.lookups
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// A store that injects [`Faults`] into the one it wraps.
pub struct FaultyStore {
    inner: Arc<dyn EventStore>,
    /// The faults to inject.
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wraps `inner`, with no fault armed.
    pub fn new(inner: Arc<dyn EventStore>) -> Self {
        FaultyStore {
            inner,
            faults: Arc::default(),
        }
    }
}

fn injected(what: &str) -> StoreError {
    StoreError::Backend(format!("injected fault: {what}").into())
}

impl EventStore for FaultyStore {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        Box::pin(async move {
            let inner = self.inner.begin().await?;
            Ok(Box::new(FaultyTransaction {
                inner,
                faults: self.faults.clone(),
                routes: Vec::new(),
            }) as Box<dyn StoreTransaction>)
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        self.inner.read_stream(stream, after_version)
    }

    fn replay<'a>(
        &'a self,
        stream: &'a StreamKey,
        from: ReplayFrom,
    ) -> BoxFuture<'a, Result<AggregateRead, StoreError>> {
        self.inner.replay(stream, from)
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        self.inner.read_all(after, limit)
    }

    fn read_matching<'a>(
        &'a self,
        after: Position,
        limit: usize,
        patterns: &'a [Pattern],
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        self.inner.read_matching(after, limit, patterns)
    }

    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        self.inner.read_snapshot(stream)
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn groups_commits(&self) -> bool {
        self.inner.groups_commits()
    }

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        if self.faults.lookup_fails() {
            return Box::pin(async { Err(injected("the store does not answer")) });
        }
        self.inner.read_command(id)
    }

    fn recent_commands(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<herald::store::ListedCommand>, StoreError>> {
        self.inner.recent_commands(before, limit)
    }

    fn sagas(&self) -> &dyn SagaLog {
        self.inner.sagas()
    }

    fn consumers(&self) -> &dyn ConsumerLog {
        self
    }
}

impl ConsumerLog for FaultyStore {
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        self.inner.consumers().checkpoints()
    }

    fn dead_letters<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        self.inner.consumers().dead_letters(consumer)
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        self.inner.consumers().event(event_id)
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        self.inner.consumers().head()
    }

    fn count_after(&self, position: Position) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.consumers().count_after(position)
    }

    fn lease<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let held = self.inner.consumers().lease(consumer, owner, ttl).await?;
            match self.faults.loses_lease_reply(consumer) {
                true => Err(injected("the lease's reply was lost")),
                false => Ok(held),
            }
        })
    }

    fn leases<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Lease>, StoreError>> {
        self.inner.consumers().leases(prefix)
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.consumers().release(consumer, owner)
    }

    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.consumers().commits()
    }
}

struct FaultyTransaction {
    inner: Box<dyn StoreTransaction>,
    faults: Arc<Faults>,
    /// The routes of the events it appended.
    routes: Vec<String>,
}

impl StoreTransaction for FaultyTransaction {
    fn load_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        self.inner.load_stream(stream, after_version)
    }

    fn replay_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<ReplayEvent>, StoreError>> {
        self.inner.replay_stream(stream, after_version)
    }

    fn stream_version<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.inner.stream_version(stream)
    }

    fn append<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        self.routes
            .extend(events.iter().map(|e| e.route.as_str().to_owned()));
        self.inner.append(stream, expected, events)
    }

    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>> {
        self.inner.record_command(id, payload_hash)
    }

    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: ResultJson<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.finish_command(id, payload_hash, result)
    }

    fn load_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        self.inner.load_snapshot(stream)
    }

    fn save_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.save_snapshot(stream, snapshot)
    }

    fn claim_consumer<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Position, StoreError>> {
        self.inner.claim_consumer(consumer)
    }

    fn save_checkpoint<'a>(
        &'a mut self,
        consumer: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.save_checkpoint(consumer, position)
    }

    fn park<'a>(&'a mut self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.park(letter)
    }

    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        self.inner.dead_letters(consumer)
    }

    fn unpark<'a>(
        &'a mut self,
        consumer: &'a str,
        event_id: Uuid,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.unpark(consumer, event_id)
    }

    fn sql(&mut self) -> Sql<'_> {
        self.inner.sql()
    }

    fn write_commands_at_commit(&mut self) {
        self.inner.write_commands_at_commit();
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.inner.savepoint()
    }

    fn defer_savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.inner.defer_savepoint()
    }

    fn take_deferred_savepoint(&mut self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.take_deferred_savepoint()
    }

    fn rollback_to(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.rollback_to(savepoint)
    }

    fn release(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.release(savepoint)
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        let FaultyTransaction {
            inner,
            faults,
            routes,
        } = *self;
        Box::pin(async move {
            match faults.take_commit_fault(&routes) {
                None => inner.commit().await,
                Some(CommitFault::AfterCommit) => {
                    inner.commit().await?;
                    Err(injected("the connection dropped after the commit"))
                }
                Some(CommitFault::InsteadOfCommit) => {
                    inner.rollback().await?;
                    Err(injected("the commit failed"))
                }
            }
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        self.inner.rollback()
    }
}
