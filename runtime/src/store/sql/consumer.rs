//! Consumers' checkpoints, dead letters and leases in a SQL store.

use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use uuid::Uuid;

use super::db::{Args, Columns, Db};
use super::dialect::Dialect;
use super::rows::{self, duration_micros, micros, position};
use super::statements::Statements;
use super::store::{Connection, SqlStore};
use crate::BoxFuture;
use crate::model::record::{Position, RecordedEvent};
use crate::store::consumer::{Checkpoint, ConsumerLog, DeadLetter, Lease};
use crate::store::contract::{StoreError, backend};

impl<D: Dialect> ConsumerLog for SqlStore<D> {
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query::<D::Db>(self.statements.checkpoints.clone())
                .fetch_all(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            rows.iter().map(rows::checkpoint).collect()
        })
    }

    fn dead_letters<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            dead_letters::<D>(&mut conn, &self.statements, consumer).await
        })
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query::<D::Db>(self.statements.event_by_id.clone())
                .arg(event_id)
                .fetch_optional(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            row.as_ref().map(rows::event).transpose()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        self.dialect.head()
    }

    fn count_after(&self, after: Position) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let (tx, seq) = after.parts();
            let row = sqlx::query::<D::Db>(self.statements.count_after.clone())
                .arg(tx as i64)
                .arg(seq as i64)
                .fetch_one(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            Ok(row.col::<i64>("count")? as u64)
        })
    }

    fn count_after_at_most(
        &self,
        after: Position,
        limit: u64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let (tx, seq) = after.parts();
            let row = sqlx::query::<D::Db>(self.statements.count_after_at_most.clone())
                .arg(tx as i64)
                .arg(seq as i64)
                .arg(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_one(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            Ok(row.col::<i64>("count")? as u64)
        })
    }

    fn lease<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // In turn with this process's other writers, rather than against them.
            let _turn = self.dialect.turn().await;
            let taken = sqlx::query::<D::Db>(self.statements.lease.clone())
                .arg(consumer)
                .arg(owner)
                .arg(duration_micros(ttl))
                .execute(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            Ok(D::Db::rows_affected(&taken) > 0)
        })
    }

    fn leases<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Lease>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query::<D::Db>(self.statements.leases.clone())
                .arg(prefix)
                .fetch_all(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            rows.iter()
                .map(|row| {
                    Ok(Lease {
                        consumer: row.col("consumer")?,
                        owner: row.col("owner")?,
                    })
                })
                .collect()
        })
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _turn = self.dialect.turn().await;
            sqlx::query::<D::Db>(
                "DELETE FROM herald_consumer_leases WHERE consumer = $1 AND owner = $2",
            )
            .arg(consumer)
            .arg(owner)
            .execute(D::Db::executor(&mut *self.connection().await?))
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.dialect.commits(&self.committed)
    }
}

pub(super) async fn dead_letters<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    consumer: &str,
) -> Result<Vec<DeadLetter>, StoreError> {
    let rows = sqlx::query::<D::Db>(statements.dead_letters.clone())
        .arg(consumer)
        .fetch_all(D::Db::executor(conn))
        .await
        .map_err(backend)?;
    rows.iter().map(rows::letter).collect()
}

/// The consumer's checkpoint, claimed until the transaction ends: its row locked (made
/// if missing), or, where the database has one writer, read by the transaction that
/// holds the write lock.
pub(super) async fn claim<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    consumer: &str,
) -> Result<Position, StoreError> {
    if !D::SINGLE_WRITER {
        sqlx::query::<D::Db>(statements.claim_consumer.clone())
            .arg(consumer)
            .arg(micros(SystemTime::now()))
            .execute(D::Db::executor(&mut *conn))
            .await
            .map_err(backend)?;
    }
    let row = sqlx::query::<D::Db>(statements.read_checkpoint.clone())
        .arg(consumer)
        .fetch_optional(D::Db::executor(conn))
        .await
        .map_err(backend)?;
    row.as_ref().map_or(Ok(Position::START), position)
}

pub(super) async fn save_checkpoint<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    consumer: &str,
    at: Position,
) -> Result<(), StoreError> {
    let (tx, seq) = at.parts();
    sqlx::query::<D::Db>(statements.save_checkpoint.clone())
        .arg(consumer)
        .arg(tx as i64)
        .arg(seq as i64)
        .arg(micros(SystemTime::now()))
        .execute(D::Db::executor(conn))
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn park<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    letter: &DeadLetter,
) -> Result<(), StoreError> {
    let (tx, seq) = letter.position.parts();
    sqlx::query::<D::Db>(statements.park.clone())
        .arg(letter.consumer.as_str())
        .arg(letter.event_id)
        .arg(tx as i64)
        .arg(seq as i64)
        .arg(letter.stream.tenant())
        .arg(letter.stream.stream_type())
        .arg(letter.stream.stream_id())
        .arg(letter.route.as_str())
        .arg(letter.error.as_str())
        .arg(i32::try_from(letter.attempts).unwrap_or(i32::MAX))
        .arg(letter.behind)
        .arg(micros(letter.first_failed_at))
        .arg(micros(letter.last_failed_at))
        .arg(rows::letter_event(letter)?)
        .execute(D::Db::executor(conn))
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn unpark<D: Dialect>(
    conn: &mut Connection<D>,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, StoreError> {
    let done = sqlx::query::<D::Db>(
        "DELETE FROM herald_dead_letters WHERE consumer = $1 AND event_id = $2",
    )
    .arg(consumer)
    .arg(event_id)
    .execute(D::Db::executor(conn))
    .await
    .map_err(backend)?;
    Ok(D::Db::rows_affected(&done) > 0)
}
