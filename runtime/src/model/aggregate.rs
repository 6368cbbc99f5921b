//! Aggregates: state rebuilt from a stream's events, deciding which events a command
//! produces.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::record::{DecodeError, ReplayEvent};
use crate::BoxError;
use crate::model::command::Command;
use crate::model::event::{AnyEvent, IntoEvents};

/// State rebuilt from its stream's events. Implemented by
/// [`#[aggregate]`](crate::aggregate) on the struct; the `#[aggregate] impl` block
/// provides [`Apply`] and a [`Handle`] per command.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aggregate",
    note = "annotate the struct with `#[herald::aggregate]` and its methods' `impl` block with `#[herald::aggregate]`"
)]
pub trait Aggregate:
    Apply + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The aggregate's name, also the stream type of its streams (defaults to the type's
    /// name).
    const NAME: &'static str;
    /// Store a snapshot every this many events; 0 for never.
    const SNAPSHOT_EVERY: u32;
    /// The state's schema version: a snapshot of another version is ignored.
    const VERSION: u32;
}

/// How an aggregate changes with each of its events: the `#[apply]` methods of an
/// `#[aggregate] impl` block.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[aggregate] impl` block",
    note = "add `#[herald::aggregate] impl {Self} {{ … }}` holding its `#[handle]` and `#[apply]` methods"
)]
pub trait Apply {
    /// The names of the events it applies.
    const APPLIES: &'static [&'static str];

    /// Applies an event the aggregate just produced.
    fn apply_event(&mut self, event: &dyn AnyEvent) -> Result<(), ApplyError>;

    /// Applies a stored event, decoding its payload ([`ReplayEvent::decode`], which
    /// upcasts a payload of an older schema version first).
    fn apply_stored(&mut self, event: &ReplayEvent) -> Result<(), ApplyError>;
}

/// The [`Apply`] of an `#[aggregate] impl` block. Not public API: generated code
/// implements it, and [`Apply`] follows from it.
///
/// An aggregate's methods belong in one block: a proc macro sees one block at a time, so
/// two blocks implement this trait twice, and its name is what rustc shows for that
/// ("conflicting implementations of trait `merge_these_aggregate_impl_blocks_into_one`"),
/// spanned at the second block. The blanket impl keeps `Apply` itself from being
/// implemented twice, which would be a second error saying less.
#[doc(hidden)]
#[allow(
    non_camel_case_types,
    reason = "the name is the error message rustc shows when two blocks implement it"
)]
pub trait merge_these_aggregate_impl_blocks_into_one {
    /// [`Apply::APPLIES`].
    const APPLIES: &'static [&'static str];
    /// [`Apply::apply_event`].
    fn apply_event(&mut self, event: &dyn AnyEvent) -> Result<(), ApplyError>;
    /// [`Apply::apply_stored`].
    fn apply_stored(&mut self, event: &ReplayEvent) -> Result<(), ApplyError>;
}

// `do_not_recommend`: a type with no block is reported as not implementing `Apply` (its
// message says to add the block), not as missing the hidden trait.
#[doc(hidden)]
#[diagnostic::do_not_recommend]
impl<T: merge_these_aggregate_impl_blocks_into_one> Apply for T {
    const APPLIES: &'static [&'static str] = T::APPLIES;

    fn apply_event(&mut self, event: &dyn AnyEvent) -> Result<(), ApplyError> {
        merge_these_aggregate_impl_blocks_into_one::apply_event(self, event)
    }

    fn apply_stored(&mut self, event: &ReplayEvent) -> Result<(), ApplyError> {
        merge_these_aggregate_impl_blocks_into_one::apply_stored(self, event)
    }
}

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The aggregate has no `#[apply]` method for the event.
    #[error("has no `#[apply]` method for event `{0}`")]
    Unhandled(String),
    /// The stored payload does not decode into the event's type.
    #[error("cannot decode the payload")]
    Decode(#[from] serde_json::Error),
    /// The stored payload's schema version cannot be brought to the current one.
    #[error(transparent)]
    Upcast(#[from] crate::model::upcast::UpcastError),
}

impl From<DecodeError> for ApplyError {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::Payload { source, .. } => ApplyError::Decode(source),
            DecodeError::Upcast { source, .. } => ApplyError::Upcast(source),
            DecodeError::OtherEvent { found, .. } => ApplyError::Unhandled(found),
        }
    }
}

/// What a `#[handle]` method returns: `Result<events, error>`.
#[diagnostic::on_unimplemented(
    message = "a `#[handle]` method must return `Result<events, error>`, not `{Self}`",
    note = "events: an event type, `Option<E>`, `Vec<E>`, a tuple of them, `()` or `herald::Events`; error: a `std::error::Error + Send + Sync` type, `String` or `anyhow::Error`"
)]
pub trait HandleOutput {
    /// The events on success.
    type Events: IntoEvents;
    /// The events, or the domain error boxed.
    fn into_result(self) -> Result<Self::Events, BoxError>;
}

impl<T: IntoEvents, E: Into<BoxError>> HandleOutput for Result<T, E> {
    type Events = T;
    fn into_result(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
}

/// An aggregate handles command `C`: one `#[handle]` method.
pub trait Handle<C: Command>: Aggregate {
    /// The method's return type.
    type Output: HandleOutput;
    /// The handler's name, `Type::method`.
    const HANDLER: &'static str;
    /// Decides which events `command` produces, or rejects it.
    fn handle(&self, command: &C) -> Self::Output;
}
