//! Events and streams as the store keeps them: stream keys, positions in the global
//! order, metadata, recorded and replayed events, and why one does not decode.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::Event;
use super::upcast::{UpcastError, upcast_as};
use crate::base::json_text::JsonText;
use crate::route::Route;

/// The longest tenant, stream type or stream id, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// A stream key that cannot be stored: a part is empty or too long.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream: {0}")]
pub struct InvalidStreamKey(String);

/// A stream's identity: tenant, stream type (the aggregate's name) and id.
///
/// Cloning one is cheap (its parts are shared), and so is hashing it: its hash is taken
/// once, when it is made, with the process's random keys, as a `HashMap` would.
#[derive(Clone)]
pub struct StreamKey(Arc<KeyInner>);

struct KeyInner {
    parts: KeyParts,
    /// `parts` hashed with [`hash_keys`].
    hash: u64,
}

/// What a stream key is, compared, ordered and stored.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename = "StreamKey")]
struct KeyParts {
    tenant: String,
    stream_type: String,
    stream_id: String,
}

/// The keys every stream key of this process is hashed with: random per process, so
/// that nobody outside it can choose stream ids that collide.
fn hash_keys() -> &'static RandomState {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    KEYS.get_or_init(RandomState::new)
}

impl StreamKey {
    /// A stream key; each part must be non-empty and at most [`MAX_KEY_LEN`] bytes.
    pub fn new(
        tenant: impl Into<String>,
        stream_type: impl Into<String>,
        stream_id: impl Into<String>,
    ) -> Result<Self, InvalidStreamKey> {
        let parts = KeyParts {
            tenant: tenant.into(),
            stream_type: stream_type.into(),
            stream_id: stream_id.into(),
        };
        for (what, part) in [
            ("tenant", &parts.tenant),
            ("stream type", &parts.stream_type),
            ("stream id", &parts.stream_id),
        ] {
            if part.is_empty() {
                return Err(InvalidStreamKey(format!("the {what} is empty")));
            }
            if part.len() > MAX_KEY_LEN {
                let len = part.len();
                return Err(InvalidStreamKey(format!(
                    "the {what} is {len} bytes; at most {MAX_KEY_LEN} are allowed"
                )));
            }
        }
        Ok(StreamKey::of(parts))
    }

    fn of(parts: KeyParts) -> Self {
        let hash = hash_keys().hash_one(&parts);
        StreamKey(Arc::new(KeyInner { parts, hash }))
    }

    /// The tenant the stream belongs to.
    pub fn tenant(&self) -> &str {
        &self.0.parts.tenant
    }

    /// The stream type: the aggregate's name.
    pub fn stream_type(&self) -> &str {
        &self.0.parts.stream_type
    }

    /// The stream id: the aggregate's id.
    pub fn stream_id(&self) -> &str {
        &self.0.parts.stream_id
    }
}

impl StreamKey {
    /// Writes the key as its `Serialize` writes it to JSON.
    pub(crate) fn write_json(&self, text: &mut JsonText) {
        let parts = &self.0.parts;
        text.open_object()
            .key("tenant")
            .string(&parts.tenant)
            .key("stream_type")
            .string(&parts.stream_type)
            .key("stream_id")
            .string(&parts.stream_id)
            .close_object();
    }
}

impl PartialEq for StreamKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.0.parts == other.0.parts)
    }
}

impl Eq for StreamKey {}

impl PartialOrd for StreamKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By tenant, then stream type, then id.
impl Ord for StreamKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.parts.cmp(&other.0.parts)
    }
}

impl Hash for StreamKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let KeyParts {
            tenant,
            stream_type,
            stream_id,
        } = &self.0.parts;
        f.debug_struct("StreamKey")
            .field("tenant", tenant)
            .field("stream_type", stream_type)
            .field("stream_id", stream_id)
            .finish()
    }
}

impl Serialize for StreamKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.parts.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StreamKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        KeyParts::deserialize(deserializer).map(StreamKey::of)
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = &self.0.parts;
        write!(
            f,
            "{}/{}/{}",
            parts.tenant, parts.stream_type, parts.stream_id
        )
    }
}

/// A place in the global order of events. Opaque: compare positions and hand them back
/// to the store, nothing else.
///
/// It has two parts. On PostgreSQL the first is the id of the transaction that wrote the
/// event (raised to that of the stream's previous event, so a stream stays in version
/// order) and the second its sequence number: readers order by both and read only events
/// of transactions older than every running one, so an event that commits late with a
/// small sequence number is never skipped. On SQLite and in memory the first part is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    tx: u64,
    seq: u64,
}

impl Position {
    /// Before the first event.
    pub const START: Position = Position { tx: 0, seq: 0 };

    /// For store implementations: the position with these parts.
    #[doc(hidden)]
    pub const fn from_parts(tx: u64, seq: u64) -> Self {
        Position { tx, seq }
    }

    /// For store implementations: the parts.
    #[doc(hidden)]
    pub const fn parts(self) -> (u64, u64) {
        (self.tx, self.seq)
    }
}

impl Position {
    /// The position as Herald writes it for people and programs outside the process
    /// (the HTTP door, the CLI): `v1.<tx>.<seq>`, handed back as it was given.
    #[cfg_attr(not(any(feature = "http", feature = "cli")), allow(dead_code))]
    pub(crate) fn to_wire(self) -> String {
        format!("v1.{}.{}", self.tx, self.seq)
    }

    /// A position [`to_wire`](Self::to_wire) wrote; `None` for anything else.
    #[cfg_attr(not(any(feature = "http", feature = "cli")), allow(dead_code))]
    pub(crate) fn from_wire(text: &str) -> Option<Position> {
        let (tx, seq) = text.strip_prefix("v1.")?.split_once('.')?;
        let number = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
                .filter(|n| i64::try_from(*n).is_ok())
        };
        Some(Position::from_parts(number(tx)?, number(seq)?))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tx, self.seq)
    }
}

/// Who caused an event and why, stored with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The event's own id.
    pub event_id: Uuid,
    /// The command that produced it.
    pub command_id: Uuid,
    /// Shared by every event of one request, across commands it leads to.
    pub correlation_id: Uuid,
    /// What directly caused it: the command, or the event a processor reacted to.
    pub causation_id: Uuid,
    /// The actor's id.
    pub actor: String,
    /// The actor's tenant.
    pub tenant: String,
    /// The actor's roles: an eventual processor's commands are sent as the same actor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The W3C trace context (`traceparent`) of the request that dispatched the command,
    /// when it had one (see [`telemetry`](crate::telemetry)): an eventual consumer's
    /// handling of the event is linked to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// An event about to be appended.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Its id (UUID v7).
    pub event_id: Uuid,
    /// Its concrete route.
    pub route: Route,
    /// [`Event::NAME`].
    pub name: String,
    /// [`Event::VERSION`].
    pub schema_version: u32,
    /// The event, as JSON.
    pub payload: serde_json::Value,
    /// Who caused it and why.
    pub metadata: Metadata,
}

/// An event as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Its place in the global order.
    pub position: Position,
    /// Its id (UUID v7).
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: StreamKey,
    /// Its version in the stream: 1 for the first event, no gaps.
    pub version: u64,
    /// Its concrete route.
    #[serde(with = "route_text")]
    pub route: Route,
    /// [`Event::NAME`].
    pub name: String,
    /// [`Event::VERSION`] when it was written.
    pub schema_version: u32,
    /// The event, as JSON.
    pub payload: serde_json::Value,
    /// Who caused it and why.
    pub metadata: Metadata,
    /// When it was appended.
    pub recorded_at: SystemTime,
}

impl RecordedEvent {
    /// The payload as `E`, when it is an `E`.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.name != E::NAME {
            return Err(DecodeError::OtherEvent {
                expected: E::NAME,
                found: self.name.clone(),
            });
        }
        let payload = upcast_as::<E>(self.schema_version, &self.payload).map_err(|source| {
            DecodeError::Upcast {
                stream: self.stream.clone(),
                version: self.version,
                source,
            }
        })?;
        E::deserialize(&*payload).map_err(|source| DecodeError::Payload {
            stream: self.stream.clone(),
            version: self.version,
            name: self.name.clone(),
            source,
        })
    }
}

/// A stored event as an aggregate replays it: what its `#[apply]` method needs and
/// nothing more, with the payload as the JSON text it was stored as, so that it decodes
/// straight into the event's type (through its upcasters when it is of an older schema
/// version).
#[derive(Clone, Debug)]
pub struct ReplayEvent {
    /// Its version in the stream.
    pub version: u64,
    /// [`Event::NAME`].
    pub name: String,
    /// [`Event::VERSION`] when it was written.
    pub schema_version: u32,
    /// The event as the JSON text it was stored as.
    pub payload: String,
}

impl ReplayEvent {
    /// The payload as `E` (whose name the caller checked).
    pub fn decode<E: Event>(&self) -> Result<E, super::aggregate::ApplyError> {
        if self.schema_version == E::VERSION {
            return Ok(serde_json::from_str(&self.payload)?);
        }
        let payload: serde_json::Value = serde_json::from_str(&self.payload)?;
        let payload = upcast_as::<E>(self.schema_version, &payload)?;
        Ok(E::deserialize(&*payload)?)
    }
}

impl From<&RecordedEvent> for ReplayEvent {
    fn from(event: &RecordedEvent) -> Self {
        ReplayEvent {
            version: event.version,
            name: event.name.clone(),
            schema_version: event.schema_version,
            payload: event.payload.to_string(),
        }
    }
}

/// A route as its text (the route crate has no dependencies, serde included).
mod route_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::route::Route;

    pub(super) fn serialize<S: Serializer>(
        route: &Route,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(route.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Route, D::Error> {
        Route::try_from(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Why a recorded event could not be read as a type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Its schema version cannot be brought to the type's.
    #[error("event at version {version} of stream `{stream}`")]
    Upcast {
        /// Its stream.
        stream: StreamKey,
        /// Its version.
        version: u64,
        /// What is missing.
        source: UpcastError,
    },
    /// It is another event.
    #[error("expected event `{expected}`, found `{found}`")]
    OtherEvent {
        /// The type's name.
        expected: &'static str,
        /// The recorded event's name.
        found: String,
    },
    /// Its payload does not decode.
    #[error("event `{name}` at version {version} of stream `{stream}` does not decode")]
    Payload {
        /// Its stream.
        stream: StreamKey,
        /// Its version.
        version: u64,
        /// Its name.
        name: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// What people and programs outside the process (the HTTP door, the CLI) see of a
/// stream's key and of an event, as `serde_json` values. The door writes the same
/// documents as text (`http::wire`), and its tests compare the two.
#[cfg(any(feature = "http", feature = "cli"))]
mod wire_json {
    use serde_json::{Value, json};

    use super::{RecordedEvent, StreamKey};

    impl StreamKey {
        pub(crate) fn to_wire_json(&self) -> Value {
            json!({ "tenant": self.tenant(), "type": self.stream_type(), "id": self.stream_id() })
        }
    }

    impl RecordedEvent {
        // The door writes events as text; its tests compare with this.
        #[cfg_attr(not(feature = "cli"), allow(dead_code))]
        pub(crate) fn to_wire_json(&self) -> Value {
            json!({
                "position": self.position.to_wire(),
                "event_id": self.event_id,
                "stream": self.stream.to_wire_json(),
                "version": self.version,
                "route": self.route.as_str(),
                "name": self.name,
                "schema_version": self.schema_version,
                "payload": self.payload,
                "metadata": self.metadata,
                "recorded_at": crate::base::time::rfc3339(self.recorded_at),
            })
        }
    }
}
