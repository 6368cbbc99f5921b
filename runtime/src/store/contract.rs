//! The store contract: what every backend implements, and what it answers with.

use uuid::Uuid;

use super::consumer::{Checkpoint, ConsumerLog, DeadLetter};
use super::remote::{NoRemoteConsumers, RemoteConsumerLog};
use super::saga::SagaLog;
use crate::model::record::{
    InvalidStreamKey, NewEvent, Position, RecordedEvent, ReplayEvent, StreamKey,
};
use crate::route::Pattern;
use crate::{BoxError, BoxFuture};

/// The backend's error as a [`StoreError`]: [`StoreError::Busy`] when the database only
/// had no room for the work (no connection free in the pool in time, SQLite's file locked
/// by another process, PostgreSQL out of connections), [`StoreError::Backend`] otherwise.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    let busy = match (&error as &dyn std::any::Any).downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::PoolTimedOut) => true,
        // SQLITE_BUSY, SQLITE_LOCKED; PostgreSQL's too_many_connections.
        Some(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("5" | "6" | "53300"))
        }
        _ => false,
    };
    match busy {
        true => StoreError::Busy(error.to_string()),
        false => StoreError::Backend(Box::new(error)),
    }
}

/// The largest payload an event may have, in bytes of JSON.
pub const MAX_PAYLOAD_LEN: usize = 4 * 1024 * 1024;

/// Where [`EventStore::replay`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The newest snapshot, or the first event when there is none.
    Snapshot,
    /// After this version (0: the first event); no snapshot is read.
    Version(u64),
}

impl ReplayFrom {
    /// The version the events are read after, given the snapshot that was read.
    pub fn after(self, snapshot: Option<&Snapshot>) -> u64 {
        match self {
            ReplayFrom::Snapshot => snapshot.map_or(0, |s| s.version),
            ReplayFrom::Version(version) => version,
        }
    }
}

/// What [`EventStore::replay`] read: a snapshot and the events after it.
#[derive(Clone, Debug)]
pub struct AggregateRead {
    /// The newest snapshot, when one was asked for and there is one.
    pub snapshot: Option<Snapshot>,
    /// The events after the snapshot (all of them without one).
    pub events: Vec<ReplayEvent>,
}

/// Two writers appended to one stream: the version found is not the one expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream `{stream}` is at version {actual}, not the expected {expected}")]
pub struct Conflict {
    /// The stream.
    pub stream: StreamKey,
    /// The version the writer expected.
    pub expected: u64,
    /// The version the stream is at.
    pub actual: u64,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream's version is not the one expected.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// A stream key that cannot be stored.
    #[error(transparent)]
    InvalidStream(#[from] InvalidStreamKey),
    /// The backend failed. Its message shows the backend's error (which is not also its
    /// `source()`, so that a chain reads it once).
    #[error("event store: {0}")]
    Backend(BoxError),
    /// The store had no room for the work in time: no connection was free in its pool, or
    /// the writer this process's transactions take turns on stayed busy (SQLite), or the
    /// database refused more connections. Nothing was written; the work may be tried again
    /// (over HTTP it is a `503` with `Retry-After`). How long a writer waits is
    /// `SqliteStore::writer_wait` on SQLite and the pool's `acquire_timeout` on PostgreSQL
    /// (`PostgresStore::connect_with_pool`).
    #[error("event store busy: {0}")]
    Busy(String),
    /// The store named is not one this build of herald has.
    #[error("{0}")]
    Unsupported(String),
}

/// A savepoint inside a transaction; rolling back to it undoes what came after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Savepoint(pub usize);

/// A command already recorded under an id: what it was and what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCommand {
    /// The hash of the command's name and payload.
    pub payload_hash: Vec<u8>,
    /// What the runtime stored when it committed: its result and trace.
    pub result: serde_json::Value,
}

/// A command's result as the JSON text its record keeps, what
/// [`StoreTransaction::finish_command`] is given: always one JSON document, so a store
/// keeps it as it is. The runtime writes it straight from its result, never through a
/// [`serde_json::Value`] tree (whose building, copying and dropping took 40 % of a
/// dispatch on the memory store), and never checks it again (which cost a seventh).
///
/// ```
/// use herald::store::ResultJson;
/// let result = ResultJson::new(r#"{"version": 3}"#)?;
/// assert_eq!(result.as_str(), r#"{"version": 3}"#);
/// assert!(ResultJson::new("{\"version\": 3").is_err(), "not JSON");
/// # Ok::<(), herald::json::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultJson<'a>(&'a str);

impl<'a> ResultJson<'a> {
    /// `text`, when it is one JSON document.
    pub fn new(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<&serde_json::value::RawValue>(text)?;
        Ok(ResultJson(text))
    }

    /// Text the runtime's JSON writer wrote (see `base::json_text`), which its tests
    /// compare with `serde_json`'s.
    pub(crate) fn written(text: &'a str) -> Self {
        debug_assert!(ResultJson::new(text).is_ok(), "{text}");
        ResultJson(text)
    }

    /// The JSON text.
    pub fn as_str(self) -> &'a str {
        self.0
    }
}

impl<'a> From<&'a serde_json::value::RawValue> for ResultJson<'a> {
    fn from(json: &'a serde_json::value::RawValue) -> Self {
        ResultJson(json.get())
    }
}

/// A committed command as [`EventStore::recent_commands`] lists it.
///
/// ```
/// use herald::store::ListedCommand;
/// let listed = ListedCommand::new(herald::Uuid::now_v7(), std::time::SystemTime::now(), herald::json::json!({}));
/// println!("{} at {:?}: {}", listed.id, listed.recorded_at, listed.result);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedCommand {
    /// The command's id: give it back as `before` to read on past it.
    pub id: Uuid,
    /// When its row was written.
    pub recorded_at: std::time::SystemTime,
    /// What the runtime stored when it committed: its result and trace.
    pub result: serde_json::Value,
}

impl ListedCommand {
    /// A listed command (for stores outside this crate).
    pub fn new(id: Uuid, recorded_at: std::time::SystemTime, result: serde_json::Value) -> Self {
        ListedCommand {
            id,
            recorded_at,
            result,
        }
    }
}

/// An aggregate's state at a version of its stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The stream version the state includes.
    pub version: u64,
    /// The aggregate's `version` (its state's schema) when it was taken.
    pub state_version: u32,
    /// The state, as JSON.
    pub state: serde_json::Value,
}

/// The database connection of a transaction, for writing your own tables in it.
#[non_exhaustive]
pub enum Sql<'t> {
    /// The store is not a SQL database (the in-memory store).
    None,
    /// A SQLite store's connection.
    #[cfg(feature = "sqlite")]
    Sqlite(&'t mut sqlx::SqliteConnection),
    /// A PostgreSQL store's connection.
    #[cfg(feature = "postgres")]
    Postgres(&'t mut sqlx::PgConnection),
    #[doc(hidden)]
    _Lifetime(std::marker::PhantomData<&'t ()>),
}

impl<'t> Sql<'t> {
    /// The SQLite connection, or an error naming `store` when it is another kind.
    #[cfg(feature = "sqlite")]
    pub(crate) fn into_sqlite(
        self,
        store: &str,
    ) -> Result<&'t mut sqlx::SqliteConnection, StoreError> {
        match self {
            Sql::Sqlite(conn) => Ok(conn),
            _ => Err(no_sql(store, "sqlite")),
        }
    }

    /// The PostgreSQL connection, or an error naming `store` when it is another kind.
    #[cfg(feature = "postgres")]
    pub(crate) fn into_postgres(
        self,
        store: &str,
    ) -> Result<&'t mut sqlx::PgConnection, StoreError> {
        match self {
            Sql::Postgres(conn) => Ok(conn),
            _ => Err(no_sql(store, "postgres")),
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn no_sql(store: &str, wanted: &str) -> StoreError {
    let instead = match store {
        "sqlite" => "call `sqlite()` instead, or match on `sql()` to write SQL for either store",
        "postgres" => {
            "call `postgres()` instead, or match on `sql()` to write SQL for either store"
        }
        _ => {
            "this store has no SQL connection: `sql()` is `Sql::None`; build the runtime on `sqlite::memory:` for tests that need tables"
        }
    };
    StoreError::Unsupported(format!(
        "this runtime's store is `{store}`, not `{wanted}`: {instead}"
    ))
}

/// A connection for reading, from [`EventStore::reader`]: run queries through
/// [`sql!`](crate::sql!) on [`sql`](Self::sql). It goes back to the pool when dropped.
pub trait StoreReader: Send {
    /// The connection.
    fn sql(&mut self) -> Sql<'_>;
}

/// The reader of a store without SQL.
struct NoSql;

impl StoreReader for NoSql {
    fn sql(&mut self) -> Sql<'_> {
        Sql::None
    }
}

/// A read-only transaction, from [`EventStore::read_transaction`]: everything read in it
/// (checkpoints, dead letters, the application's tables through [`sql`](Self::sql)) is
/// from one moment of the store, and it holds up no writer: SQLite's read transaction
/// in WAL mode, PostgreSQL's `REPEATABLE READ READ ONLY`. An eventual projector writes
/// its rows and its checkpoint in one transaction, so its tables read here are exactly
/// what its checkpoint read here says it handled. Dropping it ends it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = herald::store::connect("sqlite::memory:").await?;
/// let mut read = store.read_transaction().await?;
/// for checkpoint in read.checkpoints().await? {
///     println!("{} at {}", checkpoint.consumer, checkpoint.position);
/// }
/// # Ok(()) }
/// ```
pub trait ReadTransaction: Send {
    /// Every consumer's checkpoint, by name.
    fn checkpoints(&mut self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>>;

    /// The events `consumer` parked, in global order.
    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>>;

    /// The transaction's connection, to read the application's tables in it.
    fn sql(&mut self) -> Sql<'_>;
}

/// A durable, ordered log of events, read by stream and in global order.
pub trait EventStore: Send + Sync + 'static {
    /// Opens a transaction.
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>>;

    /// A stream's committed events with a version above `after_version`, in order.
    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>>;

    /// What loading an aggregate reads: from the newest snapshot of `stream` (or from
    /// a version), the events after it as an aggregate replays them. The SQL stores read
    /// only the columns that takes, snapshot and events on one connection.
    fn replay<'a>(
        &'a self,
        stream: &'a StreamKey,
        from: ReplayFrom,
    ) -> BoxFuture<'a, Result<AggregateRead, StoreError>> {
        Box::pin(async move {
            let snapshot = match from {
                ReplayFrom::Snapshot => self.read_snapshot(stream).await?,
                ReplayFrom::Version(_) => None,
            };
            let after = from.after(snapshot.as_ref());
            let events = self.read_stream(stream, after).await?;
            Ok(AggregateRead {
                snapshot,
                events: events.iter().map(ReplayEvent::from).collect(),
            })
        })
    }

    /// At most `limit` committed events after `after`, in global order. Never skips an
    /// event that is still to commit with a smaller position: it stops below it.
    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>>;

    /// The newest committed snapshot of `stream`.
    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>>;

    /// What kind of store this is, for messages: `memory`, `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;

    /// A connection for reading the application's own tables (its read models) outside
    /// any write transaction: from the pool, in autocommit, each statement seeing what has
    /// committed. On SQLite it does not take the writer's lock, so reads never wait for
    /// commands or hold them up. A store without SQL gives one whose
    /// [`sql`](StoreReader::sql) is [`Sql::None`].
    fn reader(&self) -> BoxFuture<'_, Result<Box<dyn StoreReader>, StoreError>> {
        Box::pin(async { Ok(Box::new(NoSql) as Box<dyn StoreReader>) })
    }

    /// The committed record of command `id`, if there is one.
    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>>;

    /// At most `limit` committed commands of every tenant, newest first: those recorded
    /// before command `before` when it is given (an id this listing returned), from the
    /// newest otherwise. A `before` that names no command lists nothing. For operators'
    /// tools (the trace page), not for readers that must see every command: a command
    /// that commits late may land behind a reader's place. Stores that keep no order of
    /// their commands say so.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use herald::store::EventStore;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let herald = herald().await;
    /// let opened = herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// let newest = herald.store().recent_commands(None, 10).await?;
    /// assert_eq!(newest[0].id, opened.command_id());
    /// let older = herald.store().recent_commands(Some(newest[0].id), 10).await?;
    /// assert!(older.iter().all(|c| c.id != opened.command_id()));
    /// # Ok(()) }
    /// ```
    fn recent_commands(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ListedCommand>, StoreError>> {
        let _ = (before, limit);
        let kind = self.kind();
        Box::pin(async move {
            Err(StoreError::Unsupported(format!(
                "the `{kind}` store cannot list its commands"
            )))
        })
    }

    /// Whether concurrent commands are better off sharing one of its transactions and
    /// one commit ([`HeraldBuilder::group_commit`](crate::HeraldBuilder::group_commit)):
    /// where a commit waits for a flush to disk. Such a store's transactions must take
    /// savepoints. The default: no.
    fn groups_commits(&self) -> bool {
        false
    }

    /// A read-only transaction on one moment of the store, which holds up no writer (see
    /// [`ReadTransaction`]). Stores without one (the in-memory store) say so.
    fn read_transaction(&self) -> BoxFuture<'_, Result<Box<dyn ReadTransaction>, StoreError>> {
        let kind = self.kind();
        Box::pin(async move {
            Err(StoreError::Unsupported(format!(
                "the `{kind}` store has no read transactions"
            )))
        })
    }

    /// The saga log, written outside the commands' transactions.
    fn sagas(&self) -> &dyn SagaLog;

    /// The consumers' checkpoints and dead letters, and the signal of new commits.
    fn consumers(&self) -> &dyn ConsumerLog;

    /// The registrations of remote consumers and their checkpoints. Stores that keep
    /// none (the default) say so when asked.
    fn remote_consumers(&self) -> &dyn RemoteConsumerLog {
        &NoRemoteConsumers
    }

    /// Deletes at most `limit` events after `after` and at or before `up_to` in the
    /// global order, in one transaction: events an [`Archive`](crate::store::Archive) holds. The last event of
    /// each stream stays (the stream's version goes on from it), and so do the events a
    /// consumer parked. Returns the positions it deleted, in order: the next call goes on
    /// from the last. Stores that cannot discard say so.
    fn discard(
        &self,
        after: Position,
        up_to: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Position>, StoreError>> {
        let _ = (after, up_to, limit);
        let kind = self.kind();
        Box::pin(async move {
            Err(StoreError::Unsupported(format!(
                "the `{kind}` store cannot discard events"
            )))
        })
    }

    /// The next page of the global order after `after`, keeping the events whose route
    /// matches one of `patterns` (all of them when `patterns` is empty). At most `limit`
    /// events are examined; [`Page::next`] is where the following page starts, past the
    /// events that did not match, so that a reader with a narrow filter moves on and can
    /// checkpoint where it is. Like [`read_all`](Self::read_all), it never skips an event
    /// that commits later with a smaller position.
    ///
    /// ```
    /// use herald::route::Pattern;
    /// use herald::store::{EventStore, MemoryStore, Position};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = MemoryStore::new();
    /// let users = [Pattern::parse("user.*")?];
    /// let mut at = Position::START;
    /// loop {
    ///     let page = store.read_matching(at, 500, &users).await?;
    ///     for event in &page.events { /* only `user.…` routes */ }
    ///     if page.next == at { break } // nothing more for now
    ///     at = page.next;
    /// }
    /// # Ok(()) }
    /// ```
    fn read_matching<'a>(
        &'a self,
        after: Position,
        limit: usize,
        patterns: &'a [Pattern],
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(async move {
            let events = self.read_all(after, limit).await?;
            let next = events.last().map_or(after, |e| e.position);
            let events = events
                .into_iter()
                .filter(|e| {
                    patterns.is_empty() || patterns.iter().any(|p| p.matches(e.route.as_str()))
                })
                .collect();
            Ok(Page { events, next })
        })
    }
}

/// A page of the global order read with [`EventStore::read_matching`].
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The events that matched, in global order.
    pub events: Vec<RecordedEvent>,
    /// Where the next page starts: the position of the last event examined (matching
    /// or not), or the position read from when there was none.
    pub next: Position,
}

/// A shared store is a store: one store can serve several runtimes.
impl<S: EventStore + ?Sized> EventStore for std::sync::Arc<S> {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        (**self).begin()
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        (**self).read_stream(stream, after_version)
    }

    fn replay<'a>(
        &'a self,
        stream: &'a StreamKey,
        from: ReplayFrom,
    ) -> BoxFuture<'a, Result<AggregateRead, StoreError>> {
        (**self).replay(stream, from)
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        (**self).read_all(after, limit)
    }

    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        (**self).read_snapshot(stream)
    }

    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    fn reader(&self) -> BoxFuture<'_, Result<Box<dyn StoreReader>, StoreError>> {
        (**self).reader()
    }

    fn discard(
        &self,
        after: Position,
        up_to: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Position>, StoreError>> {
        (**self).discard(after, up_to, limit)
    }

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        (**self).read_command(id)
    }

    fn recent_commands(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ListedCommand>, StoreError>> {
        (**self).recent_commands(before, limit)
    }

    fn groups_commits(&self) -> bool {
        (**self).groups_commits()
    }

    fn read_transaction(&self) -> BoxFuture<'_, Result<Box<dyn ReadTransaction>, StoreError>> {
        (**self).read_transaction()
    }

    fn sagas(&self) -> &dyn SagaLog {
        (**self).sagas()
    }

    fn consumers(&self) -> &dyn ConsumerLog {
        (**self).consumers()
    }

    fn remote_consumers(&self) -> &dyn RemoteConsumerLog {
        (**self).remote_consumers()
    }

    fn read_matching<'a>(
        &'a self,
        after: Position,
        limit: usize,
        patterns: &'a [Pattern],
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        (**self).read_matching(after, limit, patterns)
    }
}

/// One transaction: what a command's loop does between begin and commit. Dropping it
/// without committing rolls it back.
pub trait StoreTransaction: Send + Sync {
    /// The stream's events above `after_version`, committed or appended by this
    /// transaction.
    fn load_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>>;

    /// [`load_stream`](Self::load_stream) as an aggregate replays it. The SQL stores
    /// read only the columns that takes.
    fn replay_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<ReplayEvent>, StoreError>> {
        Box::pin(async move {
            let events = self.load_stream(stream, after_version).await?;
            Ok(events.iter().map(ReplayEvent::from).collect())
        })
    }

    /// The version of `stream` as this transaction sees it (0: no events).
    fn stream_version<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Appends `events` to `stream`, which must be at version `expected`; waits for a
    /// concurrent writer of the stream to finish and returns a [`Conflict`] if it
    /// committed. On a conflict nothing is appended and the transaction goes on as it
    /// was (the runtime retries a command without a savepoint on that promise).
    fn append<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>>;

    /// Claims command `id` (with the hash of its payload) for this transaction, unless it
    /// was recorded before: then returns that record, waiting first for a transaction
    /// that claimed the same id and is still running, so that two racing dispatches run
    /// the command once. The record is kept once
    /// [`finish_command`](Self::finish_command) wrote it and the transaction commits.
    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>>;

    /// Writes command `id`'s record with what it did: the one claimed by
    /// [`record_command`](Self::record_command), or a new one for an id that needed no
    /// claim (one the runtime just made, which no one else can know). `result` comes as
    /// JSON text, which is what a database stores (see [`ResultJson`]).
    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: ResultJson<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// From now on, [`finish_command`](Self::finish_command) may keep the records it is
    /// given and write them all at the [`commit`](Self::commit), in one statement: a
    /// round trip saved for every command but one in a group commit's transaction, which
    /// the runtime puts in this mode. A kept record is undone by a rollback to a
    /// savepoint taken before it, as a written one is, and a commit that cannot write
    /// them all fails whole; SQL of your own in the transaction does not see kept
    /// records in `herald_commands`. By default each record is written at once.
    fn write_commands_at_commit(&mut self) {}

    /// The newest snapshot of `stream`.
    fn load_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>>;

    /// Replaces the snapshot of `stream`.
    fn save_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Claims consumer `consumer` for this transaction and returns its checkpoint
    /// ([`Position::START`] for a new one): a transaction of another worker claiming it
    /// waits until this one ends, and then sees where this one left it.
    fn claim_consumer<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Position, StoreError>>;

    /// Moves the checkpoint of `consumer`, claimed by this transaction, to `position`.
    fn save_checkpoint<'a>(
        &'a mut self,
        consumer: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Parks an event for a consumer (replacing the letter it may have already).
    fn park<'a>(&'a mut self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The events `consumer` parked, in global order, as this transaction sees them.
    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>>;

    /// Takes an event out of a consumer's dead letters; whether it was there.
    fn unpark<'a>(
        &'a mut self,
        consumer: &'a str,
        event_id: Uuid,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The transaction's database connection, for your own tables.
    fn sql(&mut self) -> Sql<'_>;

    /// Marks a point to roll back to.
    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>>;

    /// Marks a point to roll back to, as [`savepoint`](Self::savepoint) does, but the
    /// store may take it with the next statement of its own that this transaction runs,
    /// in the same round trip, instead of in one of its own (SQLite takes it with the
    /// append that follows: a round trip saved for every command but one in a group
    /// commit's transaction, which the runtime takes its savepoints with). A rollback to
    /// it or a release of it before any statement costs nothing. Until it is taken, the
    /// connection of [`sql`](Self::sql) must not be used: call
    /// [`take_deferred_savepoint`](Self::take_deferred_savepoint) first. By default the
    /// savepoint is taken at once.
    fn defer_savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        self.savepoint()
    }

    /// Takes the savepoint [`defer_savepoint`](Self::defer_savepoint) left for later, if
    /// one waits: after this, SQL of your own runs inside it.
    fn take_deferred_savepoint(&mut self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Undoes everything after `savepoint` (which stays usable).
    fn rollback_to(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Forgets `savepoint` and those after it, keeping what was done since. (PostgreSQL
    /// slows down for every session once a transaction holds more than 64 of them.)
    fn release(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Makes everything durable and visible.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Undoes everything.
    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// Where an archive keeps its events: in memory or in a SQL database
/// (`SqlArchive`).
pub(crate) trait Archived: std::fmt::Debug + Send + Sync + 'static {
    /// `memory`, `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;

    /// The position of the newest archived event.
    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>>;

    /// At most `limit` archived events after `after`, in global order.
    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>>;

    /// The archived events of `stream` above `after_version`, in order.
    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>>;

    /// The archived event with this id.
    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>>;

    /// Stores the `events` not archived yet, in one transaction, and says how many of
    /// `events` it holds afterwards (fewer where other events hold their places).
    fn put<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<u64, StoreError>>;
}
