//! Events written and read straight through a store, below the loop: a stream key, a
//! numbered event, and the global order once it has settled.

use std::time::Duration;

use herald::Uuid;
use herald::route::Route;
use herald::store::{EventStore, Metadata, NewEvent, Position, RecordedEvent, StreamKey};

/// A stream of tenant `t1`, type `thing`.
pub fn stream(id: &str) -> StreamKey {
    StreamKey::new("t1", "thing", id).expect("a valid key")
}

/// An event numbered `n` for `stream`.
pub fn event(stream: &StreamKey, n: u64) -> NewEvent {
    let event_id = Uuid::now_v7();
    let command_id = Uuid::now_v7();
    NewEvent {
        event_id,
        route: Route::parse(&format!("thing.{}.happened", stream.stream_id()))
            .expect("a valid route"),
        name: "Happened".to_owned(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
        metadata: Metadata {
            event_id,
            command_id,
            correlation_id: command_id,
            causation_id: command_id,
            actor: "tester".to_owned(),
            tenant: stream.tenant().to_owned(),
            roles: Vec::new(),
            traceparent: None,
        },
    }
}

/// The global order once it has settled: on PostgreSQL a reader waits for every older
/// transaction of the store to end, so events appear shortly after their commit, never
/// out of order.
pub async fn read_all_settled(
    store: &dyn EventStore,
    after: Position,
    expected: usize,
) -> Vec<RecordedEvent> {
    read_settled(store, after, 10_000, expected).await
}

/// One batch of at most `limit` events of the global order, once `expected` of them are
/// readable: on PostgreSQL a transaction ending at the moment of a read, in any schema,
/// can hold one read back (fewer events, never a skipped one).
pub async fn read_settled(
    store: &dyn EventStore,
    after: Position,
    limit: usize,
    expected: usize,
) -> Vec<RecordedEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events = store.read_all(after, limit).await.unwrap();
        if events.len() >= expected || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
