//! Handlers around a command, each matched by route pattern: hooks before and after its
//! aggregate decides (steps 3 and 5 of the loop), and the strong projectors and
//! processors of its events (step 8), all in the command's transaction.

pub(crate) mod channel;
mod context;
pub(crate) mod dispatcher;
mod hook;
pub(crate) mod processor;
mod projector;
pub(crate) mod reaction;
pub(crate) mod saga;

pub use channel::{AuthorizeFn, ChannelRow, Forbidden, Join, JoinOutput};
pub use context::Cx;
pub use dispatcher::{DispatchFn, DispatcherOutput, DispatcherRow};
pub use hook::{HookFn, HookRow, When};
pub use processor::{
    Alone, AnyCommand, IntoCommands, Nest, ProcessFn, ProcessorOutput, ProcessorRow,
};
pub use projector::{Consistency, ProjectFn, ProjectorRow, Recorded};
pub use saga::{Recovery, SagaCx, SagaOutput, SagaReverseFn, SagaRunFn, SagaStepRow};

pub(crate) use context::rebuild_table;
pub(crate) use hook::run_hooks;
pub(crate) use reaction::{Scene, react};

use crate::BoxError;

/// What a hook or projector may return: `()`, or `Result<(), E>` for any error `E` that
/// converts into a boxed error (`std::error::Error + Send + Sync`, `String`,
/// `anyhow::Error`).
#[diagnostic::on_unimplemented(
    message = "a Herald handler returns `()` or `Result<(), E>`, not `{Self}`",
    note = "`E` is any `std::error::Error + Send + Sync` type, `String` or `anyhow::Error`: the caller gets it back, typed, with the handler's name"
)]
pub trait HandlerOutput {
    /// The outcome, the error boxed.
    fn into_result(self) -> Result<(), BoxError>;
}

impl HandlerOutput for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> HandlerOutput for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}
