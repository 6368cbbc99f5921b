//! The `herald.v1` messages: what a client sends, read strictly, and what the server
//! sends, written once per event where it can be (the event's part of a frame is shared
//! by every subscription, each adding its own head).

use serde_json::{Value, json};

use crate::base::json_text::JsonText;
use crate::http::wire;
use crate::store::{Position, RecordedEvent};

/// The longest subscription id a client may give, in bytes (as its JSON text).
pub(crate) const MAX_ID_LEN: usize = 128;

/// A message from the client.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// `{"type":"auth","token":"…"}`.
    Auth { token: String },
    /// `{"type":"subscribe","id":…,"channel":"…","pattern":"…","after":"v1.…"?}`.
    Subscribe {
        id: Id,
        channel: String,
        pattern: String,
        after: Option<String>,
    },
    /// `{"type":"unsubscribe","id":…}`.
    Unsubscribe { id: Id },
    /// `{"type":"ping"}`: answered with `{"type":"pong"}`.
    Ping,
}

/// A subscription's id as the client gave it: a string or a number, kept as its JSON
/// text so that every frame carries it back as it came.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Id(pub(crate) String);

/// Why a message could not be read: its error code and message, and the id it carried if
/// it could be told.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) id: Option<Id>,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Refused {
    pub(crate) fn new(id: Option<Id>, code: &'static str, message: impl Into<String>) -> Self {
        Refused {
            id,
            code,
            message: message.into(),
        }
    }
}

/// Reads one text frame.
pub(crate) fn read(text: &str) -> Result<Incoming, Refused> {
    let value: Value = serde_json::from_str(text).map_err(|error| {
        Refused::new(
            None,
            "bad_message",
            format!("a message is a JSON object: {error}"),
        )
    })?;
    let Value::Object(mut fields) = value else {
        return Err(Refused::new(
            None,
            "bad_message",
            "a message is a JSON object",
        ));
    };
    let id = match fields.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => {
            let text = id.to_string();
            if text.len() > MAX_ID_LEN {
                return Err(Refused::new(
                    None,
                    "bad_message",
                    format!("`id` is at most {MAX_ID_LEN} bytes long"),
                ));
            }
            Some(Id(text))
        }
        Some(_) => {
            return Err(Refused::new(
                None,
                "bad_message",
                "`id` is a string or a number",
            ));
        }
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => {
            return Err(Refused::new(
                id,
                "bad_message",
                "a message has a `type`: `auth`, `subscribe`, `unsubscribe` or `ping`",
            ));
        }
    };
    let mut text = |name: &str, required: bool| -> Result<Option<String>, Refused> {
        match fields.remove(name) {
            Some(Value::String(value)) => Ok(Some(value)),
            None | Some(Value::Null) if !required => Ok(None),
            None => Err(Refused::new(
                id.clone(),
                "bad_message",
                format!("`{kind}` needs `{name}`"),
            )),
            Some(_) => Err(Refused::new(
                id.clone(),
                "bad_message",
                format!("`{name}` is a string"),
            )),
        }
    };
    let needs_id = |id: Option<Id>| {
        id.ok_or_else(|| {
            Refused::new(
                None,
                "bad_message",
                format!("`{kind}` needs an `id`: a string or a number"),
            )
        })
    };
    let incoming = match kind.as_str() {
        "auth" => Incoming::Auth {
            token: text("token", true)?.expect("required"),
        },
        "subscribe" => {
            let channel = text("channel", true)?.expect("required");
            let pattern = text("pattern", true)?.expect("required");
            let after = text("after", false)?;
            Incoming::Subscribe {
                id: needs_id(id.clone())?,
                channel,
                pattern,
                after,
            }
        }
        "unsubscribe" => Incoming::Unsubscribe {
            id: needs_id(id.clone())?,
        },
        "ping" => Incoming::Ping,
        other => {
            return Err(Refused::new(
                id,
                "unknown_type",
                format!(
                    "no message has type `{}`: `auth`, `subscribe`, `unsubscribe` or `ping`",
                    other.escape_debug()
                ),
            ));
        }
    };
    if let Some(extra) = fields.keys().next() {
        return Err(Refused::new(
            id,
            "bad_message",
            format!("`{kind}` has no field `{}`", extra.escape_debug()),
        ));
    }
    Ok(incoming)
}

/// An event's part of every frame that carries it: its fields as the HTTP API writes
/// them, after the frame's head (`{"type":"event","subscription":…,`).
pub(crate) fn event_body(event: &RecordedEvent) -> String {
    let mut text = JsonText::with_capacity(1024);
    wire::write_event(&mut text, event);
    let mut text = text.into_string();
    text.remove(0); // the `{`: each frame opens with its own head
    text
}

/// A subscription's head of its event frames.
pub(crate) fn event_head(id: &Id) -> String {
    format!("{{\"type\":\"event\",\"subscription\":{},", id.0)
}

/// A frame: `head` and `body` spliced, no JSON written.
pub(crate) fn splice(head: &str, body: &str) -> String {
    let mut frame = String::with_capacity(head.len() + body.len());
    frame.push_str(head);
    frame.push_str(body);
    frame
}

pub(crate) fn subscribed(id: &Id, after: Position) -> String {
    format!(
        "{{\"type\":\"subscribed\",\"id\":{},\"after\":\"{}\"}}",
        id.0,
        wire::position(after)
    )
}

pub(crate) fn unsubscribed(id: &Id) -> String {
    format!("{{\"type\":\"unsubscribed\",\"id\":{}}}", id.0)
}

pub(crate) fn authenticated(actor: &crate::Actor) -> String {
    json!({"type": "authenticated", "actor": actor.id(), "tenant": actor.tenant()}).to_string()
}

pub(crate) fn error(refused: &Refused) -> String {
    let mut body = json!({
        "type": "error",
        "code": refused.code,
        "message": refused.message,
    });
    if let Some(id) = &refused.id {
        body["id"] = serde_json::from_str(&id.0).unwrap_or(Value::Null);
    }
    body.to_string()
}

/// What the server says before it closes: where each subscription's delivery stopped.
pub(crate) fn closing(code: u16, reason: &str, positions: &[(Id, Option<Position>)]) -> String {
    let subscriptions: serde_json::Map<String, Value> = positions
        .iter()
        .map(|(id, at)| {
            let key = match serde_json::from_str::<Value>(&id.0) {
                Ok(Value::String(text)) => text,
                _ => id.0.clone(),
            };
            (
                key,
                at.map_or(Value::Null, |at| Value::String(wire::position(at))),
            )
        })
        .collect();
    json!({
        "type": "closing",
        "code": code,
        "reason": reason,
        "subscriptions": subscriptions,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_strictly() {
        let ok = read(r#"{"type":"subscribe","id":"a","channel":"c","pattern":"p.*"}"#).unwrap();
        assert!(matches!(ok, Incoming::Subscribe { id, after: None, .. } if id.0 == "\"a\""));
        let numbered = read(r#"{"type":"unsubscribe","id":7}"#).unwrap();
        assert!(matches!(numbered, Incoming::Unsubscribe { id } if id.0 == "7"));
        for (text, code) in [
            ("nope", "bad_message"),
            ("[1]", "bad_message"),
            (r#"{"id":1}"#, "bad_message"),
            (r#"{"type":"dance","id":1}"#, "unknown_type"),
            (
                r#"{"type":"subscribe","channel":"c","pattern":"p"}"#,
                "bad_message",
            ),
            (
                r#"{"type":"subscribe","id":1,"pattern":"p"}"#,
                "bad_message",
            ),
            (
                r#"{"type":"subscribe","id":{},"channel":"c","pattern":"p"}"#,
                "bad_message",
            ),
            (
                r#"{"type":"subscribe","id":1,"channel":"c","pattern":"p","x":1}"#,
                "bad_message",
            ),
            (r#"{"type":"auth"}"#, "bad_message"),
        ] {
            assert_eq!(read(text).unwrap_err().code, code, "{text}");
        }
    }

    #[test]
    fn a_frame_is_the_head_and_the_shared_body_spliced() {
        let head = event_head(&Id("\"s1\"".into()));
        let frame = splice(&head, "\"position\":\"v1.0.1\"}");
        let value: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            value,
            json!({"type": "event", "subscription": "s1", "position": "v1.0.1"})
        );
    }
}
