//! The embedded default: events in a SQLite file, no server.
//!
//! The file is opened in WAL mode with `synchronous=FULL`, so a committed event survives
//! a power loss; [`Durability::Normal`] trades that for speed (a committed transaction
//! may be lost on power loss, never half-written). Every transaction takes the write lock
//! when it begins (`BEGIN IMMEDIATE`): SQLite has one writer at a time, and taking the
//! lock up front means a transaction that read a stream can always write it, and
//! positions are assigned in commit order. The writers of one process queue for their
//! turn in order before they ask for the lock. Readers never wait for the writer.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use uuid::Uuid;

use super::{
    AggregateRead, Conflict, DeadLetter, EventStore, Metadata, NewEvent, Position, RecordedCommand,
    RecordedEvent, ReplayEvent, ReplayFrom, Savepoint, Snapshot, Sql, StoreError, StoreTransaction,
    StreamKey, backend,
};
use crate::BoxFuture;
use crate::route::Route;

/// How durable a commit is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed event survives power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: faster; the last commits may be lost on power loss.
    Normal,
}

/// Events in a SQLite file: the embedded default.
///
/// ```no_run
/// use herald::store::SqliteStore;
/// # async fn open() -> Result<(), herald::store::StoreError> {
/// let store = SqliteStore::open("app.db").await?; // created if missing, kept between runs
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer at a time. The writers of this process queue here, in
    /// order, rather than retrying the database's lock with growing sleeps.
    writer: Arc<Mutex<()>>,
    /// The saga log, in a file of its own: a connection to the events' file would wait
    /// for the write lock a command holds while its saga runs.
    sagas: SqliteSagaLog,
    /// Bumped when a transaction with events commits, to wake this process's consumers.
    committed: Arc<watch::Sender<u64>>,
}

super::saga::sql_saga_log!(
    SqliteSagaLog,
    SqlitePool,
    SqliteRow,
    "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
);

/// The saga log beside the events' file `app.db`: `app.sagas.db` (in memory for an
/// in-memory store).
async fn saga_log(
    events: &str,
    in_memory: bool,
    durability: Durability,
) -> Result<SqliteSagaLog, StoreError> {
    let options = match in_memory {
        true => SqliteConnectOptions::from_str("sqlite::memory:").map_err(backend)?,
        false => {
            let path = events.strip_suffix(".db").unwrap_or(events);
            SqliteConnectOptions::new()
                .filename(format!("{path}.sagas.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
        }
    };
    let options = options
        .synchronous(match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(if in_memory { 1 } else { 2 })
        .min_connections(u32::from(in_memory))
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(backend)?;
    let mut migrator = sqlx::migrate!("./migrations/sqlite-sagas");
    migrator.dangerous_set_table_name("_herald_migrations");
    migrator.run(&pool).await.map_err(backend)?;
    Ok(SqliteSagaLog { pool })
}

/// How long a writer waits for the write lock before it reports the database busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl SqliteStore {
    /// Opens the database file at `path`, creating it (and Herald's tables) if missing.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::Full).await
    }

    /// Opens the database file at `path` with the given durability.
    pub async fn open_with(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect_with(options, durability).await
    }

    /// Connects to a `sqlite:` URL (`sqlite://app.db`, `sqlite::memory:`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true);
        Self::connect_with(options, Durability::Full).await
    }

    /// Connects with your own options; Herald sets WAL, the durability, a busy timeout
    /// and creates or upgrades its tables.
    pub async fn connect_with(
        options: SqliteConnectOptions,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        // sqlx names `sqlite::memory:` databases `file:sqlx-in-memory-N` (shared cache).
        let filename = options.get_filename().to_string_lossy().into_owned();
        let in_memory = filename == ":memory:" || filename.starts_with("file:sqlx-in-memory-");
        let options = options
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(BUSY_TIMEOUT);
        // An in-memory database lives in its one connection.
        let max = if in_memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(u32::from(in_memory))
            .idle_timeout(None)
            .max_lifetime(None)
            // A connection to a file in this process does not drop like a network one:
            // no ping before each use.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(backend)?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.dangerous_set_table_name("_herald_migrations");
        migrator.run(&pool).await.map_err(backend)?;
        let sagas = saga_log(&filename, in_memory, durability).await?;
        Ok(SqliteStore {
            pool,
            writer: Arc::default(),
            sagas,
            committed: Arc::new(watch::Sender::new(0)),
        })
    }

    /// The connection pool, for your own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT position, event_id, tenant, stream_type, stream_id, version, route, name, schema_version, \
             payload, metadata, recorded_at FROM herald_events ",
            $rest
        )
    };
}

// After `select_events!`, which it uses.
mod consumer;

pub(super) fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn from_micros(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

pub(super) fn event_from_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let route: String = row.try_get("route").map_err(backend)?;
    let stream = StreamKey::new(
        row.try_get::<String, _>("tenant").map_err(backend)?,
        row.try_get::<String, _>("stream_type").map_err(backend)?,
        row.try_get::<String, _>("stream_id").map_err(backend)?,
    )?;
    let Json(payload): Json<serde_json::Value> = row.try_get("payload").map_err(backend)?;
    let Json(metadata): Json<Metadata> = row.try_get("metadata").map_err(backend)?;
    Ok(RecordedEvent {
        position: Position::from_parts(
            0,
            row.try_get::<i64, _>("position").map_err(backend)? as u64,
        ),
        event_id: row.try_get("event_id").map_err(backend)?,
        stream,
        version: row.try_get::<i64, _>("version").map_err(backend)? as u64,
        route: Route::try_from(route).map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        schema_version: row.try_get::<i64, _>("schema_version").map_err(backend)? as u32,
        payload,
        metadata,
        recorded_at: from_micros(row.try_get("recorded_at").map_err(backend)?),
    })
}

async fn stream_events(
    conn: &mut sqlx::SqliteConnection,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(select_events!(
        "WHERE tenant = ? AND stream_type = ? AND stream_id = ? AND version > ? ORDER BY version"
    ))
    .bind(stream.tenant())
    .bind(stream.stream_type())
    .bind(stream.stream_id())
    .bind(after_version as i64)
    .fetch_all(conn)
    .await
    .map_err(backend)?;
    rows.iter().map(event_from_row).collect()
}

async fn stream_version(
    conn: &mut sqlx::SqliteConnection,
    stream: &StreamKey,
) -> Result<u64, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) FROM herald_events \
         WHERE tenant = ? AND stream_type = ? AND stream_id = ?",
    )
    .bind(stream.tenant())
    .bind(stream.stream_type())
    .bind(stream.stream_id())
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    Ok(version as u64)
}

/// The columns an aggregate replays, the payload as its JSON text.
async fn replay_events(
    conn: &mut sqlx::SqliteConnection,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<ReplayEvent>, StoreError> {
    // Decoded row by row, by column index: this is the hot path of loading.
    let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT version, name, schema_version, payload FROM herald_events \
         WHERE tenant = ? AND stream_type = ? AND stream_id = ? AND version > ? ORDER BY version",
    )
    .bind(stream.tenant())
    .bind(stream.stream_type())
    .bind(stream.stream_id())
    .bind(after_version as i64)
    .fetch_all(conn)
    .await
    .map_err(backend)?;
    Ok(rows
        .into_iter()
        .map(|(version, name, schema_version, payload)| ReplayEvent {
            version: version as u64,
            name,
            schema_version: schema_version as u32,
            payload,
        })
        .collect())
}

/// The record of command `id`, if there is one.
async fn command_of(
    conn: &mut sqlx::SqliteConnection,
    id: Uuid,
) -> Result<Option<RecordedCommand>, StoreError> {
    let row = sqlx::query("SELECT payload_hash, result FROM herald_commands WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let result: Option<Json<serde_json::Value>> = row.try_get("result").map_err(backend)?;
    Ok(Some(RecordedCommand {
        payload_hash: row.try_get("payload_hash").map_err(backend)?,
        result: result.map_or(serde_json::Value::Null, |Json(v)| v),
    }))
}

async fn snapshot_of(
    conn: &mut sqlx::SqliteConnection,
    stream: &StreamKey,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT version, state_version, state FROM herald_snapshots \
         WHERE tenant = ? AND stream_type = ? AND stream_id = ?",
    )
    .bind(stream.tenant())
    .bind(stream.stream_type())
    .bind(stream.stream_id())
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let Json(state): Json<serde_json::Value> = row.try_get("state").map_err(backend)?;
    Ok(Some(Snapshot {
        version: row.try_get::<i64, _>("version").map_err(backend)? as u64,
        state_version: row.try_get::<i64, _>("state_version").map_err(backend)? as u32,
        state,
    }))
}

impl EventStore for SqliteStore {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        Box::pin(async move {
            let writer = tokio::time::timeout(BUSY_TIMEOUT, self.writer.clone().lock_owned())
                .await
                .map_err(|_| {
                    StoreError::Backend(
                        format!(
                            "waited {BUSY_TIMEOUT:?} for another transaction of this process to end (SQLite has one writer at a time)"
                        )
                        .into(),
                    )
                })?;
            let tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(backend)?;
            Ok(Box::new(SqliteTransaction {
                tx,
                savepoints: 0,
                appended: false,
                committed: self.committed.clone(),
                _writer: writer,
            }) as Box<dyn StoreTransaction>)
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            stream_events(&mut conn, stream, after_version).await
        })
    }

    fn replay<'a>(
        &'a self,
        stream: &'a StreamKey,
        from: ReplayFrom,
    ) -> BoxFuture<'a, Result<AggregateRead, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            let snapshot = match from {
                ReplayFrom::Snapshot => snapshot_of(&mut conn, stream).await?,
                ReplayFrom::Version(_) => None,
            };
            let after = from.after(snapshot.as_ref());
            Ok(AggregateRead {
                snapshot,
                events: replay_events(&mut conn, stream, after).await?,
            })
        })
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(select_events!(
                "WHERE position > ? ORDER BY position LIMIT ?"
            ))
            .bind(after.parts().1 as i64)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            rows.iter().map(event_from_row).collect()
        })
    }

    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            snapshot_of(&mut conn, stream).await
        })
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            command_of(&mut conn, id).await
        })
    }

    fn discard(
        &self,
        after: Position,
        up_to: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Position>, StoreError>> {
        Box::pin(async move {
            // A write like any other: in turn with this process's writers.
            let _turn = self.writer.lock().await;
            // From `after` on: the events kept before it are not looked at again.
            let deleted: Vec<i64> = sqlx::query_scalar(
                "DELETE FROM herald_events WHERE position IN (\
                 SELECT e.position FROM herald_events e WHERE e.position > ?3 AND e.position <= ?1 \
                 AND e.version < (SELECT MAX(version) FROM herald_events s \
                 WHERE s.tenant = e.tenant AND s.stream_type = e.stream_type AND s.stream_id = e.stream_id) \
                 AND NOT EXISTS (SELECT 1 FROM herald_dead_letters d WHERE d.event_id = e.event_id) \
                 ORDER BY e.position LIMIT ?2) RETURNING position",
            )
            .bind(up_to.parts().1 as i64)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(after.parts().1 as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            let mut deleted: Vec<Position> = deleted
                .into_iter()
                .map(|seq| Position::from_parts(0, seq as u64))
                .collect();
            deleted.sort();
            Ok(deleted)
        })
    }

    fn sagas(&self) -> &dyn super::SagaLog {
        &self.sagas
    }

    fn consumers(&self) -> &dyn super::ConsumerLog {
        self
    }
}

/// A SQLite write transaction.
struct SqliteTransaction {
    tx: Transaction<'static, Sqlite>,
    savepoints: usize,
    /// Whether it appended events: its commit wakes the consumers.
    appended: bool,
    committed: Arc<watch::Sender<u64>>,
    /// This process's turn to write; given up when the transaction ends (declared after
    /// `tx`, so a dropped transaction starts its rollback first).
    _writer: OwnedMutexGuard<()>,
}

impl StoreTransaction for SqliteTransaction {
    fn load_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(stream_events(&mut self.tx, stream, after_version))
    }

    fn replay_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<ReplayEvent>, StoreError>> {
        Box::pin(replay_events(&mut self.tx, stream, after_version))
    }

    fn stream_version<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(stream_version(&mut self.tx, stream))
    }

    fn append<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            if events.is_empty() {
                let actual = stream_version(&mut self.tx, stream).await?;
                return match actual == expected {
                    true => Ok(Vec::new()),
                    false => Err(Conflict {
                        stream: stream.clone(),
                        expected,
                        actual,
                    }
                    .into()),
                };
            }
            // Writers are serialized by the write lock, so the first insert checks the
            // version in the same statement and the others follow it. On a conflict
            // nothing is written. (Numbered parameters only: sqlx miscounts plain `?`
            // mixed with `?N`.)
            let recorded_at = from_micros(micros(SystemTime::now())); // as a later read returns it
            let mut recorded = Vec::with_capacity(events.len());
            for (event, version) in events.into_iter().zip(expected + 1..) {
                let inserted = sqlx::query(
                    "INSERT INTO herald_events (event_id, tenant, stream_type, stream_id, version, route, name, \
                     schema_version, payload, metadata, recorded_at) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
                     WHERE (SELECT COALESCE(MAX(version), 0) FROM herald_events \
                     WHERE tenant = ?2 AND stream_type = ?3 AND stream_id = ?4) = ?5 - 1",
                )
                .bind(event.event_id)
                .bind(stream.tenant())
                .bind(stream.stream_type())
                .bind(stream.stream_id())
                .bind(version as i64)
                .bind(event.route.as_str())
                .bind(&event.name)
                .bind(i64::from(event.schema_version))
                .bind(Json(&event.payload))
                .bind(Json(&event.metadata))
                .bind(micros(recorded_at))
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
                if inserted.rows_affected() == 0 {
                    return Err(Conflict {
                        stream: stream.clone(),
                        expected,
                        actual: stream_version(&mut self.tx, stream).await?,
                    }
                    .into());
                }
                self.appended = true;
                let position = inserted.last_insert_rowid();
                recorded.push(RecordedEvent {
                    position: Position::from_parts(0, position as u64),
                    event_id: event.event_id,
                    stream: stream.clone(),
                    version,
                    route: event.route,
                    name: event.name,
                    schema_version: event.schema_version,
                    payload: event.payload,
                    metadata: event.metadata,
                    recorded_at,
                });
            }
            Ok(recorded)
        })
    }

    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        _payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>> {
        Box::pin(async move {
            // Writers are serialized by the write lock: no one else can record this id
            // until the transaction ends, so there is nothing to claim, and the row is
            // written once, whole, by `finish_command`.
            command_of(&mut self.tx, id).await
        })
    }

    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO herald_commands (id, payload_hash, result, recorded_at) VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(payload_hash)
            .bind(Json(result))
            .bind(micros(SystemTime::now()))
            .execute(&mut *self.tx)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn load_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        Box::pin(snapshot_of(&mut self.tx, stream))
    }

    fn save_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO herald_snapshots (tenant, stream_type, stream_id, version, state_version, state, taken_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (tenant, stream_type, stream_id) DO UPDATE SET version = excluded.version, \
                 state_version = excluded.state_version, state = excluded.state, taken_at = excluded.taken_at \
                 WHERE excluded.version > herald_snapshots.version",
            )
            .bind(stream.tenant())
            .bind(stream.stream_type())
            .bind(stream.stream_id())
            .bind(snapshot.version as i64)
            .bind(i64::from(snapshot.state_version))
            .bind(Json(&snapshot.state))
            .bind(micros(SystemTime::now()))
            .execute(&mut *self.tx)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn claim_consumer<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Position, StoreError>> {
        Box::pin(consumer::claim(&mut self.tx, consumer))
    }

    fn save_checkpoint<'a>(
        &'a mut self,
        consumer: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(consumer::save_checkpoint(&mut self.tx, consumer, position))
    }

    fn park<'a>(&'a mut self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(consumer::park(&mut self.tx, letter))
    }

    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(consumer::dead_letters(&mut self.tx, consumer))
    }

    fn unpark<'a>(
        &'a mut self,
        consumer: &'a str,
        event_id: Uuid,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(consumer::unpark(&mut self.tx, consumer, event_id))
    }

    fn sql(&mut self) -> Sql<'_> {
        Sql::Sqlite(&mut self.tx)
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        Box::pin(async move {
            self.savepoints += 1;
            let n = self.savepoints;
            sqlx::query(AssertSqlSafe(format!("SAVEPOINT herald_{n}")))
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
            Ok(Savepoint(n))
        })
    }

    fn rollback_to(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let n = savepoint.0;
            sqlx::query(AssertSqlSafe(format!("ROLLBACK TO SAVEPOINT herald_{n}")))
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
            self.savepoints = n;
            Ok(())
        })
    }

    fn release(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let n = savepoint.0;
            sqlx::query(AssertSqlSafe(format!("RELEASE SAVEPOINT herald_{n}")))
                .execute(&mut *self.tx)
                .await
                .map_err(backend)?;
            self.savepoints = n - 1;
            Ok(())
        })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        // The turn is given up only once the commit is done.
        let SqliteTransaction {
            tx,
            _writer,
            appended,
            committed: signal,
            ..
        } = *self;
        Box::pin(async move {
            let committed = tx.commit().await.map_err(backend);
            drop(_writer);
            if appended && committed.is_ok() {
                signal.send_modify(|n| *n += 1);
            }
            committed
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        let SqliteTransaction { tx, _writer, .. } = *self;
        Box::pin(async move {
            let rolled_back = tx.rollback().await.map_err(backend);
            drop(_writer);
            rolled_back
        })
    }
}
