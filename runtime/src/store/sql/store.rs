//! [`SqlStore`]: the events, commands, snapshots and consumers of a SQL database, over
//! its dialect.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Database, Transaction};
use tokio::sync::watch;
use uuid::Uuid;

use super::consumer;
use super::db::{self, Args, Db};
use super::dialect::Dialect;
use super::rows::{self, int, micros, position};
use super::saga::SqlSagaLog;
use super::statements::{Statements, finish_commands};
use crate::BoxFuture;
use crate::model::record::{NewEvent, Position, RecordedEvent, ReplayEvent, StreamKey};
use crate::store::consumer::{ConsumerLog, DeadLetter};
use crate::store::contract::{
    AggregateRead, Conflict, EventStore, ListedCommand, RecordedCommand, ReplayFrom, ResultJson,
    Savepoint, Snapshot, Sql, StoreError, StoreTransaction, backend,
};
use crate::store::remote::RemoteConsumerLog;
use crate::store::saga::SagaLog;

pub(super) type Connection<D> = <<D as Dialect>::Db as Database>::Connection;

/// Events in a SQL database: [`SqliteStore`](crate::store::SqliteStore) or
/// [`PostgresStore`](crate::store::PostgresStore).
#[derive(Clone, Debug)]
pub struct SqlStore<D: Dialect> {
    pub(super) dialect: Arc<D>,
    /// The saga log, on connections of its own: a command holding one of the pool's
    /// while its saga runs must never wait for another to log a step.
    sagas: SqlSagaLog<D>,
    pub(super) statements: Arc<Statements>,
    /// Bumped when a transaction with events commits, to wake this process's consumers.
    pub(super) committed: Arc<watch::Sender<u64>>,
}

impl<D: Dialect> SqlStore<D> {
    /// A store on `dialect`'s database, whose tables are there, with its saga log on `sagas`.
    pub(super) fn new(dialect: D, sagas: sqlx::Pool<D::Db>) -> Self {
        SqlStore {
            dialect: Arc::new(dialect),
            sagas: SqlSagaLog::new(sagas),
            statements: Arc::new(Statements::new::<D>()),
            committed: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The connection pool, for your own queries.
    pub fn pool(&self) -> &sqlx::Pool<D::Db> {
        self.dialect.pool()
    }

    pub(super) async fn connection(&self) -> Result<sqlx::pool::PoolConnection<D::Db>, StoreError> {
        self.pool().acquire().await.map_err(backend)
    }
}

/// The rows `statement` reads of `stream` above `after_version` (bound to `$1`…`$4`).
pub(super) async fn stream_rows<D: Dialect>(
    conn: &mut Connection<D>,
    statement: &sqlx::SqlStr,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<<D::Db as Database>::Row>, StoreError> {
    sqlx::query::<D::Db>(statement.clone())
        .arg(stream.tenant())
        .arg(stream.stream_type())
        .arg(stream.stream_id())
        .arg(int(after_version))
        .fetch_all(D::Db::executor(conn))
        .await
        .map_err(backend)
}

async fn stream_events<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = stream_rows::<D>(conn, &statements.stream_events, stream, after_version).await?;
    rows.iter().map(rows::event).collect()
}

async fn stream_version<D: Dialect>(
    conn: &mut Connection<D>,
    stream: &StreamKey,
) -> Result<u64, StoreError> {
    let row = sqlx::query::<D::Db>(
        "SELECT COALESCE(MAX(version), 0) AS version FROM herald_events \
         WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
    )
    .arg(stream.tenant())
    .arg(stream.stream_type())
    .arg(stream.stream_id())
    .fetch_one(D::Db::executor(conn))
    .await
    .map_err(backend)?;
    Ok(db::Columns::col::<i64>(&row, "version")? as u64)
}

/// The columns an aggregate replays, the payload as its JSON text.
async fn replay_events<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    stream: &StreamKey,
    after_version: u64,
) -> Result<Vec<ReplayEvent>, StoreError> {
    let rows = stream_rows::<D>(conn, &statements.replay_events, stream, after_version).await?;
    rows.iter().map(rows::replay_event).collect()
}

/// The record of command `id`, if there is one.
async fn command_of<D: Dialect>(
    conn: &mut Connection<D>,
    id: Uuid,
) -> Result<Option<RecordedCommand>, StoreError> {
    use db::Columns;
    let row =
        sqlx::query::<D::Db>("SELECT payload_hash, result FROM herald_commands WHERE id = $1")
            .arg(id)
            .fetch_optional(D::Db::executor(conn))
            .await
            .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let result = row.col::<Option<sqlx::types::Json<serde_json::Value>>>("result")?;
    Ok(Some(RecordedCommand {
        payload_hash: row.col("payload_hash")?,
        result: result.map_or(serde_json::Value::Null, |sqlx::types::Json(v)| v),
    }))
}

async fn snapshot_of<D: Dialect>(
    conn: &mut Connection<D>,
    stream: &StreamKey,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query::<D::Db>(
        "SELECT version, state_version, state FROM herald_snapshots \
         WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
    )
    .arg(stream.tenant())
    .arg(stream.stream_type())
    .arg(stream.stream_id())
    .fetch_optional(D::Db::executor(conn))
    .await
    .map_err(backend)?;
    row.as_ref().map(rows::snapshot).transpose()
}

/// A pooled connection lent for reads ([`EventStore::reader`]).
struct SqlReader<D: Dialect>(sqlx::pool::PoolConnection<D::Db>);

impl<D: Dialect> crate::store::StoreReader for SqlReader<D> {
    fn sql(&mut self) -> Sql<'_> {
        D::sql(&mut self.0)
    }
}

/// A read-only transaction on a pooled connection ([`EventStore::read_transaction`]).
struct SqlReadTransaction<D: Dialect> {
    tx: Transaction<'static, D::Db>,
    statements: Arc<Statements>,
}

impl<D: Dialect> crate::store::ReadTransaction for SqlReadTransaction<D> {
    fn checkpoints(&mut self) -> BoxFuture<'_, Result<Vec<crate::store::Checkpoint>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query::<D::Db>(self.statements.checkpoints.clone())
                .fetch_all(D::Db::executor(&mut self.tx))
                .await
                .map_err(backend)?;
            rows.iter().map(rows::checkpoint).collect()
        })
    }

    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(consumer::dead_letters::<D>(
            &mut self.tx,
            &self.statements,
            consumer,
        ))
    }

    fn sql(&mut self) -> Sql<'_> {
        D::sql(&mut self.tx)
    }
}

impl<D: Dialect> EventStore for SqlStore<D> {
    fn read_transaction(
        &self,
    ) -> BoxFuture<'_, Result<Box<dyn crate::store::ReadTransaction>, StoreError>> {
        Box::pin(async move {
            let tx = self
                .pool()
                .begin_with(D::BEGIN_READ)
                .await
                .map_err(backend)?;
            Ok(Box::new(SqlReadTransaction::<D> {
                tx,
                statements: self.statements.clone(),
            }) as Box<dyn crate::store::ReadTransaction>)
        })
    }

    fn reader(&self) -> BoxFuture<'_, Result<Box<dyn crate::store::StoreReader>, StoreError>> {
        Box::pin(async move {
            let connection = self.connection().await?;
            Ok(Box::new(SqlReader::<D>(connection)) as Box<dyn crate::store::StoreReader>)
        })
    }

    fn begin(&self) -> BoxFuture<'_, Result<Box<dyn StoreTransaction>, StoreError>> {
        Box::pin(async move {
            let (tx, turn) = self.dialect.begin().await?;
            Ok(Box::new(SqlTransaction::<D> {
                tx,
                statements: self.statements.clone(),
                savepoints: 0,
                appended: false,
                committed: self.committed.clone(),
                dialect: self.dialect.clone(),
                kept: None,
                deferred: None,
                _turn: turn,
            }) as Box<dyn StoreTransaction>)
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            stream_events::<D>(&mut conn, &self.statements, stream, after_version).await
        })
    }

    fn replay<'a>(
        &'a self,
        stream: &'a StreamKey,
        from: ReplayFrom,
    ) -> BoxFuture<'a, Result<AggregateRead, StoreError>> {
        Box::pin(async move {
            // Snapshot and events on one connection.
            let mut conn = self.connection().await?;
            let snapshot = match from {
                ReplayFrom::Snapshot => snapshot_of::<D>(&mut conn, stream).await?,
                ReplayFrom::Version(_) => None,
            };
            let after = from.after(snapshot.as_ref());
            Ok(AggregateRead {
                snapshot,
                events: replay_events::<D>(&mut conn, &self.statements, stream, after).await?,
            })
        })
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        self.dialect.read_all(after, limit)
    }

    fn read_snapshot<'a>(
        &'a self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<Option<Snapshot>, StoreError>> {
        Box::pin(async move { snapshot_of::<D>(&mut *self.connection().await?, stream).await })
    }

    fn kind(&self) -> &'static str {
        D::KIND
    }

    /// A commit waits for the log's flush (SQLite's `synchronous=FULL`, PostgreSQL's
    /// WAL): worth sharing.
    fn groups_commits(&self) -> bool {
        true
    }

    fn read_command(&self, id: Uuid) -> BoxFuture<'_, Result<Option<RecordedCommand>, StoreError>> {
        Box::pin(async move { command_of::<D>(&mut *self.connection().await?, id).await })
    }

    fn recent_commands(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ListedCommand>, StoreError>> {
        Box::pin(async move {
            use db::Columns;
            let limit = int(limit as u64);
            let query = match before {
                None => sqlx::query::<D::Db>(self.statements.recent_commands.clone()).arg(limit),
                Some(id) => sqlx::query::<D::Db>(self.statements.commands_before.clone())
                    .arg(id)
                    .arg(limit),
            };
            let rows = query
                .fetch_all(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            rows.iter()
                .map(|row| {
                    let sqlx::types::Json(result) =
                        row.col::<sqlx::types::Json<serde_json::Value>>("result")?;
                    let recorded = rows::from_micros(row.col::<i64>("recorded_us")?);
                    Ok(ListedCommand::new(row.col("id")?, recorded, result))
                })
                .collect()
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
            let _turn = self.dialect.turn().await;
            let mut conn = self.connection().await?;
            let (after_tx, after_seq) = after.parts();
            let (tx, seq) = up_to.parts();
            let rows = sqlx::query::<D::Db>(self.statements.discard.clone())
                .arg(after_tx as i64)
                .arg(after_seq as i64)
                .arg(tx as i64)
                .arg(seq as i64)
                .arg(int(limit as u64))
                .fetch_all(D::Db::executor(&mut conn))
                .await
                .map_err(backend)?;
            let mut deleted = rows.iter().map(position).collect::<Result<Vec<_>, _>>()?;
            deleted.sort();
            Ok(deleted)
        })
    }

    fn sagas(&self) -> &dyn SagaLog {
        &self.sagas
    }

    fn consumers(&self) -> &dyn ConsumerLog {
        self
    }

    fn remote_consumers(&self) -> &dyn RemoteConsumerLog {
        self
    }
}

/// A transaction of a [`SqlStore`].
struct SqlTransaction<D: Dialect> {
    tx: Transaction<'static, D::Db>,
    statements: Arc<Statements>,
    savepoints: usize,
    /// Whether it appended events: its commit wakes the consumers, this process's at
    /// once and other processes' through the dialect's notice.
    appended: bool,
    committed: Arc<watch::Sender<u64>>,
    dialect: Arc<D>,
    /// Command records kept for the commit, which writes them in one statement (see
    /// [`StoreTransaction::write_commands_at_commit`]); `None`: each is written at once.
    kept: Option<Vec<KeptCommand>>,
    /// A savepoint deferred to the next statement (see
    /// [`StoreTransaction::defer_savepoint`]): its number, not taken yet.
    deferred: Option<usize>,
    /// This process's turn to write, if the dialect takes turns; given up when the
    /// transaction ends (declared after `tx`, so a dropped transaction starts its
    /// rollback first).
    _turn: D::Turn,
}

/// The most kept records one statement writes: 4 parameters each, within SQLite's
/// 32,766 and PostgreSQL's 65,535.
const KEPT_PER_STATEMENT: usize = 1_000;

/// A command's record that the commit writes.
struct KeptCommand {
    /// How many savepoints were open when it was kept: a rollback to one of them (or to
    /// an earlier one) undoes it.
    depth: usize,
    id: Uuid,
    payload_hash: Vec<u8>,
    result: String,
    at_us: i64,
}

impl KeptCommand {
    fn row(&self) -> CommandRow<'_> {
        CommandRow {
            id: self.id,
            payload_hash: &self.payload_hash,
            result: &self.result,
            at_us: self.at_us,
        }
    }
}

/// A command's row in `herald_commands`, as `finish_commands` writes it.
struct CommandRow<'a> {
    id: Uuid,
    payload_hash: &'a [u8],
    result: &'a str,
    at_us: i64,
}

impl<D: Dialect> SqlTransaction<D> {
    /// Writes the records kept for the commit: one statement for all of them (a
    /// statement per [`KEPT_PER_STATEMENT`], so that a transaction of many nested
    /// commands stays within the databases' limits on parameters).
    async fn write_kept(&mut self) -> Result<(), StoreError> {
        let kept = match self.kept.as_mut() {
            Some(kept) if !kept.is_empty() => std::mem::take(kept),
            _ => return Ok(()),
        };
        for chunk in kept.chunks(KEPT_PER_STATEMENT) {
            let rows: Vec<CommandRow<'_>> = chunk.iter().map(KeptCommand::row).collect();
            let statement = finish_commands::<D>(rows.len());
            let (all, written) = (rows.len() as u64, self.write_rows(statement, &rows).await?);
            if written != all {
                return Err(StoreError::Backend(
                    format!(
                        "{} of {all} commands of this transaction were recorded already",
                        all - written.min(all)
                    )
                    .into(),
                ));
            }
        }
        Ok(())
    }

    /// Writes `rows` with `statement` (`finish_commands` for as many), returning how
    /// many it wrote: fewer where a row has a result already, or another payload.
    async fn write_rows(
        &mut self,
        statement: sqlx::SqlStr,
        rows: &[CommandRow<'_>],
    ) -> Result<u64, StoreError> {
        let mut query = sqlx::query::<D::Db>(statement);
        for row in rows {
            query = query
                .arg(row.id)
                .arg(row.payload_hash)
                .arg(row.result)
                .arg(row.at_us);
        }
        let written = query
            .execute(D::Db::executor(&mut self.tx))
            .await
            .map_err(backend)?;
        Ok(D::Db::rows_affected(&written))
    }

    /// Takes the deferred savepoint, if one waits: before any statement but the append
    /// that takes it with its own.
    async fn flush(&mut self) -> Result<(), StoreError> {
        match self.deferred.take() {
            Some(n) => self.savepoint_statement("SAVEPOINT", n).await,
            None => Ok(()),
        }
    }

    async fn savepoint_statement(&mut self, statement: &str, n: usize) -> Result<(), StoreError> {
        sqlx::query::<D::Db>(AssertSqlSafe(format!("{statement} herald_{n}")))
            .execute(D::Db::executor(&mut self.tx))
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl<D: Dialect> StoreTransaction for SqlTransaction<D> {
    fn load_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            stream_events::<D>(&mut self.tx, &self.statements, stream, after_version).await
        })
    }

    fn replay_stream<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<ReplayEvent>, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            replay_events::<D>(&mut self.tx, &self.statements, stream, after_version).await
        })
    }

    fn stream_version<'a>(
        &'a mut self,
        stream: &'a StreamKey,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            stream_version::<D>(&mut self.tx, stream).await
        })
    }

    fn append<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let appended = match events.is_empty() {
                true => {
                    self.flush().await?;
                    let actual = stream_version::<D>(&mut self.tx, stream).await?;
                    (actual == expected).then(Vec::new)
                }
                // The deferred savepoint goes with the first insert, where the dialect
                // can take the two in one round trip.
                false => {
                    let savepoint = match D::TAKES_SAVEPOINT_WITH_APPEND {
                        true => self.deferred.take(),
                        false => {
                            self.flush().await?;
                            None
                        }
                    };
                    D::append(&mut self.tx, savepoint, stream, expected, events).await?
                }
            };
            let Some(recorded) = appended else {
                return Err(Conflict {
                    stream: stream.clone(),
                    expected,
                    actual: stream_version::<D>(&mut self.tx, stream).await?,
                }
                .into());
            };
            self.appended |= !recorded.is_empty();
            Ok(recorded)
        })
    }

    fn record_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
    ) -> BoxFuture<'a, Result<Option<RecordedCommand>, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            // A record kept for the commit is in the table for what follows.
            if self.kept.iter().flatten().any(|kept| kept.id == id) {
                self.write_kept().await?;
            }
            if D::SINGLE_WRITER {
                // No one else can record this id until the transaction ends, so there is
                // nothing to claim, and the row is written once, whole, by
                // `finish_command`.
                return command_of::<D>(&mut self.tx, id).await;
            }
            // A concurrent transaction inserting the same id makes this wait until it
            // ends; if it committed, nothing is inserted and its row is read below.
            let inserted = sqlx::query::<D::Db>(self.statements.claim_command.clone())
                .arg(id)
                .arg(payload_hash)
                .arg(micros(std::time::SystemTime::now()))
                .execute(D::Db::executor(&mut self.tx))
                .await
                .map_err(backend)?;
            if D::Db::rows_affected(&inserted) == 1 {
                return Ok(None);
            }
            let found = command_of::<D>(&mut self.tx, id).await?;
            found.map(Some).ok_or_else(|| {
                StoreError::Backend(format!("command {id} was recorded and is not there").into())
            })
        })
    }

    fn finish_command<'a>(
        &'a mut self,
        id: Uuid,
        payload_hash: &'a [u8],
        result: ResultJson<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let at_us = micros(std::time::SystemTime::now());
            if let Some(kept) = self.kept.as_mut() {
                kept.push(KeptCommand {
                    depth: self.savepoints,
                    id,
                    payload_hash: payload_hash.to_vec(),
                    result: result.as_str().to_owned(),
                    at_us,
                });
                return Ok(());
            }
            self.flush().await?;
            let row = CommandRow {
                id,
                payload_hash,
                result: result.as_str(),
                at_us,
            };
            let statement = self.statements.finish_command.clone();
            match self.write_rows(statement, &[row]).await? {
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
        Box::pin(async move {
            self.flush().await?;
            snapshot_of::<D>(&mut self.tx, stream).await
        })
    }

    fn save_snapshot<'a>(
        &'a mut self,
        stream: &'a StreamKey,
        snapshot: Snapshot,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            sqlx::query::<D::Db>(self.statements.save_snapshot.clone())
                .arg(stream.tenant())
                .arg(stream.stream_type())
                .arg(stream.stream_id())
                .arg(int(snapshot.version))
                .arg(snapshot.state_version as i32)
                .arg(sqlx::types::Json(&snapshot.state))
                .arg(micros(std::time::SystemTime::now()))
                .execute(D::Db::executor(&mut self.tx))
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn claim_consumer<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Position, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            consumer::claim::<D>(&mut self.tx, &self.statements, consumer).await
        })
    }

    fn save_checkpoint<'a>(
        &'a mut self,
        consumer: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            consumer::save_checkpoint::<D>(&mut self.tx, &self.statements, consumer, position).await
        })
    }

    fn park<'a>(&'a mut self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            consumer::park::<D>(&mut self.tx, &self.statements, letter).await
        })
    }

    fn dead_letters<'a>(
        &'a mut self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            consumer::dead_letters::<D>(&mut self.tx, &self.statements, consumer).await
        })
    }

    fn unpark<'a>(
        &'a mut self,
        consumer: &'a str,
        event_id: Uuid,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            consumer::unpark::<D>(&mut self.tx, consumer, event_id).await
        })
    }

    fn sql(&mut self) -> Sql<'_> {
        debug_assert!(
            self.deferred.is_none(),
            "a deferred savepoint is taken before the connection is handed out"
        );
        D::sql(&mut self.tx)
    }

    fn write_commands_at_commit(&mut self) {
        self.kept.get_or_insert_with(Vec::new);
    }

    fn savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        Box::pin(async move {
            self.flush().await?;
            self.savepoints += 1;
            let n = self.savepoints;
            self.savepoint_statement("SAVEPOINT", n).await?;
            Ok(Savepoint(n))
        })
    }

    fn defer_savepoint(&mut self) -> BoxFuture<'_, Result<Savepoint, StoreError>> {
        if !D::TAKES_SAVEPOINT_WITH_APPEND {
            return self.savepoint();
        }
        Box::pin(async move {
            self.flush().await?;
            self.savepoints += 1;
            self.deferred = Some(self.savepoints);
            Ok(Savepoint(self.savepoints))
        })
    }

    fn take_deferred_savepoint(&mut self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.flush())
    }

    fn rollback_to(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let n = savepoint.0;
            // Still deferred: no statement ran since, there is nothing to undo in the
            // database, and it stays deferred (usable). One deferred after it is gone.
            if self.deferred.is_some_and(|deferred| deferred > n) {
                self.deferred = None;
            }
            if self.deferred != Some(n) {
                self.savepoint_statement("ROLLBACK TO SAVEPOINT", n).await?;
            }
            self.savepoints = n;
            if let Some(kept) = self.kept.as_mut() {
                kept.retain(|record| record.depth < n);
            }
            Ok(())
        })
    }

    fn release(&mut self, savepoint: Savepoint) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let n = savepoint.0;
            // A deferred one at or after it is forgotten untaken; `n` itself, when it
            // was taken, is released.
            let untaken = self.deferred == Some(n);
            if self.deferred.is_some_and(|deferred| deferred >= n) {
                self.deferred = None;
            }
            if !untaken {
                self.savepoint_statement("RELEASE SAVEPOINT", n).await?;
            }
            self.savepoints = n - 1;
            for record in self.kept.iter_mut().flatten() {
                record.depth = record.depth.min(n - 1);
            }
            Ok(())
        })
    }

    fn commit(mut self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move {
            // A savepoint still deferred was never needed.
            self.deferred = None;
            // Nothing commits unless every kept record is written.
            self.write_kept().await?;
            // The turn is given up only once the commit is done.
            let SqlTransaction {
                tx,
                _turn,
                appended,
                committed: signal,
                dialect,
                ..
            } = *self;
            let committed = tx.commit().await.map_err(backend);
            drop(_turn);
            if appended && committed.is_ok() {
                signal.send_modify(|n| *n += 1);
                // Returns at once: the notice goes out from a task of its own.
                dialect.announce();
            }
            committed
        })
    }

    fn rollback(self: Box<Self>) -> BoxFuture<'static, Result<(), StoreError>> {
        let SqlTransaction { tx, _turn, .. } = *self;
        Box::pin(async move {
            let rolled_back = tx.rollback().await.map_err(backend);
            drop(_turn);
            rolled_back
        })
    }
}
