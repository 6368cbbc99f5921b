//! Consumers' checkpoints and dead letters in PostgreSQL, and the commits of every
//! process heard through `LISTEN`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, Row};
use tokio::sync::watch;
use uuid::Uuid;

use super::{PostgresStore, event_from_row, from_micros, position};
use crate::BoxFuture;
use crate::store::consumer::{
    Checkpoint, ConsumerLog, DeadLetter, Lease, kept_event, letter_event,
};
use crate::store::{Position, RecordedEvent, StoreError, StreamKey, backend};

/// The channel the commit trigger notifies (see migration 0003).
const CHANNEL: &str = "herald_commits";

impl ConsumerLog for PostgresStore {
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT consumer, tx_order, position, \
                 (extract(epoch FROM updated_at) * 1000000)::bigint AS updated_us \
                 FROM herald_checkpoints ORDER BY consumer",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
            rows.iter()
                .map(|row| {
                    Ok(Checkpoint {
                        consumer: row.try_get("consumer").map_err(backend)?,
                        position: position(row)?,
                        updated_at: from_micros(row.try_get("updated_us").map_err(backend)?),
                    })
                })
                .collect()
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
            let row = sqlx::query(select_events!("WHERE event_id = $1"))
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
            row.as_ref().map(event_from_row).transpose()
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(async move {
            // As `read_all` reads: below the horizon.
            let row = sqlx::query(concat!(
                "SELECT tx_order, position FROM herald_events WHERE tx_order < ",
                horizon!("$1", "$2"),
                " ORDER BY tx_order DESC, position DESC LIMIT 1"
            ))
            .bind(self.marker.class)
            .bind(self.marker.object)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            row.as_ref().map_or(Ok(Position::START), position)
        })
    }

    fn count_after(&self, after: Position) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let (tx, seq) = after.parts();
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM herald_events WHERE (tx_order, position) > ($1, $2)",
            )
            .bind(tx as i64)
            .bind(seq as i64)
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
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // The database's clock: the processes may be on machines whose clocks differ.
            let taken = sqlx::query(
                "INSERT INTO herald_consumer_leases (consumer, owner, expires_at) \
                 VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond') \
                 ON CONFLICT (consumer) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE herald_consumer_leases.owner = excluded.owner \
                 OR herald_consumer_leases.expires_at < clock_timestamp()",
            )
            .bind(consumer)
            .bind(owner)
            .bind(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX) as f64)
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
                 WHERE starts_with(consumer, $1) AND expires_at >= clock_timestamp() ORDER BY consumer",
            )
            .bind(prefix)
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
            sqlx::query("DELETE FROM herald_consumer_leases WHERE consumer = $1 AND owner = $2")
                .bind(consumer)
                .bind(owner)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn commits(&self) -> watch::Receiver<u64> {
        let receiver = self.committed.subscribe();
        let mut listening = self
            .listening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = listening.as_ref().is_some_and(|task| !task.is_finished());
        if !running && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let task = listen(
                self.pool.clone(),
                self.schema.clone(),
                self.committed.clone(),
            );
            *listening = Some(handle.spawn(task));
        }
        receiver
    }
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

pub(super) async fn dead_letters(
    conn: &mut PgConnection,
    consumer: &str,
) -> Result<Vec<DeadLetter>, StoreError> {
    let rows = sqlx::query(
        "SELECT consumer, event_id, tx_order, position, tenant, stream_type, stream_id, route, \
         error, attempts, behind, event::text AS event, \
         (extract(epoch FROM first_failed_at) * 1000000)::bigint AS first_us, \
         (extract(epoch FROM last_failed_at) * 1000000)::bigint AS last_us \
         FROM herald_dead_letters WHERE consumer = $1 ORDER BY tx_order, position",
    )
    .bind(consumer)
    .fetch_all(conn)
    .await
    .map_err(backend)?;
    rows.iter().map(letter_from_row).collect()
}

fn letter_from_row(row: &PgRow) -> Result<DeadLetter, StoreError> {
    Ok(DeadLetter {
        consumer: row.try_get("consumer").map_err(backend)?,
        event_id: row.try_get("event_id").map_err(backend)?,
        position: position(row)?,
        stream: StreamKey::new(
            row.try_get::<String, _>("tenant").map_err(backend)?,
            row.try_get::<String, _>("stream_type").map_err(backend)?,
            row.try_get::<String, _>("stream_id").map_err(backend)?,
        )?,
        route: row.try_get("route").map_err(backend)?,
        error: row.try_get("error").map_err(backend)?,
        attempts: row.try_get::<i32, _>("attempts").map_err(backend)? as u32,
        behind: row.try_get("behind").map_err(backend)?,
        first_failed_at: from_micros(row.try_get("first_us").map_err(backend)?),
        last_failed_at: from_micros(row.try_get("last_us").map_err(backend)?),
        event: kept_event(row.try_get("event").map_err(backend)?)?,
    })
}

/// Locks the consumer's checkpoint row (made if missing) until the transaction ends.
pub(super) async fn claim(conn: &mut PgConnection, consumer: &str) -> Result<Position, StoreError> {
    sqlx::query(
        "INSERT INTO herald_checkpoints (consumer, tx_order, position) VALUES ($1, 0, 0) \
         ON CONFLICT (consumer) DO NOTHING",
    )
    .bind(consumer)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    let row = sqlx::query(
        "SELECT tx_order, position FROM herald_checkpoints WHERE consumer = $1 FOR UPDATE",
    )
    .bind(consumer)
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    position(&row)
}

pub(super) async fn save_checkpoint(
    conn: &mut PgConnection,
    consumer: &str,
    at: Position,
) -> Result<(), StoreError> {
    let (tx, seq) = at.parts();
    sqlx::query(
        "INSERT INTO herald_checkpoints (consumer, tx_order, position) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer) DO UPDATE SET tx_order = $2, position = $3, updated_at = clock_timestamp()",
    )
    .bind(consumer)
    .bind(tx as i64)
    .bind(seq as i64)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn park(conn: &mut PgConnection, letter: &DeadLetter) -> Result<(), StoreError> {
    let (tx, seq) = letter.position.parts();
    let micros = |time: SystemTime| {
        time.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    };
    sqlx::query(
        "INSERT INTO herald_dead_letters (consumer, event_id, tx_order, position, tenant, stream_type, \
         stream_id, route, error, attempts, behind, first_failed_at, last_failed_at, event) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12 / 1e6), to_timestamp($13 / 1e6), $14::jsonb) \
         ON CONFLICT (consumer, event_id) DO UPDATE SET error = excluded.error, attempts = excluded.attempts, \
         behind = excluded.behind, last_failed_at = excluded.last_failed_at, \
         event = COALESCE(excluded.event, herald_dead_letters.event)",
    )
    .bind(&letter.consumer)
    .bind(letter.event_id)
    .bind(tx as i64)
    .bind(seq as i64)
    .bind(letter.stream.tenant())
    .bind(letter.stream.stream_type())
    .bind(letter.stream.stream_id())
    .bind(&letter.route)
    .bind(&letter.error)
    .bind(letter.attempts as i32)
    .bind(letter.behind)
    .bind(micros(letter.first_failed_at) as f64)
    .bind(micros(letter.last_failed_at) as f64)
    .bind(letter_event(letter)?)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn unpark(
    conn: &mut PgConnection,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM herald_dead_letters WHERE consumer = $1 AND event_id = $2")
        .bind(consumer)
        .bind(event_id)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected() > 0)
}
