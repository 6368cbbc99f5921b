//! How Herald's values look on the wire: positions as opaque versioned strings, events
//! and commands as JSON objects, times in RFC 3339.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::engine::dispatch::Dispatched;
use crate::http::problem::Problem;
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

pub(crate) fn stream(stream: &StreamKey) -> Value {
    json!({
        "tenant": stream.tenant(),
        "type": stream.stream_type(),
        "id": stream.stream_id(),
    })
}

pub(crate) fn event(event: &RecordedEvent) -> Value {
    json!({
        "position": position(event.position),
        "event_id": event.event_id,
        "stream": stream(&event.stream),
        "version": event.version,
        "route": event.route.as_str(),
        "name": event.name,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "metadata": event.metadata,
        "recorded_at": rfc3339(event.recorded_at),
    })
}

/// A dispatched command; its trace only when `with_trace`.
pub(crate) fn dispatched(dispatched: &Dispatched, with_trace: bool) -> Value {
    let mut body = json!({
        "command_id": dispatched.command_id(),
        "correlation_id": dispatched.correlation_id(),
        "route": dispatched.route().as_str(),
        "stream": stream(dispatched.stream()),
        "version": dispatched.version(),
        "repeat": dispatched.is_repeat(),
        // Every event it committed: its own, then its processors' and dispatchers'.
        "events": dispatched.events().iter().chain(dispatched.caused()).map(event).collect::<Vec<_>>(),
    });
    if with_trace {
        body["trace"] = serde_json::to_value(dispatched.trace()).unwrap_or(Value::Null);
    }
    body
}

/// `time` in RFC 3339, UTC, to the microsecond.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    crate::base::time::rfc3339(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
