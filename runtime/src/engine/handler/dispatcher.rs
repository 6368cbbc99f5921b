//! Dispatchers: functions that derive side events from an event, without a command. The
//! side events are appended in the command's transaction, caused by the event, to a
//! stream of their own (`dispatched:<dispatcher>`, with the source stream's tenant and
//! id), so they are in the global order, and other handlers see them, but never change
//! an aggregate's state.

use crate::BoxError;
use crate::BoxFuture;
use crate::engine::handler::Cx;
use crate::model::event::{AnyEvent, IntoEvents};
use crate::store::RecordedEvent;

/// Runs one dispatcher on a recorded event. Not public API.
#[doc(hidden)]
pub type DispatchFn = for<'a, 'c> fn(
    &'a RecordedEvent,
    &'a mut Cx<'c>,
) -> BoxFuture<'a, Result<Vec<Box<dyn AnyEvent>>, BoxError>>;

/// A `#[dispatcher]` function. Not public API: generated code builds these.
#[doc(hidden)]
#[derive(Debug)]
pub struct DispatcherRow {
    pub name: &'static str,
    pub module: &'static str,
    pub pattern: &'static str,
    pub priority: i32,
    /// The event it takes; `None` when it takes any `RecordedEvent`.
    pub event: Option<&'static str>,
    /// The names of the events it may return.
    pub events: fn(&mut Vec<&'static str>),
    pub run: DispatchFn,
}

inventory::collect!(DispatcherRow);

/// The type of the streams a dispatcher's side events go to.
pub(crate) fn side_stream_type(dispatcher: &str) -> String {
    format!("dispatched:{dispatcher}")
}

/// What a `#[dispatcher]` returns: `Result<events, error>`.
#[diagnostic::on_unimplemented(
    message = "a `#[dispatcher]` returns `Result<events, error>`, not `{Self}`",
    note = "events: an event type, `Option<E>`, `Vec<E>`, a tuple of them, `()` or `herald::Events`; error: a `std::error::Error + Send + Sync` type, `String` or `anyhow::Error`"
)]
pub trait DispatcherOutput {
    /// The event types on success.
    type Events: IntoEvents;
    /// The events, type-erased, or the error boxed.
    fn into_events(self) -> Result<Vec<Box<dyn AnyEvent>>, BoxError>;
}

impl<T: IntoEvents, E: Into<BoxError>> DispatcherOutput for Result<T, E> {
    type Events = T;
    fn into_events(self) -> Result<Vec<Box<dyn AnyEvent>>, BoxError> {
        let mut out = Vec::new();
        self.map_err(Into::into)?.into_events(&mut out);
        Ok(out)
    }
}
