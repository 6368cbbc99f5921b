//! The in-memory store: the reference every durable store matches. Thread-safe;
//! transactions run concurrently, a stream has one writer at a time (a second waits, as
//! on a row lock, and gets a conflict if the first commits), and readers of the global
//! order stop below the oldest position an open transaction holds.

use crate::BoxFuture;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::watch;

use super::consumer::{Checkpoint, ConsumerLog, DeadLetter, Lease};
use super::remote::{Acknowledged, RemoteConsumerLog, RemoteRegistration, remote_checkpoint};
use super::saga::{MemorySagaLog, SagaLog};

use uuid::Uuid;

use crate::model::record::{NewEvent, Position, RecordedEvent, StreamKey};
use crate::store::contract::{
    Conflict, EventStore, ListedCommand, RecordedCommand, ResultJson, Savepoint, Snapshot, Sql,
    StoreError, StoreTransaction,
};

/// Events in memory, lost when the process ends. For tests and examples; the durable
/// stores keep the same promises on disk.
///
/// ```
/// use herald::store::{EventStore, MemoryStore, Position};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = MemoryStore::new();
/// assert!(store.read_all(Position::START, 10).await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    sagas: MemorySagaLog,
    /// Bumped whenever a transaction ends, to wake writers waiting for a stream.
    ended: watch::Sender<u64>,
    /// Bumped whenever a transaction with events commits, to wake consumers.
    committed: watch::Sender<u64>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            state: Mutex::default(),
            sagas: MemorySagaLog::default(),
            ended: watch::Sender::new(0),
            committed: watch::Sender::new(0),
        }
    }
}

#[derive(Default)]
struct State {
    /// Committed events by position.
    log: BTreeMap<u64, RecordedEvent>,
    /// Committed positions of each stream, by version - 1.
    streams: HashMap<StreamKey, Vec<u64>>,
    last_position: u64,
    last_transaction: u64,
    /// Positions taken by open transactions: readers stop below the first.
    open: BTreeSet<u64>,
    /// The open transaction writing each stream.
    writers: HashMap<StreamKey, u64>,
    /// Which transaction each waiting transaction waits for.
    waiting: HashMap<u64, u64>,
    /// Committed commands by id.
    commands: HashMap<Uuid, CommandRow>,
    /// Committed command ids in the order they committed, with when.
    command_order: Vec<(Uuid, SystemTime)>,
    /// The open transaction recording each command id.
    recording: HashMap<Uuid, u64>,
    /// The newest snapshot of each stream.
    snapshots: HashMap<StreamKey, Snapshot>,
    /// Each consumer's checkpoint and when it moved.
    checkpoints: HashMap<String, (Position, SystemTime)>,
    /// Parked events, by consumer and event id.
    dead_letters: HashMap<(String, Uuid), DeadLetter>,
    /// The open transaction that claimed each consumer.
    claims: HashMap<String, u64>,
    /// Each consumer's lease: its owner and until when.
    leases: HashMap<String, (Uuid, std::time::Instant)>,
    /// Remote consumers' registrations by tenant and name (their checkpoints are in
    /// `checkpoints`).
    remote: BTreeMap<(String, String), RemoteRegistration>,
}

impl State {
    /// Whether `from` waits, directly or through others, for `target`.
    fn waits_for(&self, mut from: u64, target: u64) -> bool {
        for _ in 0..=self.waiting.len() {
            match self.waiting.get(&from) {
                Some(&next) if next == target => return true,
                Some(&next) => from = next,
                None => return false,
            }
        }
        false
    }

    /// Waits for `holder` unless that would deadlock; returns what to wait on.
    fn wait_for(
        &mut self,
        me: u64,
        holder: u64,
        ended: &watch::Sender<u64>,
    ) -> Option<watch::Receiver<u64>> {
        if self.waits_for(holder, me) {
            return None;
        }
        self.waiting.insert(me, holder);
        Some(ended.subscribe())
    }

    /// The committed dead letters of `consumer`, in global order.
    fn letters_of(&self, consumer: &str) -> Vec<DeadLetter> {
        let mut letters: Vec<DeadLetter> = self
            .dead_letters
            .values()
            .filter(|letter| letter.consumer == consumer)
            .cloned()
            .collect();
        letters.sort_by_key(|letter| letter.position);
        letters
    }

    /// Remote consumer `name` of `tenant` with its checkpoint.
    fn remote_of(&self, tenant: &str, name: &str) -> Option<RemoteRegistration> {
        let mut found = self
            .remote
            .get(&(tenant.to_owned(), name.to_owned()))?
            .clone();
        let key = remote_checkpoint(tenant, name);
        found.position = self.checkpoints.get(&key).map_or(Position::START, |c| c.0);
        Some(found)
    }

    fn committed_version(&self, stream: &StreamKey) -> u64 {
        self.streams
            .get(stream)
            .map_or(0, |positions| positions.len() as u64)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-done change: every change is
        // made after its checks, so the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventStore for MemoryStore {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        let id = {
            let mut state = self.lock();
            state.last_transaction += 1;
            state.last_transaction
        };
        let tx = MemoryTransaction {
            shared: self.shared.clone(),
            id,
            appended: Vec::new(),
            savepoints: Vec::new(),
            commands: Vec::new(),
            snapshots: Vec::new(),
            consumer_changes: Vec::new(),
        };
        Box::pin(async move { Ok(Box::new(tx) as Box<dyn StoreTransaction>) })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        let events = committed_stream(&self.lock(), stream, after_version);
        Box::pin(async move { Ok(events) })
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let state = self.lock();
        let horizon = state.open.first().copied().unwrap_or(u64::MAX);
        let from = after.parts().1.saturating_add(1);
        // A reader may already be past the horizon: it read an event that committed
        // while an older transaction is still open. It waits for that one.
        let events = match from < horizon {
            true => state
                .log
                .range(from..horizon)
                .take(limit)
                .map(|(_, e)| e.clone())
                .collect(),
            false => Vec::new(),
        };
        Box::pin(async move { Ok(events) })
    }

    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        let snapshot = self.lock().snapshots.get(stream).cloned();
        Box::pin(async move { Ok(snapshot) })
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        let record = self.lock().commands.get(&id).map(CommandRow::recorded);
        Box::pin(async move { record.transpose() })
    }

    fn recent_commands(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ListedCommand>, StoreError>> {
        let state = self.lock();
        let order = &state.command_order;
        let end = match before {
            None => order.len(),
            Some(before) => order.iter().position(|(id, _)| *id == before).unwrap_or(0),
        };
        let listed = order[..end]
            .iter()
            .rev()
            // A claim that committed without a result (as the SQL stores' `NULL`).
            .filter(|(id, _)| state.commands[id].result.is_some())
            .take(limit)
            .map(|&(id, at)| {
                let recorded = state.commands[&id].recorded()?;
                Ok(ListedCommand::new(id, at, recorded.result))
            })
            .collect::<Result<Vec<_>, StoreError>>();
        Box::pin(async move { listed })
    }

    fn discard(
        &self,
        after: Position,
        up_to: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Position>, StoreError>> {
        let mut state = self.lock();
        let parked: BTreeSet<Uuid> = state.dead_letters.keys().map(|(_, id)| *id).collect();
        let doomed: Vec<u64> = state
            .log
            .range(after.parts().1.saturating_add(1)..)
            .take_while(|(position, _)| **position <= up_to.parts().1)
            .filter(|(position, event)| {
                let last = state.streams.get(&event.stream).and_then(|p| p.last());
                last != Some(position) && !parked.contains(&event.event_id)
            })
            .map(|(&position, _)| position)
            .take(limit)
            .collect();
        for position in &doomed {
            state.log.remove(position);
        }
        let deleted = doomed.iter().map(|&seq| Position::from_parts(0, seq));
        let deleted = deleted.collect();
        Box::pin(async move { Ok(deleted) })
    }

    fn sagas(&self) -> &dyn SagaLog {
        &self.shared.sagas
    }

    fn consumers(&self) -> &dyn ConsumerLog {
        self
    }

    fn remote_consumers(&self) -> &dyn RemoteConsumerLog {
        self
    }
}

/// Each call holds the state's lock throughout: one transaction.
impl RemoteConsumerLog for MemoryStore {
    fn register<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        patterns: &'a [String],
        start: Position,
    ) -> BoxFuture<'a, Result<(RemoteRegistration, bool), StoreError>> {
        let mut state = self.lock();
        let registered = match state.remote_of(tenant, name) {
            Some(existing) => (existing, false),
            None => {
                let new = RemoteRegistration::new(tenant, name, patterns, start);
                let key = (tenant.to_owned(), name.to_owned());
                state.remote.insert(key, new.clone());
                let checkpoint = (start, SystemTime::now());
                state
                    .checkpoints
                    .insert(remote_checkpoint(tenant, name), checkpoint);
                (new, true)
            }
        };
        Box::pin(async move { Ok(registered) })
    }

    fn registration<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<RemoteRegistration>, StoreError>> {
        let found = self.lock().remote_of(tenant, name);
        Box::pin(async move { Ok(found) })
    }

    fn registrations<'a>(
        &'a self,
        tenant: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RemoteRegistration>, StoreError>> {
        let state = self.lock();
        let found = (state.remote.keys())
            .filter(|(t, _)| t == tenant)
            .filter_map(|(t, name)| state.remote_of(t, name))
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn acknowledge<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<Option<Acknowledged>, StoreError>> {
        let mut state = self.lock();
        let acked = state.remote_of(tenant, name).map(|found| {
            if position <= found.position {
                return Acknowledged::new(found.position, false);
            }
            let now = SystemTime::now();
            let key = remote_checkpoint(tenant, name);
            state.checkpoints.insert(key, (position, now));
            if let Some(kept) = state.remote.get_mut(&(tenant.to_owned(), name.to_owned())) {
                kept.acked_at = Some(now);
            }
            Acknowledged::new(position, true)
        });
        Box::pin(async move { Ok(acked) })
    }

    fn unregister<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut state = self.lock();
        let removed = (state.remote)
            .remove(&(tenant.to_owned(), name.to_owned()))
            .is_some();
        if removed {
            state.checkpoints.remove(&remote_checkpoint(tenant, name));
        }
        Box::pin(async move { Ok(removed) })
    }
}

impl ConsumerLog for MemoryStore {
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        let mut checkpoints: Vec<Checkpoint> = self
            .lock()
            .checkpoints
            .iter()
            .map(|(consumer, &(position, updated_at))| Checkpoint {
                consumer: consumer.clone(),
                position,
                updated_at,
            })
            .collect();
        checkpoints.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        Box::pin(async move { Ok(checkpoints) })
    }

    fn dead_letters<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        let letters = self.lock().letters_of(consumer);
        Box::pin(async move { Ok(letters) })
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        let event = self
            .lock()
            .log
            .values()
            .find(|e| e.event_id == event_id)
            .cloned();
        Box::pin(async move { Ok(event) })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        let state = self.lock();
        let horizon = state.open.first().copied().unwrap_or(u64::MAX);
        let last = state.log.range(..horizon).next_back().map(|(&p, _)| p);
        let head = Position::from_parts(0, last.unwrap_or(0));
        Box::pin(async move { Ok(head) })
    }

    fn count_after(&self, position: Position) -> BoxFuture<'_, Result<u64, StoreError>> {
        let state = self.lock();
        let from = position.parts().1.saturating_add(1);
        let count = state.log.range(from..).count() as u64;
        Box::pin(async move { Ok(count) })
    }

    fn lease<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = std::time::Instant::now();
        let mut state = self.lock();
        let held = match state.leases.get(consumer) {
            Some(&(holder, until)) if holder != owner && until > now => false,
            _ => {
                state.leases.insert(consumer.to_owned(), (owner, now + ttl));
                true
            }
        };
        Box::pin(async move { Ok(held) })
    }

    fn leases<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Lease>, StoreError>> {
        let now = std::time::Instant::now();
        let mut leases: Vec<Lease> = (self.lock().leases.iter())
            .filter(|(consumer, (_, until))| consumer.starts_with(prefix) && *until > now)
            .map(|(consumer, &(owner, _))| Lease {
                consumer: consumer.clone(),
                owner,
            })
            .collect();
        leases.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        Box::pin(async move { Ok(leases) })
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut state = self.lock();
        if state
            .leases
            .get(consumer)
            .is_some_and(|(holder, _)| *holder == owner)
        {
            state.leases.remove(consumer);
        }
        Box::pin(async move { Ok(()) })
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.shared.committed.subscribe()
    }
}

/// A change to a consumer's checkpoint or dead letters, made at commit.
enum ConsumerChange {
    Checkpoint(String, Position),
    Park(DeadLetter),
    Unpark(String, Uuid),
}

fn committed_stream(state: &State, stream: &StreamKey, after_version: u64) -> Vec<RecordedEvent> {
    let positions = state.streams.get(stream).map_or(&[][..], Vec::as_slice);
    let skip = usize::try_from(after_version)
        .unwrap_or(usize::MAX)
        .min(positions.len());
    positions[skip..]
        .iter()
        // Discarded events are gone from the log (an archive holds them).
        .filter_map(|p| state.log.get(p).cloned())
        .collect()
}

/// A command's row: its result kept as the JSON text it was written as (a tree of
/// values cost 40 % of a dispatch to build, copy and drop), parsed only when read,
/// which repeats and the operators' tools do; `None` while claimed.
struct CommandRow {
    payload_hash: Vec<u8>,
    result: Option<Box<str>>,
}

impl CommandRow {
    /// The row as the store's readers get it (`Null` for a claim, as the SQL stores'
    /// `NULL`). It fails only where a database's JSON would: nested past what
    /// `serde_json` reads.
    fn recorded(&self) -> Result<RecordedCommand, StoreError> {
        let result = match &self.result {
            None => serde_json::Value::Null,
            Some(text) => {
                serde_json::from_str(text).map_err(|error| StoreError::Backend(Box::new(error)))?
            }
        };
        Ok(RecordedCommand {
            payload_hash: self.payload_hash.clone(),
            result,
        })
    }
}

struct MemoryTransaction {
    shared: Arc<Shared>,
    id: u64,
    /// Events appended so far, in position order.
    appended: Vec<RecordedEvent>,
    /// Lengths of `appended`, `commands`, `snapshots` and `consumer_changes` at each
    /// savepoint.
    savepoints: Vec<[usize; 4]>,
    /// Commands recorded, with their result once finished.
    commands: Vec<(Uuid, CommandRow)>,
    /// Snapshots taken.
    snapshots: Vec<(StreamKey, Snapshot)>,
    /// Checkpoints moved and events parked or unparked, in order.
    consumer_changes: Vec<ConsumerChange>,
}

impl MemoryTransaction {
    /// Forgets events appended after the first `keep`, releasing their positions and
    /// the streams no remaining event writes.
    fn release_after(&mut self, [events, commands, snapshots, consumers]: [usize; 4]) {
        self.snapshots.truncate(snapshots);
        self.consumer_changes.truncate(consumers);
        if events >= self.appended.len() && commands >= self.commands.len() {
            return;
        }
        let dropped: Vec<RecordedEvent> = self
            .appended
            .drain(events.min(self.appended.len())..)
            .collect();
        let forgotten: Vec<Uuid> = self
            .commands
            .drain(commands.min(self.commands.len())..)
            .map(|(id, _)| id)
            .collect();
        {
            let mut state = self.shared.lock();
            for event in &dropped {
                state.open.remove(&event.position.parts().1);
                if !self.appended.iter().any(|e| e.stream == event.stream)
                    && state.writers.get(&event.stream) == Some(&self.id)
                {
                    state.writers.remove(&event.stream);
                }
            }
            for id in &forgotten {
                state.recording.remove(id);
            }
        }
        self.shared.ended.send_modify(|n| *n += 1);
    }

    fn marks(&self) -> [usize; 4] {
        [
            self.appended.len(),
            self.commands.len(),
            self.snapshots.len(),
            self.consumer_changes.len(),
        ]
    }

    /// Gives up the consumers this transaction claimed.
    fn unclaim(&self) {
        let mut state = self.shared.lock();
        let before = state.claims.len();
        state.claims.retain(|_, holder| *holder != self.id);
        if state.claims.len() != before {
            drop(state);
            self.shared.ended.send_modify(|n| *n += 1);
        }
    }

    fn own_version(&self, stream: &StreamKey) -> Option<u64> {
        self.appended
            .iter()
            .rev()
            .find(|e| &e.stream == stream)
            .map(|e| e.version)
    }
}

impl StoreTransaction for MemoryTransaction {
    fn load_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        let mut events = committed_stream(&self.shared.lock(), stream, after_version);
        events.extend(
            self.appended
                .iter()
                .filter(|e| &e.stream == stream && e.version > after_version)
                .cloned(),
        );
        Box::pin(async move { Ok(events) })
    }

    fn stream_version<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let version = self
            .own_version(stream)
            .unwrap_or_else(|| self.shared.lock().committed_version(stream));
        Box::pin(async move { Ok(version) })
    }

    fn append<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            loop {
                let mut ended = {
                    let mut state = self.shared.lock();
                    let actual = match self.own_version(stream) {
                        Some(version) => version,
                        None => state.committed_version(stream),
                    };
                    let conflict = || Conflict {
                        stream: stream.clone(),
                        expected,
                        actual,
                    };
                    match state.writers.get(stream) {
                        Some(&holder) if holder != self.id => {
                            match state.wait_for(self.id, holder, &self.shared.ended) {
                                Some(ended) => ended,
                                None => return Err(conflict().into()), // waiting would deadlock
                            }
                        }
                        _ if actual != expected => return Err(conflict().into()),
                        _ if events.is_empty() => return Ok(Vec::new()),
                        _ => {
                            state.writers.insert(stream.clone(), self.id);
                            let recorded: Vec<RecordedEvent> = events
                                .into_iter()
                                .zip(expected + 1..)
                                .map(|(event, version)| {
                                    state.last_position += 1;
                                    let position = state.last_position;
                                    state.open.insert(position);
                                    recorded(event, stream, version, position)
                                })
                                .collect();
                            self.appended.extend(recorded.iter().cloned());
                            return Ok(recorded);
                        }
                    }
                };
                // Wait for the stream's writer to commit or roll back, then look again.
                let _ = ended.changed().await;
                self.shared.lock().waiting.remove(&self.id);
            }
        })
    }

    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>> {
        Box::pin(async move {
            loop {
                let mut ended =
                    {
                        let mut state = self.shared.lock();
                        if let Some(done) = state.commands.get(&id) {
                            return done.recorded().map(Some);
                        }
                        match state.recording.get(&id) {
                            Some(&holder) if holder != self.id => {
                                match state.wait_for(self.id, holder, &self.shared.ended) {
                                    Some(ended) => ended,
                                    None => return Err(StoreError::Backend(
                                        format!(
                                            "command {id} is recorded twice in crossed transactions"
                                        )
                                        .into(),
                                    )),
                                }
                            }
                            Some(_) => {
                                // Recorded earlier in this transaction: as on SQL stores.
                                let own = self.commands.iter().find(|(c, _)| *c == id);
                                return own.map(|(_, record)| record.recorded()).transpose();
                            }
                            None => {
                                state.recording.insert(id, self.id);
                                let record = CommandRow {
                                    payload_hash: payload_hash.to_vec(),
                                    result: None,
                                };
                                self.commands.push((id, record));
                                return Ok(None);
                            }
                        }
                    };
                // Wait for the transaction recording the same id to commit or roll back.
                let _ = ended.changed().await;
                self.shared.lock().waiting.remove(&self.id);
            }
        })
    }

    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: ResultJson<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let found = self
            .commands
            .iter_mut()
            .find(|(recorded, _)| *recorded == id);
        let outcome = match found {
            Some((_, record)) => {
                record.result = Some(result.as_str().into());
                Ok(())
            }
            None if self.shared.lock().commands.contains_key(&id) => Err(StoreError::Backend(
                format!("command {id} is recorded already").into(),
            )),
            None => {
                let record = CommandRow {
                    payload_hash: payload_hash.to_vec(),
                    result: Some(result.as_str().into()),
                };
                self.commands.push((id, record));
                Ok(())
            }
        };
        Box::pin(async move { outcome })
    }

    fn load_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        let own = self
            .snapshots
            .iter()
            .rev()
            .find(|(s, _)| s == stream)
            .map(|(_, snapshot)| snapshot.clone());
        let snapshot = own.or_else(|| self.shared.lock().snapshots.get(stream).cloned());
        Box::pin(async move { Ok(snapshot) })
    }

    fn save_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.snapshots.push((stream.clone(), snapshot));
        Box::pin(async move { Ok(()) })
    }

    fn claim_consumer<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Position, StoreError>> {
        Box::pin(async move {
            loop {
                let mut ended = {
                    let mut state = self.shared.lock();
                    match state.claims.get(consumer) {
                        Some(&holder) if holder != self.id => {
                            match state.wait_for(self.id, holder, &self.shared.ended) {
                                Some(ended) => ended,
                                None => {
                                    return Err(StoreError::Backend(
                                        format!("consumer `{consumer}` is claimed by crossed transactions").into(),
                                    ));
                                }
                            }
                        }
                        _ => {
                            state.claims.insert(consumer.to_owned(), self.id);
                            let own = self.consumer_changes.iter().rev().find_map(|c| match c {
                                ConsumerChange::Checkpoint(name, at) if name == consumer => {
                                    Some(*at)
                                }
                                _ => None,
                            });
                            let committed = state.checkpoints.get(consumer).map(|(at, _)| *at);
                            return Ok(own.or(committed).unwrap_or(Position::START));
                        }
                    }
                };
                // Wait for the transaction holding the consumer to end, then look again.
                let _ = ended.changed().await;
                self.shared.lock().waiting.remove(&self.id);
            }
        })
    }

    fn save_checkpoint<'a>(
        &'a mut self,
        consumer: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.consumer_changes
            .push(ConsumerChange::Checkpoint(consumer.to_owned(), position));
        Box::pin(async move { Ok(()) })
    }

    fn park<'a>(&'a mut self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        self.consumer_changes
            .push(ConsumerChange::Park(letter.clone()));
        Box::pin(async move { Ok(()) })
    }

    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        let mut letters = self.shared.lock().letters_of(consumer);
        // This transaction's own parks and unparks come after.
        for change in &self.consumer_changes {
            match change {
                ConsumerChange::Park(letter) if letter.consumer == consumer => {
                    letters.retain(|l| l.event_id != letter.event_id);
                    letters.push(letter.clone());
                }
                ConsumerChange::Unpark(c, id) if c == consumer => {
                    letters.retain(|l| l.event_id != *id);
                }
                _ => {}
            }
        }
        letters.sort_by_key(|letter| letter.position);
        Box::pin(async move { Ok(letters) })
    }

    fn unpark<'a>(
        &'a mut self,
        consumer: &'a str,
        event_id: Uuid,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut parked = self
            .shared
            .lock()
            .dead_letters
            .contains_key(&(consumer.to_owned(), event_id));
        // As this transaction sees it: its own parks and unparks come after.
        for change in &self.consumer_changes {
            match change {
                ConsumerChange::Park(l) if l.consumer == consumer && l.event_id == event_id => {
                    parked = true
                }
                ConsumerChange::Unpark(c, id) if c == consumer && *id == event_id => parked = false,
                _ => {}
            }
        }
        self.consumer_changes
            .push(ConsumerChange::Unpark(consumer.to_owned(), event_id));
        Box::pin(async move { Ok(parked) })
    }

    fn sql(&mut self) -> Sql<'_> {
        Sql::None
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.savepoints.push(self.marks());
        let savepoint = Savepoint(self.savepoints.len() - 1);
        Box::pin(async move { Ok(savepoint) })
    }

    fn rollback_to(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = match self.savepoints.get(savepoint.0) {
            Some(&keep) => {
                self.savepoints.truncate(savepoint.0 + 1);
                self.release_after(keep);
                Ok(())
            }
            None => Err(StoreError::Backend(
                format!("no savepoint {}", savepoint.0).into(),
            )),
        };
        Box::pin(async move { result })
    }

    fn release(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = match savepoint.0 < self.savepoints.len() {
            true => {
                self.savepoints.truncate(savepoint.0);
                Ok(())
            }
            false => Err(StoreError::Backend(
                format!("no savepoint {}", savepoint.0).into(),
            )),
        };
        Box::pin(async move { result })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        {
            let mut state = self.shared.lock();
            let now = SystemTime::now();
            for (id, record) in self.commands.drain(..) {
                state.recording.remove(&id);
                if state.commands.insert(id, record).is_none() {
                    state.command_order.push((id, now));
                }
            }
            for (stream, snapshot) in self.snapshots.drain(..) {
                match state.snapshots.get(&stream) {
                    Some(kept) if kept.version >= snapshot.version => {} // keep the newest
                    _ => {
                        state.snapshots.insert(stream, snapshot);
                    }
                }
            }
            for change in self.consumer_changes.drain(..) {
                match change {
                    ConsumerChange::Checkpoint(consumer, at) => {
                        state.checkpoints.insert(consumer, (at, now));
                    }
                    ConsumerChange::Park(letter) => {
                        let key = (letter.consumer.clone(), letter.event_id);
                        state.dead_letters.insert(key, letter);
                    }
                    ConsumerChange::Unpark(consumer, event_id) => {
                        state.dead_letters.remove(&(consumer, event_id));
                    }
                }
            }
            state.claims.retain(|_, holder| *holder != self.id);
            if !self.appended.is_empty() {
                self.shared.committed.send_modify(|n| *n += 1);
            }
            for event in self.appended.drain(..) {
                let (_, position) = event.position.parts();
                state.open.remove(&position);
                state.writers.remove(&event.stream);
                state
                    .streams
                    .entry(event.stream.clone())
                    .or_default()
                    .push(position);
                state.log.insert(position, event);
            }
        }
        self.shared.ended.send_modify(|n| *n += 1);
        // A commit of a real store waits for its disk and lets other tasks run; this one
        // spends a unit of the task's cooperative budget, so that a loop of commands
        // yields every so often (when the budget runs out, as tokio's own resources do)
        // and does not keep the tasks it woke (the channel hub, the consumers) waiting
        // on its worker thread. Not at every commit: on a multi-threaded runtime each
        // yield woke another worker for nothing, a third of a dispatch's time.
        Box::pin(async {
            tokio::task::coop::consume_budget().await;
            Ok(())
        })
    }

    fn rollback(mut self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        self.release_after([0; 4]);
        self.unclaim();
        Box::pin(async { Ok(()) })
    }
}

impl Drop for MemoryTransaction {
    fn drop(&mut self) {
        self.release_after([0; 4]);
        self.unclaim();
        self.shared.lock().waiting.remove(&self.id);
    }
}

fn recorded(event: NewEvent, stream: &StreamKey, version: u64, position: u64) -> RecordedEvent {
    RecordedEvent {
        position: Position::from_parts(0, position),
        event_id: event.event_id,
        stream: stream.clone(),
        version,
        route: event.route,
        name: event.name,
        schema_version: event.schema_version,
        payload: event.payload,
        metadata: event.metadata,
        recorded_at: now_in_micros(),
    }
}

/// Now, to the microsecond, as the durable stores (and archives) keep times.
fn now_in_micros() -> SystemTime {
    let since = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    std::time::UNIX_EPOCH + std::time::Duration::from_micros(since.as_micros() as u64)
}
