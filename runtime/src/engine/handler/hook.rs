//! Hooks: functions on commands whose route matches their pattern, before and after the
//! aggregate's part of the loop (steps 3 and 5), by ascending priority, ties by name.

use std::any::{Any, TypeId};

use crate::BoxError;
use crate::BoxFuture;
use crate::engine::handler::Cx;
use crate::engine::handler::saga::Saga;
use crate::engine::step::{Scope, store_error};
use crate::model::command::Command;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Operation, Outcome, Tracer};
use crate::store::StoreTransaction;

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum When {
    /// Before the saga steps: validate, enrich, authorize, reject.
    Before,
    /// After the saga steps, before the aggregate decides.
    After,
}

/// Runs one hook on a type-erased command. Not public API.
#[doc(hidden)]
pub type HookFn = for<'a, 'c> fn(
    &'a mut (dyn Any + Send + Sync),
    &'a mut Cx<'c>,
) -> BoxFuture<'a, Result<(), BoxError>>;

/// A `#[hook]` function. Not public API: generated code builds these.
#[doc(hidden)]
#[derive(Debug)]
pub struct HookRow {
    pub name: &'static str,
    pub module: &'static str,
    pub when: When,
    pub pattern: &'static str,
    pub priority: i32,
    /// The command it takes.
    pub command: &'static str,
    pub command_type: fn() -> TypeId,
    pub run: HookFn,
}

inventory::collect!(HookRow);

/// Runs the `when` hooks of `command`, whose route is `route`, in order. A hook that
/// changes the command's route or aggregate id is an error naming it.
pub(crate) async fn run_hooks<C: Command>(
    when: When,
    scope: &Scope<'_>,
    tx: &mut dyn StoreTransaction,
    command: &mut C,
    saga: &Saga,
    tracer: &mut Tracer,
) -> Result<(), Error> {
    let Scope {
        kernel,
        route,
        stream,
        envelope,
    } = *scope;
    let (registry, store) = (kernel.registry(), kernel.store().kind());
    for (hook, pattern) in registry.hooks_of(when, TypeId::of::<C>(), route) {
        // The hook's SQL runs inside the command's savepoint.
        tx.take_deferred_savepoint()
            .await
            .map_err(|source| store_error(C::NAME, route, source))?;
        // Boxed: a command without hooks (most) does not carry this future in its own.
        Box::pin(tracer.time(Operation::Hook, Some(hook.name), async {
            let mut cx = Cx::new(&mut *tx, envelope.actor, route, pattern, store).with_saga(saga);
            let command: &mut (dyn Any + Send + Sync) = &mut *command;
            crate::base::unwind::or_error(|| (hook.run)(command, &mut cx)).await
        }))
        .await
        .map_err(|source| ErrorKind::Hook {
            command: C::NAME,
            route: route.clone(),
            hook: hook.name,
            source,
        })?;
        let after = command.route().map_err(|source| ErrorKind::Route {
            command: C::NAME,
            source,
        })?;
        if after != *route {
            tracer.fail_last(Outcome::Failed(format!("changed the route to `{after}`")));
            return Err(ErrorKind::RouteChanged {
                command: C::NAME,
                route: route.clone(),
                hook: hook.name,
                changed_to: after,
            }
            .into());
        }
        let id = command.aggregate_id();
        if id != stream.stream_id() {
            tracer.fail_last(Outcome::Failed(format!(
                "changed the aggregate id to `{id}`"
            )));
            return Err(ErrorKind::IdChanged {
                command: C::NAME,
                route: route.clone(),
                hook: hook.name,
                field: C::ID_FIELD,
                changed_to: id,
            }
            .into());
        }
    }
    Ok(())
}
