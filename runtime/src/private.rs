//! Not public API. Used by generated code.

pub use inventory;
pub use serde;
pub use serde_json;

pub use herald_route::{Template, assert_can_match};

pub use crate::JsonSchema;
pub use crate::base::schema::{Described, Schemas, schema_of};
pub use crate::engine::handler::{
    Alone, AnyCommand, AuthorizeFn, ChannelRow, DispatchFn, DispatcherRow, HookFn, HookRow, Nest,
    ProcessFn, ProcessorOutput, ProcessorRow, ProjectFn, ProjectorRow, SagaReverseFn, SagaRunFn,
    SagaStepRow,
};
pub use crate::engine::load::{LoadAt, LoadJsonFn};
pub use crate::engine::record::AnyRecord;
pub use crate::engine::registry::{
    AggregateRow, CommandRow, DecodeEventFn, DecodeFn, EventRow, HandlerRow, SchemaFn,
};
pub use crate::engine::step::{ExecuteFn, Step, Stepped};
pub use crate::model::aggregate::merge_these_aggregate_impl_blocks_into_one;
pub use crate::model::command::FromCommand;
pub use crate::model::upcast::UpcasterRow;
#[cfg(feature = "http")]
pub use schemars;

use crate::BoxFuture;
use crate::model::aggregate::Handle;
use crate::model::command::Command;
use crate::model::event::RouteParam;
use crate::route::{Route, RouteError};

/// The [`LoadJsonFn`] of `A`.
pub fn load_json<A: crate::Aggregate>(
    at: LoadAt<'_>,
) -> BoxFuture<'_, Result<(serde_json::Value, u64), crate::Error>> {
    crate::engine::load::load_json::<A>(at)
}

/// The [`DecodeFn`] of `C`.
pub fn decode_command<C: Command>(
    json: &[u8],
) -> Result<Box<dyn AnyCommand>, crate::error::BadJson> {
    let command: C = crate::base::json_value::from_slice(json)?;
    Ok(Box::new(command))
}

/// The [`DecodeEventFn`] of `E`.
pub fn decode_event<E: crate::Event>(
    json: &[u8],
) -> Result<Box<dyn AnyRecord>, crate::error::BadJson> {
    let event: E = crate::base::json_value::from_slice(json)?;
    Ok(Box::new(event))
}

/// The registration of command `C` declared with `#[command(…, event = E)]`, in `module`:
/// a handler that appends the event made from the command to `E`'s stream.
pub const fn mapped_handler<C: Command, E: crate::Event + FromCommand<C>>(
    module: &'static str,
) -> HandlerRow {
    HandlerRow {
        name: C::NAME,
        aggregate: E::STREAM,
        command: C::NAME,
        module,
        command_type: core::any::TypeId::of::<C>,
        produces: produced_event::<E>,
        execute: crate::engine::record::execute_mapped::<C, E>,
        maps_to: Some(E::NAME),
    }
}

/// The name of event `E`, the one event a command mapped to it produces.
pub fn produced_event<E: crate::Event>(names: &mut Vec<&'static str>) {
    names.push(E::NAME)
}

/// Renders `template` with `params`, in template order.
pub fn render(
    template: &Template<'static>,
    params: &[&dyn RouteParam],
) -> Result<Route, RouteError> {
    template.render(|i, _, out| params[i].write_route_segment(out))
}

/// A value's text as a route parameter writes it.
pub fn segment(value: &dyn RouteParam) -> String {
    let mut out = String::new();
    value.write_route_segment(&mut out);
    out
}

/// The [`ExecuteFn`] of `A` handling `C`.
pub fn execute<A: Handle<C>, C: Command>(
    step: Step<'_>,
) -> BoxFuture<'_, Result<Stepped, crate::Error>> {
    crate::engine::step::execute::<A, C>(step)
}

/// The names of the events `A`'s handler of `C` may produce.
pub fn produced<A: Handle<C>, C: Command>(names: &mut Vec<&'static str>) {
    <<A::Output as crate::handler::HandleOutput>::Events as crate::handler::IntoEvents>::event_names(
        names,
    )
}

/// Wraps a `#[handle]` method that takes its command by value: the command is cloned,
/// since a conflict runs the method again.
#[diagnostic::on_unimplemented(
    message = "a `#[handle]` method that takes `{Self}` by value needs `{Self}: Clone`",
    note = "the command may be handled again after a conflict: derive `Clone` for `{Self}`, or take `&{Self}`"
)]
pub trait CommandByValue: Clone {}
impl<C: Clone> CommandByValue for C {}

/// `&self` of a by-value handler's command, cloned.
pub fn by_value<C: CommandByValue>(command: &C) -> C {
    command.clone()
}

/// An event declared with `#[event(…, aggregate = A)]`: it implements [`EventOf<A, true>`]
/// and this.
pub trait DeclaresAggregate {}

/// Whether event `E` declares its aggregate: [`Declared::<E>::AGGREGATE_DECLARED`] is
/// `true` when `E: DeclaresAggregate` (this inherent const), and `false` otherwise (the
/// const of [`NoAggregateDeclared`], which the caller brings into scope). Resolved where
/// `E` is a concrete type, in an `#[aggregate] impl` block's expansion.
pub struct Declared<E>(core::marker::PhantomData<E>);

impl<E: DeclaresAggregate> Declared<E> {
    /// `E` declares its aggregate.
    pub const AGGREGATE_DECLARED: bool = true;
}

/// The fallback of [`Declared::AGGREGATE_DECLARED`]: an event that declares no aggregate
/// (or whose `Event` impl is written by hand).
pub trait NoAggregateDeclared {
    /// `E` declares no aggregate.
    const AGGREGATE_DECLARED: bool = false;
}

impl<E> NoAggregateDeclared for Declared<E> {}

/// Aggregate `A` may apply the event: any aggregate when the event declares none
/// (`DECLARED` is `false`: an event in no aggregate's name, or an old one that no handler
/// produces any more), only its own when it does.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is an event of another aggregate's streams, so `{A}` cannot apply it",
    label = "an event of another aggregate",
    note = "`{Self}` names the aggregate whose streams hold it in `#[event(…, aggregate = …)]`: move this `#[apply]` method into that aggregate's `#[aggregate] impl` block, or change the event's `aggregate`"
)]
pub trait EventOf<A, const DECLARED: bool> {}

impl<E, A> EventOf<A, false> for E {}

/// Compiles when `A` is an aggregate: the check of `#[event(aggregate = A)]`.
pub const fn is_aggregate<A: crate::Aggregate>() {}

/// Compiles when aggregate `A` may apply event `E` (see [`EventOf`]).
pub const fn applies<E: EventOf<A, DECLARED>, A, const DECLARED: bool>() {}

/// A const `assert` that fails with `message` when `names` holds a duplicate.
pub const fn assert_distinct(names: &[&str], message: &str) {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if str_eq(names[i], names[j]) {
                panic!("{}", message);
            }
            j += 1;
        }
        i += 1;
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The names of the commands `T` may hold.
pub fn command_names<T: crate::handler::IntoCommands>(names: &mut Vec<&'static str>) {
    T::command_names(names)
}

/// The names of the events `T` may hold.
pub fn event_names<T: crate::handler::IntoEvents>(names: &mut Vec<&'static str>) {
    T::event_names(names)
}
