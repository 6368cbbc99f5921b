//! Projectors: functions that write an event into a read model. A strong one runs in the
//! command's transaction (step 8 of the loop), for each new event whose route matches its
//! pattern, by ascending priority, ties by name; an eventual one runs later, from a
//! checkpointed subscription of its own.

use std::ops::Deref;

use crate::BoxError;
use crate::BoxFuture;
use crate::engine::handler::Cx;
use crate::model::event::Event;
use crate::store::{DecodeError, RecordedEvent};

/// When a projector (or processor) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Consistency {
    /// In the command's transaction: the read model changes with the events, or not at all.
    Strong,
    /// After the commit, from a checkpointed subscription of its own.
    Eventual,
}

/// An event as a typed handler receives it: the event, and where and how it was recorded
/// (position, stream, version, route, metadata).
///
/// ```
/// use herald::prelude::*;
/// # #[event("user.:user_id.created")] struct UserCreated { user_id: u64, email: String }
///
/// #[projector("user.:user_id.created")]
/// async fn log(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {
///     println!("{} at version {} of {}", e.email, e.record().version, e.record().stream);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Recorded<E> {
    event: E,
    record: RecordedEvent,
}

impl<E: Event> Recorded<E> {
    /// Decodes `record` as an `E` (upcasting it when it is of an older schema version).
    pub fn decode(record: RecordedEvent) -> Result<Self, DecodeError> {
        Ok(Recorded {
            event: record.decode()?,
            record,
        })
    }
}

impl<E> Recorded<E> {
    /// The event.
    pub fn event(&self) -> &E {
        &self.event
    }

    /// Where and how it was recorded.
    pub fn record(&self) -> &RecordedEvent {
        &self.record
    }

    /// The event, owned.
    pub fn into_event(self) -> E {
        self.event
    }
}

impl<E> Deref for Recorded<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.event
    }
}

/// Runs one projector on a recorded event. Not public API.
#[doc(hidden)]
pub type ProjectFn =
    for<'a, 'c> fn(&'a RecordedEvent, &'a mut Cx<'c>) -> BoxFuture<'a, Result<(), BoxError>>;

/// A `#[projector]` function. Not public API: generated code builds these.
#[doc(hidden)]
#[derive(Debug)]
pub struct ProjectorRow {
    pub name: &'static str,
    pub module: &'static str,
    pub pattern: &'static str,
    pub priority: i32,
    pub consistency: Consistency,
    /// Eventual only: whether a parked event holds back the later events of its stream.
    pub ordered: bool,
    /// Eventual only: how many shares its streams are split into (1: not split).
    pub partitions: u32,
    /// Eventual only: the tables it writes, which a rebuild fills aside, then swaps in.
    pub tables: &'static [&'static str],
    /// Eventual only: the version of what it writes in its tables, which a snapshot of
    /// them must have been taken under to be restored (1 unless declared).
    pub version: u32,
    /// The event it takes; `None` when it takes any `RecordedEvent`.
    pub event: Option<&'static str>,
    pub run: ProjectFn,
}

inventory::collect!(ProjectorRow);
