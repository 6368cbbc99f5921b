//! Saga steps: side effects outside the database (a third party's API), each with a
//! compensation. They run between the before and after hooks (step 4 of the loop), by
//! ascending priority, ties by name; the saga log gets a row before each step and its
//! output after it, outside the command's transaction. When anything later fails, the
//! completed steps are reversed in reverse order; a process that dies mid-saga settles
//! it when it starts again (see [`recover`]).

use std::any::{Any, TypeId};
use std::time::Duration;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::actor::Actor;
use crate::aggregate::BoxError;
use crate::command::Command;
use crate::error::{Error, ErrorKind};
use crate::registry::Registry;
use crate::route::{Pattern, Route};
use crate::store::{BoxFuture, EventStore, SagaOutcome, SagaStep};
use crate::trace::{Operation, Tracer};

/// What a saga step or its compensation sees: who sent the command, its route and id (a
/// good idempotency key for a third party), the pattern's parameters, and which attempt
/// this is. There is no transaction: a saga step acts outside the database.
#[derive(Debug)]
pub struct SagaCx<'a> {
    actor: &'a Actor,
    route: &'a Route,
    pattern: Option<&'a Pattern>,
    command_id: Uuid,
    attempt: u32,
}

impl<'a> SagaCx<'a> {
    /// Who sent the command.
    pub fn actor(&self) -> &Actor {
        self.actor
    }

    /// The command's concrete route.
    pub fn route(&self) -> &Route {
        self.route
    }

    /// What the step's pattern captured as `:name` or `:name?`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.pattern?.captures(self.route.as_str())?.get(name)
    }

    /// The command's id: the same for every attempt and for the compensation.
    pub fn command_id(&self) -> Uuid {
        self.command_id
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// Runs a saga step on a type-erased command; returns its output as JSON. Not public API.
#[doc(hidden)]
pub type SagaRunFn = for<'a, 'c> fn(
    &'a (dyn Any + Send + Sync),
    &'a SagaCx<'c>,
) -> BoxFuture<'a, Result<serde_json::Value, BoxError>>;

/// Runs a step's compensation on the command's JSON and the step's output, if it
/// returned one. Not public API.
#[doc(hidden)]
pub type SagaReverseFn = for<'a, 'c> fn(
    &'a serde_json::Value,
    Option<&'a serde_json::Value>,
    &'a SagaCx<'c>,
) -> BoxFuture<'a, Result<(), BoxError>>;

/// A `#[saga_step]` function and its compensation. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct SagaStepRow {
    pub name: &'static str,
    pub module: &'static str,
    pub pattern: &'static str,
    pub priority: i32,
    pub command: &'static str,
    pub command_type: fn() -> TypeId,
    pub run: SagaRunFn,
    pub reverse: SagaReverseFn,
}

inventory::collect!(SagaStepRow);

/// What a saga step returns: `Result<output, error>`, where the output is anything that
/// serializes (it is logged, and handed to the compensation).
#[diagnostic::on_unimplemented(
    message = "a `#[saga_step]` returns `Result<output, error>`, not `{Self}`",
    note = "the output serializes (it is kept in the saga log and handed to the compensation): `()`, a reference number, a struct deriving `Serialize` and `Deserialize`"
)]
pub trait SagaOutput {
    /// The output on success.
    type Output: serde::Serialize + DeserializeOwned + Send + Sync;
    /// The output as JSON, or the error boxed.
    fn into_json(self) -> Result<serde_json::Value, BoxError>;
}

impl<T: serde::Serialize + DeserializeOwned + Send + Sync, E: Into<BoxError>> SagaOutput
    for Result<T, E>
{
    type Output = T;
    fn into_json(self) -> Result<serde_json::Value, BoxError> {
        Ok(serde_json::to_value(self.map_err(Into::into)?)?)
    }
}

/// How often a saga step or a compensation is tried before it counts as failed, and how
/// long to wait between tries: `base`, doubling, at most `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// 3 tries, waiting 100 ms then 200 ms.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try `attempt` (from 1).
    fn wait(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// Tries `op` as `policy` says; the last error and how many tries it took.
async fn retried<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, (BoxError, u32)>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>>,
{
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) if attempt >= policy.attempts.max(1) => return Err((error, attempt)),
            Err(error) => {
                tracing::debug!(%error, attempt, "saga step failed; trying again");
                tokio::time::sleep(policy.wait(attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// A completed saga step, to reverse if the command does not commit.
#[derive(Debug)]
struct Completed {
    row: &'static SagaStepRow,
    command_id: Uuid,
    payload: serde_json::Value,
    output: serde_json::Value,
    route: Route,
    actor: Actor,
}

/// The saga of one dispatch (its nested commands' included): the steps it completed,
/// and the commands whose saga log must be settled.
#[derive(Debug, Default)]
pub(crate) struct Saga {
    completed: Vec<Completed>,
    commands: Vec<Uuid>,
    /// The outputs so far, by step name, for the after hooks.
    outputs: Vec<(&'static str, serde_json::Value)>,
}

impl Saga {
    /// What step `name` returned in this dispatch, decoded.
    pub(crate) fn output<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Option<Result<T, serde_json::Error>> {
        let (_, json) = self.outputs.iter().rev().find(|(n, _)| *n == name)?;
        Some(T::deserialize(json))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Moves `other`'s steps after this one's.
    pub(crate) fn append(&mut self, other: Saga) {
        self.completed.extend(other.completed);
        self.commands.extend(other.commands);
        self.outputs.extend(other.outputs);
    }

    /// The command committed: its saga is done.
    pub(crate) async fn settle_done(self, store: &dyn EventStore) {
        for id in self.commands {
            if let Err(error) = store.sagas().settle(id, SagaOutcome::Done).await {
                // The command's row committed, so a restart settles it as done.
                tracing::warn!(%error, command_id = %id, "could not mark a saga done; it is settled at the next start");
            }
        }
    }

    /// The command did not commit: reverses the completed steps, last first. Returns
    /// what could not be reversed.
    pub(crate) async fn reverse(
        self,
        store: &dyn EventStore,
        policy: RetryPolicy,
        tracer: &mut Tracer,
    ) -> Vec<String> {
        let mut stuck = Vec::new();
        let mut stuck_commands = Vec::new();
        for done in self.completed.into_iter().rev() {
            let reversed = tracer
                .time(Operation::Reverse, Some(done.row.name), async {
                    let pattern = Pattern::parse(done.row.pattern).ok();
                    let (done, pattern) = (&done, pattern.as_ref());
                    retried(policy, move |attempt| async move {
                        let cx = SagaCx {
                            actor: &done.actor,
                            route: &done.route,
                            pattern,
                            command_id: done.command_id,
                            attempt,
                        };
                        (done.row.reverse)(&done.payload, Some(&done.output), &cx).await
                    })
                    .await
                    .map_err(|(error, _)| error)
                })
                .await;
            if let Err(error) = reversed {
                stuck.push(format!(
                    "saga step `{}` of command {} was not reversed: {error}",
                    done.row.name, done.command_id
                ));
                stuck_commands.push(done.command_id);
            }
        }
        for id in self.commands {
            let outcome = match stuck_commands.contains(&id) {
                true => SagaOutcome::Stuck,
                false => SagaOutcome::Reversed,
            };
            if let Err(error) = store.sagas().settle(id, outcome).await {
                stuck.push(format!(
                    "the saga log of command {id} was not settled: {error}"
                ));
            }
        }
        stuck
    }
}

/// Step 4: the saga steps of `command`, in order; each logged before and after, outside
/// the transaction, and retried as `policy` says.
#[allow(
    clippy::too_many_arguments,
    reason = "the loop's state, passed as it is"
)]
pub(crate) async fn run_saga<C: Command>(
    registry: &Registry,
    store: &dyn EventStore,
    policy: RetryPolicy,
    owner: Uuid,
    command: &C,
    command_id: Uuid,
    route: &Route,
    actor: &Actor,
    saga: &mut Saga,
    tracer: &mut Tracer,
) -> Result<(), Error> {
    let steps = registry.saga_steps_of(TypeId::of::<C>(), route);
    if steps.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_value(command).map_err(|source| ErrorKind::Payload {
        command: C::NAME,
        source,
    })?;
    let actor_json = serde_json::to_value(actor).map_err(|source| ErrorKind::Payload {
        command: C::NAME,
        source,
    })?;
    let log_error = |source| ErrorKind::Store {
        context: format!("the saga log of command `{}` (route `{route}`)", C::NAME),
        source,
    };
    saga.commands.push(command_id);
    for (index, (row, pattern)) in steps.into_iter().enumerate() {
        let entry = SagaStep {
            command_id,
            step: index as u32,
            name: row.name.to_owned(),
            payload: payload.clone(),
            route: route.to_string(),
            actor: actor_json.clone(),
            output: None,
        };
        store
            .sagas()
            .started(&entry, owner)
            .await
            .map_err(log_error)?;
        let ran = tracer
            .time(Operation::Saga, Some(row.name), async {
                retried(policy, move |attempt| async move {
                    let cx = SagaCx {
                        actor,
                        route,
                        pattern: Some(pattern),
                        command_id,
                        attempt,
                    };
                    (row.run)(command, &cx).await
                })
                .await
                .map_err(|(error, attempts)| {
                    Error::from(ErrorKind::Saga {
                        command: C::NAME,
                        route: route.clone(),
                        step: row.name,
                        attempts,
                        source: error,
                    })
                })
            })
            .await;
        let output = ran?;
        store
            .sagas()
            .completed(command_id, index as u32, &output)
            .await
            .map_err(log_error)?;
        saga.outputs.push((row.name, output.clone()));
        saga.completed.push(Completed {
            row,
            command_id,
            payload: payload.clone(),
            output,
            route: route.clone(),
            actor: actor.clone(),
        });
    }
    Ok(())
}

/// What starting a runtime found in the saga log: sagas of processes that died.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Sagas whose command had committed: marked done.
    pub done: usize,
    /// Sagas whose command had not committed: their steps were reversed.
    pub reversed: usize,
    /// What could not be reversed (left in the log as `stuck`).
    pub stuck: Vec<String>,
}

/// Settles the sagas of processes that died: those whose command committed are done, the
/// others have their started steps reversed, last first (a step that only started is
/// reversed without an output: it may or may not have happened).
pub(crate) async fn recover(
    registry: &Registry,
    store: &dyn EventStore,
    policy: RetryPolicy,
    owner: Uuid,
    lease: Duration,
) -> Result<Recovery, Error> {
    let fail = |source| ErrorKind::Store {
        context: "settling the sagas of a process that stopped".into(),
        source,
    };
    store.sagas().heartbeat(owner).await.map_err(fail)?;
    let orphans = store
        .sagas()
        .claim_orphans(owner, lease)
        .await
        .map_err(fail)?;
    let mut recovery = Recovery::default();
    let mut by_command: Vec<(Uuid, Vec<SagaStep>)> = Vec::new();
    for step in orphans {
        match by_command.last_mut() {
            Some((id, steps)) if *id == step.command_id => steps.push(step),
            _ => by_command.push((step.command_id, vec![step])),
        }
    }
    for (command_id, steps) in by_command {
        if store
            .read_command(command_id)
            .await
            .map_err(fail)?
            .is_some()
        {
            store
                .sagas()
                .settle(command_id, SagaOutcome::Done)
                .await
                .map_err(fail)?;
            recovery.done += 1;
            continue;
        }
        let mut stuck = false;
        for step in steps.iter().rev() {
            let Some(row) = registry.saga_step_named(&step.name) else {
                recovery.stuck.push(format!(
                    "saga step `{}` of command {command_id} is not registered in this runtime: it was not reversed",
                    step.name
                ));
                stuck = true;
                continue;
            };
            let (Ok(route), Ok(actor)) = (
                Route::parse(&step.route),
                serde_json::from_value::<Actor>(step.actor.clone()),
            ) else {
                recovery.stuck.push(format!(
                    "saga step `{}` of command {command_id}: its log row does not decode",
                    step.name
                ));
                stuck = true;
                continue;
            };
            let pattern = Pattern::parse(row.pattern).ok();
            let (actor, route, pattern) = (&actor, &route, pattern.as_ref());
            let reversed = retried(policy, move |attempt| async move {
                let cx = SagaCx {
                    actor,
                    route,
                    pattern,
                    command_id,
                    attempt,
                };
                (row.reverse)(&step.payload, step.output.as_ref(), &cx).await
            })
            .await;
            if let Err((error, _)) = reversed {
                recovery.stuck.push(format!(
                    "saga step `{}` of command {command_id} was not reversed: {error}",
                    step.name
                ));
                stuck = true;
            }
        }
        let outcome = if stuck {
            SagaOutcome::Stuck
        } else {
            SagaOutcome::Reversed
        };
        store
            .sagas()
            .settle(command_id, outcome)
            .await
            .map_err(fail)?;
        if !stuck {
            recovery.reversed += 1;
        }
    }
    for problem in &recovery.stuck {
        tracing::error!("{problem}");
    }
    Ok(recovery)
}
