//! Rows read back into the store's records, the same on every SQL database: the
//! statements name their columns so (`recorded_us`, `tx_order`, …).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::db::Columns;
use crate::model::record::{Metadata, Position, RecordedEvent, ReplayEvent, StreamKey};
use crate::route::Route;
use crate::store::consumer::{Checkpoint, DeadLetter};
use crate::store::contract::{Snapshot, StoreError, backend};
use crate::store::saga::SagaStep;

/// Microseconds since the Unix epoch, as the SQL stores keep times.
pub(super) fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, duration_micros)
}

pub(super) fn from_micros(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// A duration in microseconds, as SQL keeps it.
pub(super) fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A count or version as SQL keeps it.
pub(super) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The columns `tx_order, position`.
pub(super) fn position(row: &impl Columns) -> Result<Position, StoreError> {
    let tx: i64 = row.col("tx_order")?;
    let seq: i64 = row.col("position")?;
    Ok(Position::from_parts(tx as u64, seq as u64))
}

fn stream(row: &impl Columns) -> Result<StreamKey, StoreError> {
    Ok(StreamKey::new(
        row.col::<String>("tenant")?,
        row.col::<String>("stream_type")?,
        row.col::<String>("stream_id")?,
    )?)
}

pub(super) fn event(row: &impl Columns) -> Result<RecordedEvent, StoreError> {
    let Json(payload) = row.col::<Json<Value>>("payload")?;
    let Json(metadata) = row.col::<Json<Metadata>>("metadata")?;
    Ok(RecordedEvent {
        position: position(row)?,
        event_id: row.col("event_id")?,
        stream: stream(row)?,
        version: row.col::<i64>("version")? as u64,
        route: Route::try_from(row.col::<String>("route")?).map_err(backend)?,
        name: row.col("name")?,
        schema_version: row.col::<i32>("schema_version")? as u32,
        payload,
        metadata,
        recorded_at: from_micros(row.col("recorded_us")?),
    })
}

pub(super) fn replay_event(row: &impl Columns) -> Result<ReplayEvent, StoreError> {
    Ok(ReplayEvent {
        version: row.col::<i64>("version")? as u64,
        name: row.col("name")?,
        schema_version: row.col::<i32>("schema_version")? as u32,
        payload: row.col("payload")?,
    })
}

pub(super) fn snapshot(row: &impl Columns) -> Result<Snapshot, StoreError> {
    let Json(state) = row.col::<Json<Value>>("state")?;
    Ok(Snapshot {
        version: row.col::<i64>("version")? as u64,
        state_version: row.col::<i32>("state_version")? as u32,
        state,
    })
}

pub(super) fn checkpoint(row: &impl Columns) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        consumer: row.col("consumer")?,
        position: position(row)?,
        updated_at: from_micros(row.col("updated_us")?),
    })
}

pub(super) fn letter(row: &impl Columns) -> Result<DeadLetter, StoreError> {
    let event = row.col::<Option<Json<Value>>>("event")?;
    Ok(DeadLetter {
        consumer: row.col("consumer")?,
        event_id: row.col("event_id")?,
        position: position(row)?,
        stream: stream(row)?,
        route: row.col("route")?,
        error: row.col("error")?,
        attempts: row.col::<i32>("attempts")? as u32,
        behind: row.col::<Option<Uuid>>("behind")?,
        first_failed_at: from_micros(row.col("first_us")?),
        last_failed_at: from_micros(row.col("last_us")?),
        event: event
            .map(|Json(event)| serde_json::from_value(event).map(Box::new))
            .transpose()
            .map_err(backend)?,
    })
}

/// A letter's event as the SQL stores keep it: JSON.
pub(super) fn letter_event(letter: &DeadLetter) -> Result<Option<Json<Value>>, StoreError> {
    letter
        .event
        .as_ref()
        .map(|event| serde_json::to_value(event).map(Json))
        .transpose()
        .map_err(backend)
}

pub(super) fn saga_step(row: &impl Columns) -> Result<SagaStep, StoreError> {
    let Json(payload) = row.col::<Json<Value>>("payload")?;
    let Json(actor) = row.col::<Json<Value>>("actor")?;
    let output = row.col::<Option<Json<Value>>>("output")?;
    Ok(SagaStep {
        saga_id: row.col("saga_id")?,
        command_id: row.col("command_id")?,
        step: u32::try_from(row.col::<i64>("step")?).unwrap_or(u32::MAX),
        name: row.col("name")?,
        payload,
        route: row.col("route")?,
        actor,
        output: output.map(|Json(v)| v),
    })
}
