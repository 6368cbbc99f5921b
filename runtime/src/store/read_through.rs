//! A store whose old events may have moved to an [`Archive`]: every read of old events
//! (a stream, the global order) looks in the archive for what the active store no
//! longer holds.
//!
//! Events are always archived before they are discarded, so reading the active store
//! first and the archive second never misses one: whatever the first read lacks was
//! discarded before it, so it was archived before it too.

use crate::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::model::record::{NewEvent, Position, RecordedEvent, ReplayEvent, StreamKey};
use crate::store::archive::Archive;
use crate::store::consumer::{Checkpoint, ConsumerLog, DeadLetter, Lease};
use crate::store::contract::{
    AggregateRead, EventStore, RecordedCommand, ReplayFrom, ResultJson, Savepoint, Snapshot, Sql,
    StoreError, StoreTransaction,
};
use crate::store::remote::RemoteConsumerLog;
use crate::store::saga::SagaLog;

/// The active store, read through to its archive.
pub(crate) struct ReadThrough {
    active: Arc<dyn EventStore>,
    archive: Archive,
}

impl ReadThrough {
    pub(crate) fn new(active: Arc<dyn EventStore>, archive: Archive) -> Self {
        ReadThrough { active, archive }
    }
}

/// Whether `versions` go on from `after` without a gap.
fn whole(after: u64, versions: impl Iterator<Item = u64>) -> bool {
    versions
        .zip(after.saturating_add(1)..)
        .all(|(version, next)| version == next)
}

/// The events of `stream` after version `after`: those the active store returned, with
/// the archived ones it no longer holds merged in by version (discarding keeps events in
/// the middle of a stream: those a consumer parked). An error when a version is in
/// neither.
async fn stream_through<E>(
    archive: &Archive,
    stream: &StreamKey,
    after: u64,
    active: Vec<E>,
    version: fn(&E) -> u64,
    archived: fn(&RecordedEvent) -> E,
) -> Result<Vec<E>, StoreError> {
    // The last event of a stream is never discarded: a stream whole up to it is whole.
    if whole(after, active.iter().map(version)) {
        return Ok(active);
    }
    let mut merged: BTreeMap<u64, E> = archive
        .read_stream(stream, after)
        .await?
        .iter()
        .map(|e| (e.version, archived(e)))
        .collect();
    for event in active {
        merged.entry(version(&event)).or_insert(event);
    }
    let events: Vec<E> = merged.into_values().collect();
    let missing = events
        .iter()
        .map(version)
        .zip(after + 1..)
        .find(|(version, next)| version != next);
    if let Some((_, next)) = missing {
        return Err(StoreError::Backend(
            format!("stream `{stream}`: version {next} is neither in the active store nor in its archive")
                .into(),
        ));
    }
    Ok(events)
}

fn recorded_version(event: &RecordedEvent) -> u64 {
    event.version
}

fn replay_version(event: &ReplayEvent) -> u64 {
    event.version
}

fn replayed(event: &RecordedEvent) -> ReplayEvent {
    ReplayEvent::from(event)
}

impl EventStore for ReadThrough {
    fn reader(&self) -> BoxFuture<'_, Result<Box<dyn crate::store::StoreReader>, StoreError>> {
        self.active.reader()
    }

    fn read_transaction(
        &self,
    ) -> BoxFuture<'_, Result<Box<dyn crate::store::ReadTransaction>, StoreError>> {
        self.active.read_transaction()
    }

    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        Box::pin(async move {
            let active = self.active.begin().await?;
            Ok(Box::new(ReadThroughTransaction {
                active,
                archive: self.archive.clone(),
            }) as Box<dyn StoreTransaction>)
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let active = self.active.read_stream(stream, after_version).await?;
            let (version, archived) = (recorded_version, RecordedEvent::clone);
            stream_through(
                &self.archive,
                stream,
                after_version,
                active,
                version,
                archived,
            )
            .await
        })
    }

    fn replay<'a>(
        &'a self,
        stream: &'a StreamKey,
        from: ReplayFrom,
    ) -> BoxFuture<'a, Result<AggregateRead, StoreError>> {
        Box::pin(async move {
            let read = self.active.replay(stream, from).await?;
            let after = from.after(read.snapshot.as_ref());
            let (version, archived) = (replay_version, replayed);
            let events = read.events;
            Ok(AggregateRead {
                events: stream_through(&self.archive, stream, after, events, version, archived)
                    .await?,
                snapshot: read.snapshot,
            })
        })
    }

    /// The archive's events after `after`, followed by the active store's events after
    /// the last of them. Read in that order, nothing is missed: what the active store
    /// lacked was discarded before it was read, so archived before the archive was read;
    /// and the archive holds every event up to its newest.
    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let active = self.active.read_all(after, limit).await?;
            let mut events = self.archive.read_all(after, limit).await?;
            let Some(newest) = events.last().map(|e| e.position) else {
                return Ok(active);
            };
            // A full page may stop short of the archive's newest: the next page goes on.
            if events.len() < limit {
                let room = limit - events.len();
                let later = active.into_iter().filter(|e| e.position > newest);
                events.extend(later.take(room));
            }
            Ok(events)
        })
    }

    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        self.active.read_snapshot(stream)
    }

    fn kind(&self) -> &'static str {
        self.active.kind()
    }

    fn groups_commits(&self) -> bool {
        self.active.groups_commits()
    }

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        self.active.read_command(id)
    }

    fn recent_commands(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<crate::store::ListedCommand>, StoreError>> {
        self.active.recent_commands(before, limit)
    }

    fn sagas(&self) -> &dyn SagaLog {
        self.active.sagas()
    }

    fn consumers(&self) -> &dyn ConsumerLog {
        self
    }

    fn remote_consumers(&self) -> &dyn RemoteConsumerLog {
        self.active.remote_consumers()
    }

    fn discard(
        &self,
        after: Position,
        up_to: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Position>, StoreError>> {
        self.active.discard(after, up_to, limit)
    }
}

/// The active store's consumer log; an event it no longer holds (one a consumer parked
/// while replaying archived events) is looked up in the archive.
impl ConsumerLog for ReadThrough {
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        self.active.consumers().checkpoints()
    }

    fn dead_letters<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        self.active.consumers().dead_letters(consumer)
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            match self.active.consumers().event(event_id).await? {
                Some(event) => Ok(Some(event)),
                None => self.archive.event(event_id).await,
            }
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        self.active.consumers().head()
    }

    fn count_after(&self, position: Position) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.active.consumers().count_after(position)
    }

    fn count_after_at_most(
        &self,
        position: Position,
        limit: u64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.active.consumers().count_after_at_most(position, limit)
    }

    fn lease<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.active.consumers().lease(consumer, owner, ttl)
    }

    fn leases<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Lease>, StoreError>> {
        self.active.consumers().leases(prefix)
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.active.consumers().release(consumer, owner)
    }

    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.active.consumers().commits()
    }
}

/// A transaction of the active store whose stream reads look in the archive for the
/// versions the active store no longer holds (outside the transaction: archived events
/// never change).
struct ReadThroughTransaction {
    active: Box<dyn StoreTransaction>,
    archive: Archive,
}

impl StoreTransaction for ReadThroughTransaction {
    fn load_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let active = self.active.load_stream(stream, after_version).await?;
            let (version, archived) = (recorded_version, RecordedEvent::clone);
            stream_through(
                &self.archive,
                stream,
                after_version,
                active,
                version,
                archived,
            )
            .await
        })
    }

    fn replay_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<ReplayEvent>, StoreError>> {
        Box::pin(async move {
            let active = self.active.replay_stream(stream, after_version).await?;
            let (version, archived) = (replay_version, replayed);
            stream_through(
                &self.archive,
                stream,
                after_version,
                active,
                version,
                archived,
            )
            .await
        })
    }

    fn stream_version<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.active.stream_version(stream)
    }

    fn append<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        self.active.append(stream, expected, events)
    }

    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>> {
        self.active.record_command(id, payload_hash)
    }

    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: ResultJson<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.active.finish_command(id, payload_hash, result)
    }

    fn load_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        self.active.load_snapshot(stream)
    }

    fn save_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.active.save_snapshot(stream, snapshot)
    }

    fn claim_consumer<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Position, StoreError>> {
        self.active.claim_consumer(consumer)
    }

    fn save_checkpoint<'a>(
        &'a mut self,
        consumer: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.active.save_checkpoint(consumer, position)
    }

    fn park<'a>(&'a mut self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        self.active.park(letter)
    }

    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        self.active.dead_letters(consumer)
    }

    fn unpark<'a>(
        &'a mut self,
        consumer: &'a str,
        event_id: Uuid,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.active.unpark(consumer, event_id)
    }

    fn sql(&mut self) -> Sql<'_> {
        self.active.sql()
    }

    fn write_commands_at_commit(&mut self) {
        self.active.write_commands_at_commit();
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.active.savepoint()
    }

    fn defer_savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.active.defer_savepoint()
    }

    fn take_deferred_savepoint(&mut self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.active.take_deferred_savepoint()
    }

    fn rollback_to(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        self.active.rollback_to(savepoint)
    }

    fn release(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        self.active.release(savepoint)
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        self.active.commit()
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        self.active.rollback()
    }
}
