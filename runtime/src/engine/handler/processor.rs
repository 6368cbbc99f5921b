//! Processors: functions that react to an event by dispatching follow-up commands. A
//! strong one's commands run nested in the command's transaction (steps 1 to 8 again,
//! as the same actor, caused by the event, with a command id derived from the event, the
//! processor and the command's index, so that running it again never doubles them).

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::BoxError;
use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::engine::cache::Lookup;
use crate::engine::dispatch::{Dispatched, Options};
use crate::engine::handler::saga::Saga;
use crate::engine::handler::{Consistency, Cx};
use crate::engine::kernel::Kernel;
use crate::model::command::Command;
use crate::outcome::error::Error;
use crate::outcome::trace::Tracer;
use crate::route::Route;
use crate::store::{RecordedEvent, StoreTransaction};

/// Runs one processor on a recorded event. Not public API.
#[doc(hidden)]
pub type ProcessFn = for<'a, 'c> fn(
    &'a RecordedEvent,
    &'a mut Cx<'c>,
) -> BoxFuture<'a, Result<Vec<Box<dyn AnyCommand>>, BoxError>>;

/// A `#[processor]` function. Not public API: generated code builds these.
#[doc(hidden)]
#[derive(Debug)]
pub struct ProcessorRow {
    pub name: &'static str,
    pub module: &'static str,
    pub pattern: &'static str,
    pub priority: i32,
    pub consistency: Consistency,
    /// Eventual only: whether a parked event holds back the later events of its stream.
    pub ordered: bool,
    /// Eventual only: how many shares its streams are split into (1: not split).
    pub partitions: u32,
    /// The event it takes; `None` when it takes any `RecordedEvent`.
    pub event: Option<&'static str>,
    /// The names of the commands it may return.
    pub commands: fn(&mut Vec<&'static str>),
    pub run: ProcessFn,
}

inventory::collect!(ProcessorRow);

/// What a `#[processor]` returns inside its `Result`: a command, `Option`, `Vec`, a
/// tuple of these, or `()` for none.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of commands",
    note = "a `#[processor]` returns `Result<T, Error>` where `T` is a command type, `Option<T>`, `Vec<T>`, a tuple of these or `()`"
)]
pub trait IntoCommands {
    /// Adds the names of the command types this can hold.
    fn command_names(names: &mut Vec<&'static str>);
    /// Moves the commands into `out`, in order.
    fn into_commands(self, out: &mut Vec<Box<dyn AnyCommand>>);
}

impl IntoCommands for () {
    fn command_names(_: &mut Vec<&'static str>) {}
    fn into_commands(self, _: &mut Vec<Box<dyn AnyCommand>>) {}
}

impl<T: IntoCommands> IntoCommands for Option<T> {
    fn command_names(names: &mut Vec<&'static str>) {
        T::command_names(names)
    }
    fn into_commands(self, out: &mut Vec<Box<dyn AnyCommand>>) {
        if let Some(commands) = self {
            commands.into_commands(out)
        }
    }
}

impl<T: IntoCommands> IntoCommands for Vec<T> {
    fn command_names(names: &mut Vec<&'static str>) {
        T::command_names(names)
    }
    fn into_commands(self, out: &mut Vec<Box<dyn AnyCommand>>) {
        for commands in self {
            commands.into_commands(out)
        }
    }
}

macro_rules! tuple_into_commands {
    ($($t:ident),+) => {
        impl<$($t: IntoCommands),+> IntoCommands for ($($t,)+) {
            fn command_names(names: &mut Vec<&'static str>) {
                $($t::command_names(names);)+
            }
            #[allow(non_snake_case, reason = "the bindings are named after their types")]
            fn into_commands(self, out: &mut Vec<Box<dyn AnyCommand>>) {
                let ($($t,)+) = self;
                $($t.into_commands(out);)+
            }
        }
    };
}
tuple_into_commands!(A);
tuple_into_commands!(A, B);
tuple_into_commands!(A, B, C);
tuple_into_commands!(A, B, C, D);

/// What a `#[processor]` returns: `Result<commands, error>`.
#[diagnostic::on_unimplemented(
    message = "a `#[processor]` returns `Result<commands, error>`, not `{Self}`",
    note = "commands: a command type, `Option<C>`, `Vec<C>`, a tuple of them or `()`; error: a `std::error::Error + Send + Sync` type, `String` or `anyhow::Error`"
)]
pub trait ProcessorOutput {
    /// The command types on success.
    type Commands: IntoCommands;
    /// The commands, type-erased, or the error boxed.
    fn into_commands(self) -> Result<Vec<Box<dyn AnyCommand>>, BoxError>;
}

impl<T: IntoCommands, E: Into<BoxError>> ProcessorOutput for Result<T, E> {
    type Commands = T;
    fn into_commands(self) -> Result<Vec<Box<dyn AnyCommand>>, BoxError> {
        let mut out = Vec::new();
        self.map_err(Into::into)?.into_commands(&mut out);
        Ok(out)
    }
}

/// Any command, type-erased, as a processor returns it. Not public API.
#[doc(hidden)]
pub trait AnyCommand: Send + Sync {
    /// [`Command::NAME`].
    fn name(&self) -> &'static str;
    /// The command as JSON (for tests that compare commands).
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    /// Runs the command nested in its parent's transaction; returns the events it
    /// appended, and those its own reactions did.
    fn run_nested<'a>(
        self: Box<Self>,
        nest: Nest<'a>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, Error>>;
    /// Runs the command at the top, in a transaction of its own.
    fn run_alone<'a>(self: Box<Self>, alone: Alone<'a>)
    -> BoxFuture<'a, Result<Dispatched, Error>>;
}

impl<C: Command> AnyCommand for C {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        crate::base::json_value::to_value(self)
    }

    fn run_nested<'a>(
        self: Box<Self>,
        nest: Nest<'a>,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, Error>> {
        Box::pin(crate::engine::dispatch::nested(*self, nest))
    }

    fn run_alone<'a>(
        self: Box<Self>,
        alone: Alone<'a>,
    ) -> BoxFuture<'a, Result<Dispatched, Error>> {
        let mut command = *self;
        Box::pin(async move {
            crate::engine::dispatch::alone(alone.kernel, &mut command, alone.options).await
        })
    }
}

/// Where a command decoded from JSON runs: at the top, as the caller asked. Not public
/// API.
#[doc(hidden)]
pub struct Alone<'a> {
    pub(crate) kernel: &'a Kernel,
    pub(crate) options: Options,
}

/// Where a processor's command runs: its parent's transaction, actor and correlation,
/// caused by the parent's event. Not public API.
#[doc(hidden)]
pub struct Nest<'a> {
    pub(crate) kernel: &'a Kernel,
    pub(crate) tx: &'a mut dyn StoreTransaction,
    pub(crate) cache: Lookup<'a>,
    pub(crate) actor: &'a Actor,
    pub(crate) correlation_id: Uuid,
    /// The event the processor reacted to: the command's cause.
    pub(crate) event: &'a RecordedEvent,
    pub(crate) command_id: Uuid,
    /// The routes of the commands it is nested in, outermost first.
    pub(crate) chain: &'a [Route],
    pub(crate) tracer: &'a mut Tracer,
    /// The saga of the whole dispatch: the nested command's steps join it.
    pub(crate) saga: &'a mut Saga,
    /// Whether the command may have run before (an eventual processor's event handled
    /// again): its id is looked up first. A strong processor's event is brand new.
    pub(crate) may_repeat: bool,
    /// The W3C trace context its events keep (none: see `telemetry::context_of`).
    pub(crate) trace_parent: Option<&'a str>,
}

/// The id of the `index`th command `processor` returned for `event`: the same every time
/// the processor runs on that event.
pub(crate) fn derived_id(event: Uuid, processor: &str, index: usize) -> Uuid {
    let digest = Sha256::new()
        .chain_update(event.as_bytes())
        .chain_update(processor)
        .chain_update([0])
        .chain_update((index as u64).to_le_bytes())
        .finalize();
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8: custom
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::derived_id;
    use uuid::Uuid;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let event = Uuid::now_v7();
        assert_eq!(derived_id(event, "p", 0), derived_id(event, "p", 0));
        assert_ne!(derived_id(event, "p", 0), derived_id(event, "p", 1));
        assert_ne!(derived_id(event, "p", 0), derived_id(event, "q", 0));
        assert_eq!(derived_id(event, "p", 0).get_version_num(), 8);
    }
}
