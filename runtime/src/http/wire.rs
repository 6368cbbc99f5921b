//! How Herald's values look on the wire: positions as opaque versioned strings, events
//! and commands as JSON objects, times in RFC 3339.

use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::base::json_text::JsonText;
use crate::engine::dispatch::Dispatched;
use crate::http::problem::Problem;
use crate::model::record::Metadata;
use crate::store::{Position, RecordedEvent, StreamKey};

/// A position as the API writes it: `v1.<tx>.<seq>`. Opaque to clients: they hand it
/// back as they got it.
pub(crate) fn position(position: Position) -> String {
    position.to_wire()
}

/// A position the API wrote; anything else is a 400 naming the parameter.
pub(crate) fn parse_position(text: &str, parameter: &str) -> Result<Position, Problem> {
    Position::from_wire(text).ok_or_else(|| {
        Problem::bad_request(
            "invalid_position",
            format!(
                "`{parameter}` is not a position this API wrote (they look like `v1.0.42`): `{}`",
                text.escape_debug()
            ),
        )
        .with("parameter", parameter)
    })
}

// What follows writes JSON text by hand (see `base::json_text`), as `serde_json` writes
// the same document built as a `Value`: each object's keys in order, as its maps keep
// them. The tests compare the two byte for byte.

/// `stream` as [`StreamKey::to_wire_json`] writes it.
fn write_stream(text: &mut JsonText, stream: &StreamKey) {
    text.open_object()
        .key("id")
        .string(stream.stream_id())
        .key("tenant")
        .string(stream.tenant())
        .key("type")
        .string(stream.stream_type())
        .close_object();
}

fn write_metadata(text: &mut JsonText, metadata: &Metadata) {
    text.open_object()
        .key("actor")
        .string(&metadata.actor)
        .key("causation_id")
        .uuid(metadata.causation_id)
        .key("command_id")
        .uuid(metadata.command_id)
        .key("correlation_id")
        .uuid(metadata.correlation_id)
        .key("event_id")
        .uuid(metadata.event_id);
    if !metadata.roles.is_empty() {
        text.key("roles").open_array();
        for role in &metadata.roles {
            text.string(role);
        }
        text.close_array();
    }
    text.key("tenant").string(&metadata.tenant);
    if let Some(traceparent) = &metadata.traceparent {
        text.key("traceparent").string(traceparent);
    }
    text.close_object();
}

/// An event as the API writes it: position, id, stream, version, route, name, schema
/// version, payload, metadata and when it was recorded.
pub(crate) fn write_event(text: &mut JsonText, event: &RecordedEvent) {
    text.open_object()
        .key("event_id")
        .uuid(event.event_id)
        .key("metadata");
    write_metadata(text, &event.metadata);
    text.key("name")
        .string(&event.name)
        .key("payload")
        .serialized(&event.payload)
        .key("position")
        .string(&position(event.position))
        .key("recorded_at")
        .string(&rfc3339(event.recorded_at))
        .key("route")
        .string(event.route.as_str())
        .key("schema_version")
        .u64(event.schema_version.into())
        .key("stream");
    write_stream(text, &event.stream);
    text.key("version").u64(event.version).close_object();
}

/// `events` as a JSON array.
fn write_events<'a>(text: &mut JsonText, events: impl IntoIterator<Item = &'a RecordedEvent>) {
    text.open_array();
    for event in events {
        write_event(text, event);
    }
    text.close_array();
}

/// A page of the global order: `{"events":[…],"next":"v1.…"}`.
pub(crate) fn events_page(events: &[RecordedEvent], next: Position) -> String {
    let mut text = JsonText::with_capacity(256 + events.len() * 512);
    text.open_object().key("events");
    write_events(&mut text, events);
    text.key("next").string(&position(next)).close_object();
    text.into_string()
}

/// A page of one stream: `{"events":[…],"more":…,"stream":{…}}`.
pub(crate) fn stream_page(stream: &StreamKey, events: &[RecordedEvent], more: bool) -> String {
    let mut text = JsonText::with_capacity(256 + events.len() * 512);
    text.open_object().key("events");
    write_events(&mut text, events);
    text.key("more").bool(more).key("stream");
    write_stream(&mut text, stream);
    text.close_object();
    text.into_string()
}

/// What an answer with a dispatched command says besides the command.
#[derive(Default)]
pub(crate) struct Told<'a> {
    /// Its trace (for actors with the trace role).
    pub(crate) trace: bool,
    /// Whether it repeats an earlier dispatch (`None`: not said).
    pub(crate) repeat: Option<bool>,
    /// The wait for read models that timed out: the command committed all the same.
    pub(crate) missed: Option<&'a Value>,
}

/// A dispatched command: ids, route, stream, version, every event it committed (its
/// own, then its processors' and dispatchers'), and what `told` adds.
pub(crate) fn dispatched(dispatched: &Dispatched, told: Told<'_>) -> String {
    let mut text = JsonText::with_capacity(1024);
    text.open_object()
        .key("command_id")
        .uuid(dispatched.command_id());
    if told.missed.is_some() {
        text.key("committed").bool(true);
    }
    text.key("correlation_id")
        .uuid(dispatched.correlation_id())
        .key("events");
    write_events(
        &mut text,
        dispatched.events().iter().chain(dispatched.caused()),
    );
    if let Some(repeat) = told.repeat {
        text.key("repeat").bool(repeat);
    }
    text.key("route")
        .string(dispatched.route().as_str())
        .key("stream");
    write_stream(&mut text, dispatched.stream());
    if told.trace {
        // As a `Value`, whose maps order the keys as the rest.
        let trace = serde_json::to_value(dispatched.trace()).unwrap_or(Value::Null);
        text.key("trace").serialized(&trace);
    }
    text.key("version").u64(dispatched.version());
    if let Some(missed) = told.missed {
        text.key("wait").serialized(missed);
    }
    text.close_object();
    text.into_string()
}

/// A JSON answer written as text.
pub(crate) fn json_response(status: StatusCode, text: String) -> Response {
    let json = HeaderValue::from_static("application/json");
    (status, [(header::CONTENT_TYPE, json)], text).into_response()
}

/// `time` in RFC 3339, UTC, to the microsecond.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    crate::base::time::rfc3339(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    fn recorded(payload: Value, roles: Vec<String>, traceparent: Option<String>) -> RecordedEvent {
        let id = uuid::Uuid::now_v7();
        RecordedEvent {
            position: Position::from_parts(3, 9),
            event_id: id,
            stream: StreamKey::new("tenant \"t\"", "user", "ada\n✓").unwrap(),
            version: 7,
            route: crate::route::Route::parse("user.ada.created").unwrap(),
            name: "UserCreated".into(),
            schema_version: 2,
            payload,
            metadata: crate::model::record::Metadata {
                event_id: id,
                command_id: uuid::Uuid::now_v7(),
                correlation_id: uuid::Uuid::now_v7(),
                causation_id: uuid::Uuid::nil(),
                actor: "ada".into(),
                tenant: "tenant \"t\"".into(),
                roles,
                traceparent,
            },
            recorded_at: UNIX_EPOCH + Duration::from_micros(1_796_256_000_123_456),
        }
    }

    #[test]
    fn events_are_written_as_their_json_values() {
        let events = [
            recorded(
                json!({"name": "Ada \"L\"", "n": [1, 2.5, null], "é": {}}),
                vec![],
                None,
            ),
            recorded(
                json!("just a string"),
                vec!["admin".into(), "ops".into()],
                Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            ),
        ];
        for event in &events {
            let mut text = JsonText::with_capacity(0);
            write_event(&mut text, event);
            assert_eq!(text.into_string(), event.to_wire_json().to_string());
        }
        let next = Position::from_parts(4, 0);
        let expected = json!({"events": [events[0].to_wire_json(), events[1].to_wire_json()], "next": "v1.4.0"});
        assert_eq!(events_page(&events, next), expected.to_string());
        let expected = json!({"stream": events[0].stream.to_wire_json(), "events": [events[0].to_wire_json()], "more": true});
        assert_eq!(
            stream_page(&events[0].stream, &events[..1], true),
            expected.to_string()
        );
    }

    #[test]
    fn positions_read_back_as_written_and_nothing_else_reads() {
        let at = Position::from_parts(17, 42);
        assert_eq!(parse_position(&position(at), "after").unwrap(), at);
        for bad in [
            "",
            "v1.",
            "v1.1",
            "v2.0.1",
            "v1.-1.2",
            "v1.1.2.3",
            "v1.+1.2",
            "v1.99999999999999999999.1",
            "v1.9223372036854775808.0",
        ] {
            let problem = parse_position(bad, "after").unwrap_err();
            assert_eq!(problem.code(), "invalid_position", "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let leap = UNIX_EPOCH + Duration::from_micros(951_782_400_000_001); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000001Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_796_256_000 + 3661);
        assert_eq!(rfc3339(later), "2026-12-03T01:01:01.000000Z");
    }
}
