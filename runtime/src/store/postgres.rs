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
//! Appends do not lock the stream: the unique `(tenant, stream_type, stream_id, version)`
//! key detects a concurrent writer (the second insert waits for the first transaction,
//! then finds the version taken), so a command costs no extra round trip to read the
//! stream's version.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use super::backend;
use super::{
    AggregateRead, Conflict, DeadLetter, EventStore, Metadata, NewEvent, Position, RecordedCommand,
    RecordedEvent, ReplayEvent, ReplayFrom, Savepoint, Snapshot, Sql, StoreError, StoreTransaction,
    StreamKey,
};
use crate::BoxFuture;
use crate::route::Route;

/// Events in PostgreSQL.
///
/// ```no_run
/// use herald::store::PostgresStore;
/// # async fn open() -> Result<(), herald::store::StoreError> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// The saga log, on a pool of its own, outside the commands' transactions.
    sagas: PgSagaLog,
    /// The schema Herald's tables are in: commit notices name it.
    schema: String,
    /// `BEGIN` and the marker that holds this store's readers back while the
    /// transaction runs (see the module's doc).
    begin: Arc<str>,
    /// The marker's advisory lock key.
    marker: Marker,
    /// Bumped when events commit, in this process or (heard through `LISTEN`) another.
    committed: Arc<watch::Sender<u64>>,
    /// The task listening for other processes' commits, while anyone watches.
    listening: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

super::saga::sql_saga_log!(
    PgSagaLog,
    PgPool,
    sqlx::postgres::PgRow,
    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
);

impl PostgresStore {
    /// Connects to a `postgres://` URL and creates or upgrades Herald's tables.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(backend)?).await
    }

    /// Connects with your own options (a `search_path`, say) and creates or upgrades
    /// Herald's tables.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.dangerous_set_table_name("_herald_migrations");
        migrator.run(&pool).await.map_err(backend)?;
        // The saga log has connections of its own: a command holding one of the pool's
        // while its saga runs must never wait for another to log a step.
        let sagas = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(backend)?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&pool)
            .await
            .map_err(backend)?;
        let marker = Marker::of(&schema);
        Ok(PostgresStore {
            sagas: PgSagaLog { pool: sagas },
            pool,
            begin: marker.begin().into(),
            marker,
            schema,
            committed: Arc::new(watch::Sender::new(0)),
            listening: Arc::default(),
        })
    }

    /// The connection pool, for your own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

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

macro_rules! select_events {
    ($($rest:expr),+) => {
        concat!(
            "SELECT tx_order, position, event_id, tenant, stream_type, stream_id, version, route, name, \
             schema_version, payload, metadata, (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_us \
             FROM herald_events ",
            $($rest),+
        )
    };
}

// After `select_events!`, which it uses.
mod consumer;

fn from_micros(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

fn position(row: &PgRow) -> Result<Position, StoreError> {
    let tx: i64 = row.try_get("tx_order").map_err(backend)?;
    let seq: i64 = row.try_get("position").map_err(backend)?;
    Ok(Position::from_parts(tx as u64, seq as u64))
}

pub(super) fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let route: String = row.try_get("route").map_err(backend)?;
    let stream = StreamKey::new(
        row.try_get::<String, _>("tenant").map_err(backend)?,
        row.try_get::<String, _>("stream_type").map_err(backend)?,
        row.try_get::<String, _>("stream_id").map_err(backend)?,
    )?;
    let Json(payload): Json<serde_json::Value> = row.try_get("payload").map_err(backend)?;
    let Json(metadata): Json<Metadata> = row.try_get("metadata").map_err(backend)?;
    Ok(RecordedEvent {
        position: position(row)?,
        event_id: row.try_get("event_id").map_err(backend)?,
        stream,
        version: row.try_get::<i64, _>("version").map_err(backend)? as u64,
        route: Route::try_from(route).map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        schema_version: row.try_get::<i32, _>("schema_version").map_err(backend)? as u32,
        payload,
        metadata,
        recorded_at: from_micros(row.try_get("recorded_us").map_err(backend)?),
    })
}

async fn stream_events(
    conn: &mut sqlx::PgConnection,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(select_events!(
        "WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 ORDER BY version"
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
    conn: &mut sqlx::PgConnection,
    stream: &StreamKey,
) -> Result<u64, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) FROM herald_events WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
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
    conn: &mut sqlx::PgConnection,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<ReplayEvent>, StoreError> {
    // Decoded row by row, by column index: this is the hot path of loading.
    let rows: Vec<(i64, String, i32, String)> = sqlx::query_as(
        "SELECT version, name, schema_version, payload::text AS payload FROM herald_events \
         WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 ORDER BY version",
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
    conn: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<Option<RecordedCommand>, StoreError> {
    let row = sqlx::query("SELECT payload_hash, result FROM herald_commands WHERE id = $1")
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
    conn: &mut sqlx::PgConnection,
    stream: &StreamKey,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT version, state_version, state FROM herald_snapshots \
         WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
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
        state_version: row.try_get::<i32, _>("state_version").map_err(backend)? as u32,
        state,
    }))
}

impl EventStore for PostgresStore {
    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        Box::pin(async move {
            let tx = self
                .pool
                .begin_with(AssertSqlSafe(self.begin.clone()))
                .await
                .map_err(backend)?;
            Ok(Box::new(PostgresTransaction {
                tx,
                savepoints: 0,
                appended: false,
                committed: self.committed.clone(),
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
            let (tx, seq) = after.parts();
            let rows = sqlx::query(select_events!(
                "WHERE (tx_order, position) > ($1, $2) AND tx_order < ",
                horizon!("$4", "$5"),
                " ORDER BY tx_order, position LIMIT $3"
            ))
            .bind(tx as i64)
            .bind(seq as i64)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(self.marker.class)
            .bind(self.marker.object)
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
        "postgres"
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
            let (tx, seq) = up_to.parts();
            let (after_tx, after_seq) = after.parts();
            // From `after` on: the events kept before it are not looked at again.
            let deleted: Vec<(i64, i64)> = sqlx::query_as(
                "DELETE FROM herald_events WHERE position IN (\
                 SELECT e.position FROM herald_events e WHERE (e.tx_order, e.position) <= ($1, $2) \
                 AND (e.tx_order, e.position) > ($4, $5) \
                 AND e.version < (SELECT MAX(version) FROM herald_events s \
                 WHERE s.tenant = e.tenant AND s.stream_type = e.stream_type AND s.stream_id = e.stream_id) \
                 AND NOT EXISTS (SELECT 1 FROM herald_dead_letters d WHERE d.event_id = e.event_id) \
                 ORDER BY e.tx_order, e.position LIMIT $3) RETURNING tx_order, position",
            )
            .bind(tx as i64)
            .bind(seq as i64)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(after_tx as i64)
            .bind(after_seq as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            let mut deleted: Vec<Position> = deleted
                .into_iter()
                .map(|(tx, seq)| Position::from_parts(tx as u64, seq as u64))
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

/// A PostgreSQL transaction (read committed).
struct PostgresTransaction {
    tx: Transaction<'static, Postgres>,
    savepoints: usize,
    /// Whether it appended events: its commit wakes this process's consumers at once
    /// (other processes hear of it through `NOTIFY`).
    appended: bool,
    committed: Arc<watch::Sender<u64>>,
}

impl StoreTransaction for PostgresTransaction {
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
            .fetch_all(&mut *self.tx)
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
                    .execute(&mut *self.tx)
                    .await
                    .map_err(backend)?;
                let actual = stream_version(&mut self.tx, stream).await?;
                return Err(Conflict {
                    stream: stream.clone(),
                    expected,
                    actual,
                }
                .into());
            }
            self.appended = true;
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
            Ok(recorded)
        })
    }

    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>> {
        Box::pin(async move {
            // A concurrent transaction inserting the same id makes this wait until it
            // ends; if it committed, nothing is inserted and its row is read below.
            let inserted = sqlx::query(
                "INSERT INTO herald_commands (id, payload_hash) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(payload_hash)
            .execute(&mut *self.tx)
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(None);
            }
            let found = command_of(&mut self.tx, id).await?;
            found.map(Some).ok_or_else(|| {
                StoreError::Backend(format!("command {id} was recorded and is not there").into())
            })
        })
    }

    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // The claimed row, or a new one for an id no one else can know.
            let written = sqlx::query(
                "INSERT INTO herald_commands (id, payload_hash, result) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET result = excluded.result \
                 WHERE herald_commands.result IS NULL AND herald_commands.payload_hash = excluded.payload_hash",
            )
            .bind(id)
            .bind(payload_hash)
            .bind(Json(result))
            .execute(&mut *self.tx)
            .await
            .map_err(backend)?;
            match written.rows_affected() {
                1 => Ok(()),
                _ => Err(StoreError::Backend(
                    format!("command {id} is recorded already").into(),
                )),
            }
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
                "INSERT INTO herald_snapshots (tenant, stream_type, stream_id, version, state_version, state) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant, stream_type, stream_id) DO UPDATE SET version = excluded.version, \
                 state_version = excluded.state_version, state = excluded.state, taken_at = excluded.taken_at \
                 WHERE excluded.version > herald_snapshots.version",
            )
            .bind(stream.tenant())
            .bind(stream.stream_type())
            .bind(stream.stream_id())
            .bind(snapshot.version as i64)
            .bind(snapshot.state_version as i32)
            .bind(Json(&snapshot.state))
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
        Sql::Postgres(&mut self.tx)
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
        Box::pin(async move {
            let committed = self.tx.commit().await.map_err(backend);
            if self.appended && committed.is_ok() {
                self.committed.send_modify(|n| *n += 1);
            }
            committed
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move { self.tx.rollback().await.map_err(backend) })
    }
}
