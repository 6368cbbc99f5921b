//! A store whose old events may have moved to an [`Archive`]: every read of old events
//! (a stream, the global order) looks in the archive for what the active store no
//! longer holds.
//!
//! Events are always archived before they are discarded, so reading the active store
//! first and the archive second never misses one: whatever the first read lacks was
//! discarded before it, so it was archived before it too.

use std::sync::Arc;

use uuid::Uuid;

use super::{
    AggregateRead, Archive, BoxFuture, ConsumerLog, DeadLetter, EventStore, NewEvent, Position,
    RecordedCommand, RecordedEvent, ReplayEvent, ReplayFrom, SagaLog, Savepoint, Snapshot, Sql,
    StoreError, StoreTransaction, StreamKey,
};

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

/// The versions of `stream` after `after` that precede `first` (the first one the active
/// store returned), from the archive: all of them, or an error naming what is missing.
async fn older_versions(
    archive: &Archive,
    stream: &StreamKey,
    after: u64,
    first: Option<u64>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let Some(first) = first.filter(|&first| first > after + 1) else {
        return Ok(Vec::new());
    };
    let older = archive.read_versions(stream, after, Some(first)).await?;
    let expected = first - after - 1;
    if older.len() as u64 != expected {
        return Err(StoreError::Backend(
            format!(
                "stream `{stream}` lacks versions {} to {} in the active store, and its archive holds {} of them",
                after + 1,
                first - 1,
                older.len()
            )
            .into(),
        ));
    }
    Ok(older)
}

async fn stream_through(
    archive: &Archive,
    stream: &StreamKey,
    after: u64,
    active: Vec<RecordedEvent>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events =
        older_versions(archive, stream, after, active.first().map(|e| e.version)).await?;
    if events.is_empty() {
        return Ok(active);
    }
    events.extend(active);
    Ok(events)
}

async fn replay_through(
    archive: &Archive,
    stream: &StreamKey,
    after: u64,
    active: Vec<ReplayEvent>,
) -> Result<Vec<ReplayEvent>, StoreError> {
    let older = older_versions(archive, stream, after, active.first().map(|e| e.version)).await?;
    if older.is_empty() {
        return Ok(active);
    }
    Ok(older.iter().map(ReplayEvent::from).chain(active).collect())
}

impl EventStore for ReadThrough {
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
            stream_through(&self.archive, stream, after_version, active).await
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
            Ok(AggregateRead {
                events: replay_through(&self.archive, stream, after, read.events).await?,
                snapshot: read.snapshot,
            })
        })
    }

    /// The active store's page, after the archived events that come before its first.
    /// Those are all there is before it: the active store had none, and whatever it had
    /// was archived before it was discarded.
    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let active = self.active.read_all(after, limit).await?;
            let first = active.first().map(|e| e.position);
            let mut older = self.archive.read_between(after, first, limit).await?;
            if older.is_empty() {
                return Ok(active);
            }
            let room = limit - older.len();
            older.extend(active.into_iter().take(room));
            Ok(older)
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

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        self.active.read_command(id)
    }

    fn sagas(&self) -> &dyn SagaLog {
        self.active.sagas()
    }

    fn consumers(&self) -> &dyn ConsumerLog {
        self.active.consumers()
    }

    fn discard(&self, up_to: Position, limit: usize) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.active.discard(up_to, limit)
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
            stream_through(&self.archive, stream, after_version, active).await
        })
    }

    fn replay_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<ReplayEvent>, StoreError>> {
        Box::pin(async move {
            let active = self.active.replay_stream(stream, after_version).await?;
            replay_through(&self.archive, stream, after_version, active).await
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
        result: &'a serde_json::Value,
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

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.active.savepoint()
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
