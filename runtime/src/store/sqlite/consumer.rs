//! Consumers' checkpoints and dead letters in the SQLite file.

use std::time::SystemTime;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use tokio::sync::watch;
use uuid::Uuid;

use super::{SqliteStore, event_from_row, from_micros, micros};
use crate::BoxFuture;
use crate::store::consumer::{
    Checkpoint, ConsumerLog, DeadLetter, Lease, kept_event, letter_event,
};
use crate::store::{Position, RecordedEvent, StoreError, StreamKey, backend};

impl ConsumerLog for SqliteStore {
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        Box::pin(async move {
            let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT consumer, position, updated_at FROM herald_checkpoints ORDER BY consumer",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            Ok(rows
                .into_iter()
                .map(|(consumer, position, updated_at)| Checkpoint {
                    consumer,
                    position: Position::from_parts(0, position as u64),
                    updated_at: from_micros(updated_at),
                })
                .collect())
        })
    }

    fn dead_letters<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            dead_letters(&mut conn, consumer).await
        })
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query(select_events!("WHERE event_id = ?"))
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(event_from_row).transpose()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(async move {
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM herald_events")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
            Ok(Position::from_parts(0, last.unwrap_or(0) as u64))
        })
    }

    fn count_after(&self, position: Position) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM herald_events WHERE position > ?")
                    .bind(position.parts().1 as i64)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
            Ok(count as u64)
        })
    }

    fn lease<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // In turn with this process's other writers, rather than against them in
            // SQLite's busy handler.
            let _turn = self.writer.lock().await;
            // The processes sharing a SQLite file share a machine, and its clock.
            let now = micros(SystemTime::now());
            let until = now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
            let taken = sqlx::query(
                "INSERT INTO herald_consumer_leases (consumer, owner, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (consumer) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE herald_consumer_leases.owner = excluded.owner OR herald_consumer_leases.expires_at < ?4",
            )
            .bind(consumer)
            .bind(owner)
            .bind(until)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(taken.rows_affected() > 0)
        })
    }

    fn leases<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Lease>, StoreError>> {
        Box::pin(async move {
            let rows: Vec<(String, Uuid)> = sqlx::query_as(
                "SELECT consumer, owner FROM herald_consumer_leases \
                 WHERE substr(consumer, 1, length(?1)) = ?1 AND expires_at >= ?2 ORDER BY consumer",
            )
            .bind(prefix)
            .bind(micros(SystemTime::now()))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            Ok(rows
                .into_iter()
                .map(|(consumer, owner)| Lease { consumer, owner })
                .collect())
        })
    }

    fn release<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _turn = self.writer.lock().await;
            sqlx::query("DELETE FROM herald_consumer_leases WHERE consumer = ? AND owner = ?")
                .bind(consumer)
                .bind(owner)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }
}

pub(super) async fn dead_letters(
    conn: &mut SqliteConnection,
    consumer: &str,
) -> Result<Vec<DeadLetter>, StoreError> {
    let rows =
        sqlx::query("SELECT * FROM herald_dead_letters WHERE consumer = ? ORDER BY position")
            .bind(consumer)
            .fetch_all(conn)
            .await
            .map_err(backend)?;
    rows.iter().map(letter_from_row).collect()
}

fn letter_from_row(row: &SqliteRow) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        consumer: row.try_get("consumer").map_err(backend)?,
        event_id: row.try_get("event_id").map_err(backend)?,
        position: Position::from_parts(
            0,
            row.try_get::<i64, _>("position").map_err(backend)? as u64,
        ),
        stream: StreamKey::new(
            row.try_get::<String, _>("tenant").map_err(backend)?,
            row.try_get::<String, _>("stream_type").map_err(backend)?,
            row.try_get::<String, _>("stream_id").map_err(backend)?,
        )?,
        route: row.try_get("route").map_err(backend)?,
        error: row.try_get("error").map_err(backend)?,
        attempts: row.try_get::<i64, _>("attempts").map_err(backend)? as u32,
        behind: row.try_get("behind").map_err(backend)?,
        first_failed_at: from_micros(row.try_get("first_failed_at").map_err(backend)?),
        last_failed_at: from_micros(row.try_get("last_failed_at").map_err(backend)?),
        event: kept_event(row.try_get("event").map_err(backend)?)?,
    })
}

/// The consumer's checkpoint; the transaction holds the write lock, so it is claimed.
pub(super) async fn claim(
    conn: &mut SqliteConnection,
    consumer: &str,
) -> Result<Position, StoreError> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT position FROM herald_checkpoints WHERE consumer = ?")
            .bind(consumer)
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
    Ok(Position::from_parts(0, at.unwrap_or(0) as u64))
}

pub(super) async fn save_checkpoint(
    conn: &mut SqliteConnection,
    consumer: &str,
    position: Position,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO herald_checkpoints (consumer, position, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
    )
    .bind(consumer)
    .bind(position.parts().1 as i64)
    .bind(micros(SystemTime::now()))
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn park(
    conn: &mut SqliteConnection,
    letter: &DeadLetter,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT OR REPLACE INTO herald_dead_letters (consumer, event_id, position, tenant, stream_type, \
         stream_id, route, error, attempts, behind, first_failed_at, last_failed_at, event) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&letter.consumer)
    .bind(letter.event_id)
    .bind(letter.position.parts().1 as i64)
    .bind(letter.stream.tenant())
    .bind(letter.stream.stream_type())
    .bind(letter.stream.stream_id())
    .bind(&letter.route)
    .bind(&letter.error)
    .bind(i64::from(letter.attempts))
    .bind(letter.behind)
    .bind(micros(letter.first_failed_at))
    .bind(micros(letter.last_failed_at))
    .bind(letter_event(letter)?)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn unpark(
    conn: &mut SqliteConnection,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM herald_dead_letters WHERE consumer = ? AND event_id = ?")
        .bind(consumer)
        .bind(event_id)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}
