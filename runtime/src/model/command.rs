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
