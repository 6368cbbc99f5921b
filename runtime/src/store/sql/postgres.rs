//! Events in PostgreSQL, for several processes or machines sharing one store.
//!
//! Writers run concurrently and may commit out of order: the events of a transaction
//! that took positions 5 and 6 can become visible after a transaction that took 7. A
//! reader that went by position alone would read 7, move its checkpoint past 6 and never
//! see 5 and 6. So the global order is `(tx_order, position)`, where `tx_order` is the id
//! of the transaction that wrote the event, and a reader only reads events whose
//! `tx_order` is older than every writing transaction of this store still running (the
//! horizon, below): those are final, and any later writer has a larger transaction id.
//!
//! Transaction ids are handed out at a transaction's first write, not at its commit, so
//! a transaction that began early can append version 2 of a stream after a younger one
//! committed version 1. Its `tx_order` is then raised to version 1's, which keeps the
//! stream in version order and still never below the writer's own id, so the horizon
//! holds.
//!
//! **The horizon.** PostgreSQL's own `pg_snapshot_xmin` counts every transaction of the
//! server, in every database: one idle-in-transaction session anywhere would stop every
//! reader. So each transaction of this store marks itself when it begins, before it can
//! get an id, with a shared advisory lock whose key names the store (its schema), and a
//! reader's horizon (`horizon!`) is the smallest of:
//! - the first id its snapshot does not see as finished (`pg_snapshot_xmax`): a writer
//!   that gets an id later has a larger one;
//! - the id of every marked transaction (the `transactionid` lock it holds in `pg_locks`
//!   beside its marker): a writer of this store still running;
//! - the ids the snapshot sees running that hold no lock any more when `pg_locks` is
//!   read: they ended in between (or are taking their id's lock this very moment), and
//!   whether they were this store's cannot be told, so they count.
//!
//! Transactions of other databases, schemas or tables hold no marker and are passed.
//!
//! **Commit notices.** Consumers in other processes are woken by `NOTIFY herald_commits`
//! with the schema as payload. PostgreSQL serializes the commits of transactions that
//! notify (a lock taken at commit, for the whole server), so a writing transaction never
//! notifies itself: after it commits, the store nudges its notifier, a task of its own
//! that sends the notice on a connection of its own. While one notice is on its way, any
//! number of commits fold into the next, so a process has at most one in flight,
//! whatever its rate of commits. A notice that fails is logged and sent again after a
//! wait; consumers poll meanwhile (`HeraldBuilder::consumer_poll`).
//!
//! Appends do not lock the stream: the unique `(tenant, stream_type, stream_id, version)`
//! key detects a concurrent writer (the second insert waits for the first transaction,
//! then finds the version taken), so a command costs no extra round trip to read the
//! stream's version.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, Row, SqlStr};
use tokio::sync::watch;
use uuid::Uuid;

use super::archive::SqlArchive;
use super::db::{Args, sql_database};
use super::dialect::{Begun, Dialect};
use super::rows::{self, from_micros, int, position};
use super::statements;
use super::store::SqlStore;
use crate::BoxFuture;
use crate::model::record::{Metadata, NewEvent, Position, RecordedEvent, StreamKey};
use crate::store::contract::{Sql, StoreError, backend};

sql_database!(sqlx::Postgres, PgConnection);

/// The advisory lock key every transaction of one store holds while it runs: Herald's
/// class and a hash of the schema. Advisory locks are per database, so the database is
/// part of the key already. Two schemas whose hashes collide only hold each other's
/// readers back.
#[derive(Clone, Copy, Debug)]
struct Marker {
    class: i32,
    object: i32,
}

impl Marker {
    /// `HRLD`, Herald's class of advisory locks.
    const CLASS: i32 = 0x4852_4c44;

    fn of(schema: &str) -> Self {
        // FNV-1a: fixed, so that every process and release derives the same key.
        let hash = schema.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Marker {
            class: Self::CLASS,
            object: hash as i32,
        }
    }

    /// `BEGIN` and the marker, in one round trip, before the transaction can get an id.
    fn begin(self) -> String {
        format!(
            "BEGIN; SELECT pg_advisory_xact_lock_shared({}, {})",
            self.class, self.object
        )
    }
}

/// The horizon of a reader (see the module's doc), as a scalar subquery whose marker
/// key is bound to the placeholders `$class` and `$object`. It reads `pg_locks` after
/// the statement's snapshot was taken, which the argument needs: a statement's snapshot
/// comes before anything it evaluates.
macro_rules! horizon {
    ($class:literal, $object:literal) => {
        concat!(
            "(WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s, \
             pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax), \
             locks AS MATERIALIZED (SELECT locktype, mode, granted, virtualtransaction, database, \
             classid, objid, objsubid, transactionid::text::bigint AS xid32 FROM pg_locks \
             WHERE locktype IN ('advisory', 'transactionid') AND granted), \
             held AS (SELECT l.virtualtransaction, snap.xmax + \
             ((l.xid32 - snap.xmax % 4294967296 + 6442450944) % 4294967296 - 2147483648) AS xid \
             FROM locks l, snap WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'), \
             marked AS (SELECT virtualtransaction FROM locks WHERE locktype = 'advisory' \
             AND objsubid = 2 AND classid = (",
            $class,
            ")::int::oid AND objid = (",
            $object,
            ")::int::oid AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) \
             SELECT LEAST(snap.xmax, \
             (SELECT MIN(h.xid) FROM held h JOIN marked m USING (virtualtransaction)), \
             (SELECT MIN(x::text::bigint) FROM pg_snapshot_xip(snap.s) x \
             WHERE x::text::bigint NOT IN (SELECT xid FROM held))) FROM snap)"
        )
    };
}

/// The PostgreSQL dialect of [`SqlStore`]: concurrent writers, a global order of
/// `(tx_order, position)` read below the horizon.
#[derive(Clone, Debug)]
pub struct Postgres {
    pool: PgPool,
    /// The schema Herald's tables are in: commit notices name it.
    schema: String,
    /// `BEGIN` and the marker that holds this store's readers back while the
    /// transaction runs (see the module's doc).
    begin: Arc<str>,
    /// The marker's advisory lock key.
    marker: Marker,
    /// `read_all`'s statement.
    read_all: SqlStr,
    /// The task listening for other processes' commits, while anyone watches.
    listening: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// The listener's connection, apart from `pool`: it holds one for as long as it
    /// listens, which must not leave the commands one fewer than the pool was given.
    listener: PgPool,
    /// What tells other processes of this one's commits.
    notices: Arc<Notices>,
}

/// Events in PostgreSQL, for several processes or machines sharing one store.
///
/// ```no_run
/// use herald::store::PostgresStore;
/// # async fn open() -> Result<(), herald::store::StoreError> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// # Ok(()) }
/// ```
pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects to a `postgres://` URL and creates or upgrades Herald's tables.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(backend)?).await
    }

    /// Connects with your own options (a `search_path`, say) and creates or upgrades
    /// Herald's tables.
    ///
    /// The pool holds up to 16 connections, and checks a connection with a ping before
    /// handing it out only when it sat idle for a second or more: a connection in
    /// steady use is not asked every transaction whether it is alive (sqlx's default,
    /// a round trip that a command's transaction would wait for), and one that died
    /// while idle is still found and replaced before a transaction gets it.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        Self::connect_with_pool(options, default_pool()).await
    }

    /// Connects with your own options and your own pool's settings (its size, how long a
    /// transaction waits for a connection before the store reports itself busy with
    /// [`StoreError::Busy`]: sqlx's `acquire_timeout`, 30 seconds unless you set it), and
    /// creates or upgrades Herald's tables. The saga log, and the listener that hears of
    /// other processes' commits, keep connections of their own.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use herald::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    /// use herald::store::PostgresStore;
    /// # async fn open() -> Result<(), herald::store::StoreError> {
    /// let options: PgConnectOptions = "postgres://postgres@127.0.0.1:5432/app".parse().unwrap();
    /// let pool = PgPoolOptions::new()
    ///     .max_connections(32)
    ///     .acquire_timeout(Duration::from_millis(500));
    /// let store = PostgresStore::connect_with_pool(options, pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_pool(
        options: PgConnectOptions,
        pool: PgPoolOptions,
    ) -> Result<Self, StoreError> {
        let pool = pool.connect_with(options.clone()).await.map_err(backend)?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.dangerous_set_table_name("_herald_migrations");
        migrator.run(&pool).await.map_err(backend)?;
        // The saga log's connections, and the commit listener's (made when it starts).
        let sagas = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        let listener = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&pool)
            .await
            .map_err(backend)?;
        let marker = Marker::of(&schema);
        let dialect = Postgres {
            pool,
            begin: marker.begin().into(),
            marker,
            read_all: statements::sql(format!(
                "{}WHERE (tx_order, position) > ($1, $2) AND tx_order < {} \
                 ORDER BY tx_order, position LIMIT $3",
                statements::event_columns::<Postgres>("herald_events", Postgres::EVENT_POSITION),
                horizon!("$4", "$5")
            )),
            listening: Arc::default(),
            listener,
            notices: Arc::new(Notices::new(schema.clone())),
            schema,
        };
        Ok(SqlStore::new(dialect, sagas))
    }
}

/// An archive in PostgreSQL.
pub(crate) async fn archive(options: PgConnectOptions) -> Result<SqlArchive<Postgres>, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(backend)?;
    let mut migrator = sqlx::migrate!("./migrations/archive-postgres");
    migrator.dangerous_set_table_name("_herald_archive_migrations");
    migrator.run(&pool).await.map_err(backend)?;
    Ok(SqlArchive::new(pool))
}

/// The channel commit notices go on (see the module's doc).
const CHANNEL: &str = "herald_commits";

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    type Turn = ();
    const KIND: &'static str = "postgres";
    const SINGLE_WRITER: bool = false;
    // The extended protocol takes one statement a message: a savepoint is a round trip.
    const TAKES_SAVEPOINT_WITH_APPEND: bool = false;
    // Without the writers' marker: it writes nothing, so it holds no reader back.
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    const EVENT_POSITION: &'static str = "tx_order, position";
    const EVENT_ORDER: &'static str = "tx_order, position";
    // Along the index `herald_commands_by_time`.
    const COMMANDS_NEWEST_FIRST: &'static str = "recorded_at DESC, id DESC";

    fn commands_before(id: &str) -> String {
        format!("(recorded_at, id) < (SELECT recorded_at, id FROM herald_commands WHERE id = {id})")
    }
    const NOW_MICROS: &'static str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
    const NOW: &'static str = "clock_timestamp()";

    fn events_after(tx: &str, seq: &str) -> String {
        format!("(tx_order, position) > ({tx}, {seq})")
    }

    fn micros(column: &str) -> String {
        format!("(extract(epoch FROM {column}) * 1000000)::bigint")
    }

    fn time(micros: &str) -> String {
        format!("(timestamptz 'epoch' + {micros} * interval '1 microsecond')")
    }

    fn later(time: &str, micros: &str) -> String {
        format!("({time} + {micros} * interval '1 microsecond')")
    }

    fn json(text: &str) -> String {
        format!("{text}::jsonb")
    }

    fn json_text(column: &str) -> String {
        format!("{column}::text")
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn begin(&self) -> BoxFuture<'_, Result<Begun<Self>, StoreError>> {
        Box::pin(async move {
            let tx = self
                .pool
                .begin_with(AssertSqlSafe(self.begin.clone()))
                .await
                .map_err(backend)?;
            Ok((tx, ()))
        })
    }

    fn turn(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn sql(conn: &mut PgConnection) -> Sql<'_> {
        Sql::Postgres(conn)
    }

    fn append<'a>(
        conn: &'a mut PgConnection,
        savepoint: Option<usize>,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Option<Vec<RecordedEvent>>, StoreError>> {
        // Never given one (`TAKES_SAVEPOINT_WITH_APPEND` is false): with parameters,
        // PostgreSQL runs one statement a round trip.
        debug_assert!(savepoint.is_none(), "{savepoint:?}");
        Box::pin(async move {
            let n = events.len();
            let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
            let versions: Vec<i64> = (expected + 1..).take(n).map(|v| v as i64).collect();
            let routes: Vec<&str> = events.iter().map(|e| e.route.as_str()).collect();
            let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
            let schemas: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
            let payloads: Vec<Json<&serde_json::Value>> =
                events.iter().map(|e| Json(&e.payload)).collect();
            let metadata: Vec<Json<&Metadata>> = events.iter().map(|e| Json(&e.metadata)).collect();
            // One statement: inserts nothing that would leave a gap (the expected version
            // must exist), and skips versions a concurrent writer took (counted below).
            let rows = sqlx::query(
                "WITH previous AS (SELECT tx_order FROM herald_events \
                 WHERE tenant = $2 AND stream_type = $3 AND stream_id = $4 AND version = $11) \
                 INSERT INTO herald_events (tx_order, event_id, tenant, stream_type, stream_id, version, route, \
                 name, schema_version, payload, metadata) \
                 SELECT GREATEST(pg_current_xact_id()::text::bigint, (SELECT MAX(tx_order) FROM previous)), \
                 e.id, $2, $3, $4, e.version, e.route, e.name, e.schema, e.payload, e.metadata \
                 FROM UNNEST($1::uuid[], $5::bigint[], $6::text[], $7::text[], $8::int[], $9::jsonb[], $10::jsonb[]) \
                 AS e(id, version, route, name, schema, payload, metadata) \
                 WHERE $11::bigint = 0 OR EXISTS (SELECT 1 FROM previous) \
                 ON CONFLICT (tenant, stream_type, stream_id, version) DO NOTHING \
                 RETURNING event_id, tx_order, position, (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_us",
            )
            .bind(&ids)
            .bind(stream.tenant())
            .bind(stream.stream_type())
            .bind(stream.stream_id())
            .bind(&versions)
            .bind(&routes)
            .bind(&names)
            .bind(&schemas)
            .bind(&payloads)
            .bind(&metadata)
            .bind(expected as i64)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            if rows.len() < n {
                // Undo what went in: the stream was not at the expected version.
                let inserted: Vec<Uuid> = rows
                    .iter()
                    .map(|r| r.try_get("event_id"))
                    .collect::<Result<_, _>>()
                    .map_err(backend)?;
                sqlx::query("DELETE FROM herald_events WHERE event_id = ANY($1)")
                    .bind(&inserted)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                return Ok(None);
            }
            let mut recorded = Vec::with_capacity(n);
            for (event, version) in events.into_iter().zip(expected + 1..) {
                let row = rows
                    .iter()
                    .find(|r| r.try_get::<Uuid, _>("event_id").ok() == Some(event.event_id))
                    .ok_or_else(|| {
                        StoreError::Backend("an inserted event was not returned".into())
                    })?;
                recorded.push(RecordedEvent {
                    position: position(row)?,
                    event_id: event.event_id,
                    stream: stream.clone(),
                    version,
                    route: event.route,
                    name: event.name,
                    schema_version: event.schema_version,
                    payload: event.payload,
                    metadata: event.metadata,
                    recorded_at: from_micros(row.try_get("recorded_us").map_err(backend)?),
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
            let (tx, seq) = after.parts();
            let rows = sqlx::query::<sqlx::Postgres>(self.read_all.clone())
                .arg(tx as i64)
                .arg(seq as i64)
                .arg(int(limit as u64))
                .arg(self.marker.class)
                .arg(self.marker.object)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            rows.iter().map(rows::event).collect()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(async move {
            // As `read_all` reads: below the horizon.
            let row = sqlx::query::<sqlx::Postgres>(concat!(
                "SELECT tx_order, position FROM herald_events WHERE tx_order < ",
                horizon!("$1", "$2"),
                " ORDER BY tx_order DESC, position DESC LIMIT 1"
            ))
            .arg(self.marker.class)
            .arg(self.marker.object)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            row.as_ref().map_or(Ok(Position::START), position)
        })
    }

    fn announce(&self) {
        self.notices.nudge(&self.pool);
    }

    fn commits(&self, committed: &Arc<watch::Sender<u64>>) -> watch::Receiver<u64> {
        let receiver = committed.subscribe();
        let mut listening = self
            .listening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = listening.as_ref().is_some_and(|task| !task.is_finished());
        if !running && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let task = listen(
                self.listener.clone(),
                self.schema.clone(),
                committed.clone(),
            );
            *listening = Some(handle.spawn(task));
        }
        receiver
    }
}

/// How long a connection may sit idle in the default pool before it is pinged on its way
/// out (see [`SqlStore::connect_with`]).
const PING_WHEN_IDLE: Duration = Duration::from_secs(1);

/// The pool [`SqlStore::connect_with`] makes.
fn default_pool() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(16)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

/// Bumps `committed` whenever a transaction of any process commits events into `schema`,
/// for as long as anyone watches it. A lost connection is made again; what was committed
/// meanwhile is found by the consumers' polling.
async fn listen(pool: sqlx::PgPool, schema: String, committed: Arc<watch::Sender<u64>>) {
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            listener = listener => match listener {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "could not listen for commits; consumers poll meanwhile");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = committed.closed() => return,
        };
        loop {
            tokio::select! {
                heard = listener.try_recv() => match heard {
                    Ok(Some(notice)) if notice.payload() == schema => {
                        committed.send_modify(|n| *n += 1);
                    }
                    Ok(Some(_)) => {} // another schema's
                    // The connection was lost (and is made again by the next receive):
                    // commits may have been missed, so wake the consumers to look.
                    Ok(None) => committed.send_modify(|n| *n += 1),
                    Err(error) => {
                        tracing::warn!(%error, "lost the connection listening for commits");
                        break;
                    }
                },
                () = committed.closed() => return,
            }
        }
    }
}

/// A store's commit notices (see the module's doc): the nudges its commits give the
/// notifier task, which runs while the store does.
#[derive(Debug)]
struct Notices {
    /// Nudged after each commit with events; the notifier holds its only receiver.
    nudged: watch::Sender<()>,
    /// Held while a notifier is started, so that two commits never start two.
    starting: Mutex<()>,
    /// The notices' payload.
    schema: String,
}

/// How long the notifier keeps its connection while no commit comes.
const NOTIFIER_IDLE: Duration = Duration::from_secs(60);

/// The waits between tries of a notice that failed.
fn notice_retry() -> crate::RetryPolicy {
    crate::RetryPolicy::new(u32::MAX)
        .base(Duration::from_millis(50))
        .cap(Duration::from_secs(5))
        .jitter(0.2)
}

impl Notices {
    fn new(schema: String) -> Self {
        Notices {
            nudged: watch::Sender::new(()),
            starting: Mutex::new(()),
            schema,
        }
    }

    /// Tells the notifier that events committed, starting it if none runs (the first
    /// commit, or its Tokio runtime ended). Never waits on the database.
    fn nudge(&self, pool: &PgPool) {
        self.nudged.send_replace(());
        if self.nudged.receiver_count() > 0 {
            return;
        }
        let _starting = self
            .starting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.nudged.receiver_count() > 0 {
            return; // another commit started it meanwhile
        }
        let Ok(tokio) = tokio::runtime::Handle::try_current() else {
            return; // outside a Tokio runtime: the other processes poll
        };
        let mut nudged = self.nudged.subscribe();
        nudged.mark_changed(); // this commit's notice
        let options = pool.connect_options().as_ref().clone();
        tokio.spawn(notify(options, self.schema.clone(), nudged));
    }
}

/// The notifier: sends `NOTIFY herald_commits, '<schema>'` after each nudge, on a
/// connection of its own, until the store is dropped. The nudges that come while a notice
/// is on its way are all answered by the next one.
async fn notify(options: PgConnectOptions, schema: String, mut nudged: watch::Receiver<()>) {
    let mut connection: Option<PgConnection> = None;
    let mut failures = 0;
    loop {
        if failures == 0 {
            match tokio::time::timeout(NOTIFIER_IDLE, nudged.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return, // the store was dropped
                Err(_) => {
                    // Idle: the connection goes back until the next commit.
                    if let Some(idle) = connection.take() {
                        let _ = sqlx::Connection::close(idle).await;
                    }
                    continue;
                }
            }
        } else if nudged.has_changed().is_err() {
            return;
        }
        // This notice answers every nudge until now.
        nudged.mark_unchanged();
        match send_notice(&mut connection, &options, &schema).await {
            Ok(()) => failures = 0,
            Err(error) => {
                failures += 1;
                connection = None;
                let wait = notice_retry().wait(failures.min(16));
                tracing::warn!(%error, ?wait, "could not send a commit notice; trying again (other processes poll meanwhile)");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One commit notice, on `connection` (made if there is none).
async fn send_notice(
    connection: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(<PgConnection as sqlx::Connection>::connect_with(options).await?),
    };
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(schema)
        .execute(connection)
        .await?;
    Ok(())
}
