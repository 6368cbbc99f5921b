//! The embedded default: events in a SQLite file, no server.
//!
//! The file is opened in WAL mode with `synchronous=FULL`, so a committed event survives
//! a power loss; [`Durability::Normal`] trades that for speed (a committed transaction
//! may be lost on power loss, never half-written). Every transaction takes the write lock
//! when it begins (`BEGIN IMMEDIATE`): SQLite has one writer at a time, and taking the
//! lock up front means a transaction that read a stream can always write it, and
//! positions are assigned in commit order (so `tx_order` is always 0). The writers of one
//! process queue for their turn in order before they ask for the lock. Readers never wait
//! for the writer.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::archive::SqlArchive;
use super::db::{Args, Columns, sql_database};
use super::dialect::{Begun, Dialect};
use super::rows::{self, from_micros, int, micros};
use super::statements;
use super::store::SqlStore;
use crate::BoxFuture;
use crate::model::record::{NewEvent, Position, RecordedEvent, StreamKey};
use crate::store::contract::{Sql, StoreError, backend};

sql_database!(sqlx::Sqlite, SqliteConnection);

/// How durable a commit is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed event survives power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: faster; the last commits may be lost on power loss.
    Normal,
}

impl Durability {
    fn synchronous(self) -> SqliteSynchronous {
        match self {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        }
    }
}

/// The SQLite dialect of [`SqlStore`]: one writer at a time.
#[derive(Clone, Debug)]
pub struct Sqlite {
    pool: SqlitePool,
    /// SQLite has one writer at a time. The writers of this process queue here, in
    /// order, rather than retrying the database's lock with growing sleeps.
    writer: Arc<Mutex<()>>,
    /// How long a transaction waits for its turn before the store reports itself busy.
    writer_wait: Duration,
    /// `read_all`'s statement.
    read_all: SqlStr,
}

/// Events in a SQLite file: the embedded default.
///
/// ```no_run
/// use herald::store::SqliteStore;
/// # async fn open() -> Result<(), herald::store::StoreError> {
/// let store = SqliteStore::open("app.db").await?; // created if missing, kept between runs
/// # Ok(()) }
/// ```
pub type SqliteStore = SqlStore<Sqlite>;

/// How long a writer waits for the write lock (its turn in this process, or the file's
/// lock held by another process) before it reports the database busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// sqlx names `sqlite::memory:` databases `file:sqlx-in-memory-N` (shared cache).
fn in_memory(options: &SqliteConnectOptions) -> bool {
    let filename = options.get_filename().to_string_lossy();
    filename == ":memory:" || filename.starts_with("file:sqlx-in-memory-")
}

/// A pool on `options` with `max` connections (one for an in-memory database, which
/// lives in its connection), migrated by `migrator`.
async fn pool(
    options: SqliteConnectOptions,
    durability: Durability,
    max: u32,
    mut migrator: sqlx::migrate::Migrator,
    migrations_table: &'static str,
) -> Result<SqlitePool, StoreError> {
    let in_memory = in_memory(&options);
    let options = options
        .journal_mode(match in_memory {
            true => SqliteJournalMode::Memory,
            false => SqliteJournalMode::Wal,
        })
        .synchronous(durability.synchronous())
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(if in_memory { 1 } else { max })
        .min_connections(u32::from(in_memory))
        .idle_timeout(None)
        .max_lifetime(None)
        // A connection to a file in this process does not drop like a network one: no
        // ping before each use.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(backend)?;
    migrator.dangerous_set_table_name(migrations_table);
    migrator.run(&pool).await.map_err(backend)?;
    Ok(pool)
}

impl SqlStore<Sqlite> {
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
        // The saga log is in a file of its own beside the events' file `app.db`:
        // `app.sagas.db` (in memory for an in-memory store). A connection to the events'
        // file would wait for the write lock a command holds while its saga runs.
        let sagas = match in_memory(&options) {
            true => SqliteConnectOptions::from_str("sqlite::memory:").map_err(backend)?,
            false => {
                let events = options.get_filename().to_string_lossy().into_owned();
                let path = events.strip_suffix(".db").unwrap_or(&events);
                SqliteConnectOptions::new()
                    .filename(format!("{path}.sagas.db"))
                    .create_if_missing(true)
            }
        };
        let migrations = sqlx::migrate!("./migrations/sqlite");
        let events = pool(options, durability, 8, migrations, "_herald_migrations").await?;
        let saga_migrations = sqlx::migrate!("./migrations/sqlite-sagas");
        let sagas = pool(sagas, durability, 2, saga_migrations, "_herald_migrations").await?;
        let dialect = Sqlite {
            pool: events,
            writer: Arc::default(),
            writer_wait: BUSY_TIMEOUT,
            // Commits come in position order: every committed event can be read.
            read_all: statements::sql(format!(
                "{}WHERE position > $1 ORDER BY position LIMIT $2",
                statements::event_columns::<Sqlite>("herald_events", Sqlite::EVENT_POSITION)
            )),
        };
        Ok(SqlStore::new(dialect, sagas))
    }

    /// How long a transaction waits for its turn to write (SQLite has one writer at a
    /// time; this process's transactions queue in order) before it fails with
    /// [`StoreError::Busy`], which is retryable and served over HTTP as a `503` with
    /// `Retry-After`. The default is 30 seconds; a server under load wants a shorter wait,
    /// so that a request is refused quickly instead of piling up.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use herald::store::SqliteStore;
    /// # async fn open() -> Result<(), herald::store::StoreError> {
    /// let store = SqliteStore::open("app.db").await?.writer_wait(Duration::from_millis(500));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn writer_wait(mut self, wait: Duration) -> Self {
        Arc::make_mut(&mut self.dialect).writer_wait = wait;
        self
    }
}

/// An archive in SQLite (WAL, `synchronous=FULL`).
pub(crate) async fn archive(
    options: SqliteConnectOptions,
) -> Result<SqlArchive<Sqlite>, StoreError> {
    let migrations = sqlx::migrate!("./migrations/archive-sqlite");
    let options = options.create_if_missing(true);
    let pool = pool(
        options,
        Durability::Full,
        4,
        migrations,
        "_herald_archive_migrations",
    )
    .await?;
    Ok(SqlArchive::new(pool))
}

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    type Turn = Option<OwnedMutexGuard<()>>;
    const KIND: &'static str = "sqlite";
    const SINGLE_WRITER: bool = true;
    const TAKES_SAVEPOINT_WITH_APPEND: bool = true;
    // Deferred: a read transaction from its first read on, which WAL mode never makes
    // wait for the writer.
    const BEGIN_READ: &'static str = "BEGIN";
    const EVENT_POSITION: &'static str = "0 AS tx_order, position";
    const EVENT_ORDER: &'static str = "position";
    // The table is keyed by rowid, in the order the rows were written.
    const COMMANDS_NEWEST_FIRST: &'static str = "rowid DESC";

    fn commands_before(id: &str) -> String {
        format!("rowid < (SELECT rowid FROM herald_commands WHERE id = {id})")
    }
    const NOW_MICROS: &'static str =
        "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)";
    const NOW: &'static str = Self::NOW_MICROS;

    fn events_after(_tx: &str, seq: &str) -> String {
        format!("position > {seq}")
    }

    fn micros(column: &str) -> String {
        column.to_owned()
    }

    fn time(micros: &str) -> String {
        micros.to_owned()
    }

    fn later(time: &str, micros: &str) -> String {
        format!("({time} + {micros})")
    }

    fn json(text: &str) -> String {
        text.to_owned()
    }

    fn json_text(column: &str) -> String {
        column.to_owned()
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn begin(&self) -> BoxFuture<'_, Result<Begun<Self>, StoreError>> {
        Box::pin(async move {
            let wait = self.writer_wait;
            let turn = tokio::time::timeout(wait, self.writer.clone().lock_owned())
                .await
                .map_err(|_| {
                    StoreError::Busy(format!(
                        "waited {wait:?} for another transaction of this process to end (SQLite has one writer at a time)"
                    ))
                })?;
            let tx = self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(backend)?;
            Ok((tx, Some(turn)))
        })
    }

    fn turn(&self) -> BoxFuture<'_, Self::Turn> {
        Box::pin(async move { Some(self.writer.clone().lock_owned().await) })
    }

    fn sql(conn: &mut SqliteConnection) -> Sql<'_> {
        Sql::Sqlite(conn)
    }

    fn append<'a>(
        conn: &'a mut SqliteConnection,
        savepoint: Option<usize>,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Option<Vec<RecordedEvent>>, StoreError>> {
        /// Inserts an event if the stream is at the version before it, returning its
        /// position (no row: the stream moved on, and nothing was inserted).
        const INSERT: &str = "INSERT INTO herald_events (event_id, tenant, stream_type, stream_id, version, \
             route, name, schema_version, payload, metadata, recorded_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE (SELECT COALESCE(MAX(version), 0) FROM herald_events \
             WHERE tenant = $2 AND stream_type = $3 AND stream_id = $4) = $5 - 1 \
             RETURNING position";
        Box::pin(async move {
            // Writers are serialized by the write lock, so the first insert checks the
            // version in the same statement and the others follow it. On a conflict
            // nothing is written.
            let recorded_at = from_micros(micros(SystemTime::now())); // as a later read returns it
            let mut recorded = Vec::with_capacity(events.len());
            let mut savepoint = savepoint;
            for (event, version) in events.into_iter().zip(expected + 1..) {
                // The savepoint and the first insert in one call: the driver runs both.
                let statement = match savepoint.take() {
                    Some(n) => statements::sql(format!("SAVEPOINT herald_{n}; {INSERT}")),
                    None => AssertSqlSafe(INSERT).into_sql_str(),
                };
                let inserted = sqlx::query::<sqlx::Sqlite>(statement)
                    .arg(event.event_id)
                    .arg(stream.tenant())
                    .arg(stream.stream_type())
                    .arg(stream.stream_id())
                    .arg(version as i64)
                    .arg(event.route.as_str())
                    .arg(event.name.as_str())
                    .arg(i64::from(event.schema_version))
                    .arg(Json(&event.payload))
                    .arg(Json(&event.metadata))
                    .arg(micros(recorded_at))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                let Some(inserted) = inserted else {
                    return Ok(None);
                };
                recorded.push(RecordedEvent {
                    position: Position::from_parts(0, inserted.col::<i64>("position")? as u64),
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
            Ok(Some(recorded))
        })
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query::<sqlx::Sqlite>(self.read_all.clone())
                .arg(after.parts().1 as i64)
                .arg(int(limit as u64))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            rows.iter().map(rows::event).collect()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query::<sqlx::Sqlite>(
                "SELECT COALESCE(MAX(position), 0) AS position FROM herald_events",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
            Ok(Position::from_parts(0, row.col::<i64>("position")? as u64))
        })
    }
}
