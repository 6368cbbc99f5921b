//! Commands: the [`Command`] trait `#[command]` implements.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::route::{Route, RouteError};

/// A request to change state, handled by the aggregate whose `#[handle]` method takes it.
/// Implemented by [`#[command]`](crate::command).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered command",
    note = "annotate `{Self}` with `#[herald::command(\"…\")]`"
)]
pub trait Command: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The command's name (defaults to the type's name).
    const NAME: &'static str;
    /// The route template: `update.user.:user_id`.
    const ROUTE: &'static str;
    /// The roles allowed to send it; an actor needs one of them. Empty: anyone.
    const ROLES: &'static [&'static str];
    /// The field that holds the id of the aggregate the command addresses.
    const ID_FIELD: &'static str;

    /// The concrete route, rendered from the fields.
    fn route(&self) -> Result<Route, RouteError>;

    /// The id of the aggregate the command addresses: its stream id.
    fn aggregate_id(&self) -> String;
}

/// Event `Self` can be made from command `C`: the bound of `#[command(…, event = Self)]`
/// (see [`command`](crate::command)). Implemented for every `E: From<C>` with `C: Clone`.
/// Not public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "command `{C}` cannot be recorded as event `{Self}`: `{Self}` is not made from it",
    label = "`{Self}` has no `From<{C}>`, or `{C}` is not `Clone`",
    note = "`#[command(…, event = {Self})]` appends the event made from the command: implement `From<{C}> for {Self}` and derive `Clone` for `{C}` (the event is made again after a conflict)"
)]
pub trait FromCommand<C>: Sized {
    /// The event made from `command`.
    fn from_command(command: &C) -> Self;
}

#[diagnostic::do_not_recommend]
impl<C: Clone, E: From<C>> FromCommand<C> for E {
    fn from_command(command: &C) -> Self {
        E::from(command.clone())
    }
}
