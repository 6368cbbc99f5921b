//! Upcasting: stored payloads of an event's older schema versions brought to its current
//! one, through the `#[upcast]` functions registered anywhere in the binary, when they
//! are read. Rows are never rewritten.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::event::Event;

/// An `#[upcast]` function. Not public API: generated code builds these.
#[doc(hidden)]
#[derive(Debug)]
pub struct UpcasterRow {
    pub event: &'static str,
    pub event_type: fn() -> TypeId,
    /// The event type's current schema version.
    pub to: u32,
    /// The version it reads; it returns version `from + 1`.
    pub from: u32,
    pub name: &'static str,
    pub module: &'static str,
    pub upcast: fn(serde_json::Value) -> serde_json::Value,
}

inventory::collect!(UpcasterRow);

/// Brings `payload` from `version` to `current`, one upcaster at a time.
fn chain<'v>(
    event: &str,
    version: u32,
    current: u32,
    payload: &'v serde_json::Value,
    upcaster: impl Fn(u32) -> Option<&'static UpcasterRow>,
) -> Result<Cow<'v, serde_json::Value>, UpcastError> {
    if version > current {
        return Err(UpcastError {
            event: event.to_owned(),
            stored: version,
            current,
            missing: None,
        });
    }
    let mut payload = Cow::Borrowed(payload);
    for from in version..current {
        let row = upcaster(from).ok_or_else(|| UpcastError {
            event: event.to_owned(),
            stored: version,
            current,
            missing: Some(from),
        })?;
        payload = Cow::Owned((row.upcast)(payload.into_owned()));
    }
    Ok(payload)
}

/// `payload`, stored at schema `version` of event type `E`, brought to `E::VERSION`
/// through the upcasters registered for `E` (anywhere in the binary).
pub(crate) fn upcast_as<E: Event>(
    version: u32,
    payload: &serde_json::Value,
) -> Result<Cow<'_, serde_json::Value>, UpcastError> {
    static BY_TYPE: OnceLock<HashMap<(TypeId, u32), &'static UpcasterRow>> = OnceLock::new();
    let index = BY_TYPE.get_or_init(|| {
        inventory::iter::<UpcasterRow>
            .into_iter()
            .map(|row| (((row.event_type)(), row.from), row))
            .collect()
    });
    chain(E::NAME, version, E::VERSION, payload, |from| {
        index.get(&(TypeId::of::<E>(), from)).copied()
    })
}

/// An event stored at a schema version that cannot be brought to the current one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct UpcastError {
    event: String,
    stored: u32,
    current: u32,
    /// The version with no upcaster; `None` when the stored version is newer.
    missing: Option<u32>,
}

impl fmt::Display for UpcastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let UpcastError {
            event,
            stored,
            current,
            missing,
        } = self;
        match missing {
            Some(from) => write!(
                f,
                "event `{event}` is stored at schema version {stored} and is at version {current} now, but nothing upcasts version {from}: add `#[upcast({event}, from = {from})]`"
            ),
            None => write!(
                f,
                "event `{event}` is stored at schema version {stored}, newer than this code's version {current}"
            ),
        }
    }
}
