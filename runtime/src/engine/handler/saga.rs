//! Saga steps: side effects outside the database (a third party's API), each with a
//! compensation. They run between the before and after hooks (step 4 of the loop), by
//! ascending priority, ties by name; the saga log gets a row before each step and its
//! output after it, outside the command's transaction. When anything later fails, the
//! completed steps are reversed in reverse order; a process that dies mid-saga settles
//! it when it starts again (see [`recover`]).

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::BoxError;
use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::base::retry::{RetryPolicy, retried};
use crate::engine::kernel::Kernel;
use crate::engine::registry::Registry;
use crate::engine::step::Scope;
use crate::model::command::Command;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Operation, Tracer};
use crate::route::{Pattern, Route};
use crate::store::{EventStore, RecordedEvent, SagaOutcome, SagaStep, StoreError};

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
    events: &'a [RecordedEvent],
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

    /// The events the command decided, appended to its stream: what a `late` step acts
    /// on. Empty for a step that runs before the aggregate decides, and in compensations.
    pub fn events(&self) -> &[RecordedEvent] {
        self.events
    }
}

/// Runs a saga step on a type-erased command. The outer error is the step's (it is tried
/// again); the inner one says its output did not serialize (the step happened: it is not
/// tried again, it is reversed without its output). Not public API.
#[doc(hidden)]
pub type SagaRunFn =
    for<'a, 'c> fn(
        &'a (dyn Any + Send + Sync),
        &'a SagaCx<'c>,
    ) -> BoxFuture<'a, Result<Result<serde_json::Value, BoxError>, BoxError>>;

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
    /// Runs after the append (`late`), not before the aggregate decides.
    pub late: bool,
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
    /// The step's error boxed, or its output as JSON (or why that failed).
    fn into_json(self) -> Result<Result<serde_json::Value, BoxError>, BoxError>;
}

impl<T: serde::Serialize + DeserializeOwned + Send + Sync, E: Into<BoxError>> SagaOutput
    for Result<T, E>
{
    type Output = T;
    fn into_json(self) -> Result<Result<serde_json::Value, BoxError>, BoxError> {
        let output = self.map_err(Into::into)?;
        Ok(crate::base::json_value::to_value(&output).map_err(Into::into))
    }
}

/// A completed saga step, to reverse if the command does not commit.
#[derive(Debug)]
struct Completed {
    row: &'static SagaStepRow,
    /// The run it belongs to.
    saga_id: Uuid,
    command_id: Uuid,
    payload: serde_json::Value,
    /// `None` when the output did not serialize.
    output: Option<serde_json::Value>,
    route: Route,
    actor: Actor,
}

/// One run of a command's saga steps in the saga log.
#[derive(Clone, Copy, Debug)]
struct Run {
    saga_id: Uuid,
    /// The command it ran for: its row commits with the transaction, or not at all.
    command_id: Uuid,
}

/// What became of a transaction whose commit reported an error (the connection can fail
/// after the database committed), as a command row it wrote tells once read back.
#[derive(Debug)]
pub(crate) enum CommitOutcome {
    Committed,
    RolledBack,
    /// The row could not be read: the store does not answer.
    Unknown(StoreError),
}

impl CommitOutcome {
    /// Reads back `witness`, the id of a command row the transaction wrote.
    pub(crate) async fn of(store: &dyn EventStore, witness: Uuid) -> Self {
        match store.read_command(witness).await {
            Ok(Some(_)) => CommitOutcome::Committed,
            Ok(None) => CommitOutcome::RolledBack,
            Err(error) => CommitOutcome::Unknown(error),
        }
    }
}

/// The saga of one dispatch (its nested commands' included): the steps it completed,
/// in order, and its runs in the saga log. Dropped unsettled (a dispatch cancelled
/// mid-way), it reverses its steps in the background.
#[derive(Debug, Default)]
pub(crate) struct Saga {
    completed: Vec<Completed>,
    /// Its commands' runs in the saga log, to settle.
    runs: Vec<Run>,
    /// The outputs so far, by step name, for the after hooks.
    outputs: Vec<(&'static str, serde_json::Value)>,
    /// What reverses it if it is dropped unsettled.
    kernel: Option<Arc<Kernel>>,
}

impl Saga {
    pub(crate) fn new(kernel: &Kernel) -> Self {
        Saga {
            completed: Vec::new(),
            runs: Vec::new(),
            outputs: Vec::new(),
            kernel: Some(kernel.shared()),
        }
    }

    /// What step `name` returned in this dispatch, decoded.
    pub(crate) fn output<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Option<Result<T, serde_json::Error>> {
        let (_, json) = self.outputs.iter().rev().find(|(n, _)| *n == name)?;
        Some(T::deserialize(json))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// A command whose row decides whether the saga's transaction committed.
    pub(crate) fn witness(&self) -> Option<Uuid> {
        self.runs.first().map(|run| run.command_id)
    }

    /// The commit of its transaction reported `source` (the connection can fail after the
    /// database committed): `witness`, a command row the transaction wrote, tells what
    /// became of it. `Ok` with the saga when it committed (the caller settles it as done);
    /// otherwise the caller's error: `fail(source)` with what could not be reversed, or
    /// [`ErrorKind::CommitUnknown`] (about `context`) when the store does not answer,
    /// the saga then settled once it does.
    pub(crate) async fn after_failed_commit(
        self,
        kernel: &Kernel,
        witness: Uuid,
        source: StoreError,
        context: impl FnOnce() -> String,
        fail: impl FnOnce(StoreError) -> Error,
        tracer: &mut Tracer,
    ) -> Result<Saga, Error> {
        match CommitOutcome::of(kernel.store(), witness).await {
            CommitOutcome::Committed => {
                tracing::warn!(%source, command_id = %witness, "the commit reported an error, but its row is there: it committed");
                Ok(self)
            }
            CommitOutcome::RolledBack => {
                let unreversed = self
                    .reverse(kernel.store(), kernel.saga_retry(), tracer)
                    .await;
                Err(fail(source).with_unreversed(unreversed))
            }
            CommitOutcome::Unknown(lookup) => {
                self.settle_when_known(kernel, witness);
                Err(ErrorKind::CommitUnknown {
                    context: context(),
                    witness,
                    source,
                    lookup,
                }
                .into())
            }
        }
    }

    /// The commit of its transaction reported an error and `witness` could not be read
    /// back: neither done nor reversed yet. A task asks the store again, waiting longer
    /// each time (up to half a minute), and settles the saga once it answers: done if
    /// `witness` committed, reversed if not. If the runtime ends first, the saga stays
    /// in the log for the next runtime's recovery, which decides the same way.
    pub(crate) fn settle_when_known(mut self, kernel: &Kernel, witness: Uuid) {
        self.kernel = None; // never reversed on drop: it may have committed
        if self.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let kernel = kernel.weak();
        handle.spawn(async move {
            let mut wait = Duration::from_millis(100);
            loop {
                tokio::time::sleep(wait).await;
                let Some(kernel) = kernel.upgrade() else {
                    return; // left in the saga log for recovery
                };
                match CommitOutcome::of(kernel.store(), witness).await {
                    CommitOutcome::Committed => return self.settle_done(kernel.store()).await,
                    CommitOutcome::RolledBack => {
                        let mut tracer = Tracer::new(Operation::Rollback, "uncertain commit");
                        let store = kernel.store();
                        for problem in self.reverse(store, kernel.saga_retry(), &mut tracer).await
                        {
                            tracing::error!("{problem}");
                        }
                        return;
                    }
                    CommitOutcome::Unknown(error) => {
                        tracing::warn!(%error, command_id = %witness, "whether a commit took effect is still unknown; asking again");
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                }
            }
        });
    }

    /// Moves `other`'s steps after this one's.
    pub(crate) fn append(&mut self, mut other: Saga) {
        self.completed.append(&mut other.completed);
        self.runs.append(&mut other.runs);
        self.outputs.append(&mut other.outputs);
    }

    /// The command committed: its saga is done.
    pub(crate) async fn settle_done(mut self, store: &dyn EventStore) {
        self.completed.clear();
        if self.runs.is_empty() {
            return;
        }
        // Boxed: a command without saga steps (most) does not carry this future in its own.
        Box::pin(async move {
            for Run { saga_id: id, .. } in std::mem::take(&mut self.runs) {
                if let Err(error) = store.sagas().settle(id, SagaOutcome::Done).await {
                    // The command's row committed with this saga's id: recovery marks it done.
                    tracing::warn!(%error, saga_id = %id, "could not mark a saga done; a later start settles it");
                }
            }
        })
        .await;
    }

    /// The command did not commit: reverses the completed steps, last first. Returns
    /// what could not be reversed.
    pub(crate) async fn reverse(
        mut self,
        store: &dyn EventStore,
        policy: RetryPolicy,
        tracer: &mut Tracer,
    ) -> Vec<String> {
        let completed = std::mem::take(&mut self.completed);
        let runs = std::mem::take(&mut self.runs);
        let mut stuck = Vec::new();
        let mut stuck_runs = Vec::new();
        for done in completed.into_iter().rev() {
            let reversed = tracer
                .time(Operation::Reverse, Some(done.row.name), async {
                    let pattern = Pattern::parse(done.row.pattern).ok();
                    let (done, pattern) = (&done, pattern.as_ref());
                    retried(policy, "saga step", move |attempt| async move {
                        let cx = SagaCx {
                            actor: &done.actor,
                            route: &done.route,
                            pattern,
                            command_id: done.command_id,
                            attempt,
                            events: &[],
                        };
                        let output = done.output.as_ref();
                        crate::base::unwind::or_error(|| {
                            (done.row.reverse)(&done.payload, output, &cx)
                        })
                        .await
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
                stuck_runs.push(done.saga_id);
            }
        }
        // A step that could not be reversed leaves its run stuck, for a person.
        for Run { saga_id: id, .. } in runs {
            let outcome = match stuck_runs.contains(&id) {
                true => SagaOutcome::Stuck,
                false => SagaOutcome::Reversed,
            };
            if let Err(error) = store.sagas().settle(id, outcome).await {
                stuck.push(format!("the saga log of run {id} was not settled: {error}"));
            }
        }
        stuck
    }
}

impl Drop for Saga {
    fn drop(&mut self) {
        if self.completed.is_empty() && self.runs.is_empty() {
            return;
        }
        let (Some(kernel), Ok(handle)) =
            (self.kernel.take(), tokio::runtime::Handle::try_current())
        else {
            return; // the saga log keeps it for recovery
        };
        let saga = Saga {
            completed: std::mem::take(&mut self.completed),
            runs: std::mem::take(&mut self.runs),
            outputs: Vec::new(),
            kernel: None,
        };
        tracing::warn!("a dispatch was dropped mid-way: reversing its saga steps");
        handle.spawn(async move {
            let mut tracer = Tracer::new(Operation::Rollback, "dropped dispatch");
            for problem in saga
                .reverse(kernel.store(), kernel.saga_retry(), &mut tracer)
                .await
            {
                tracing::error!("{problem}");
            }
        });
    }
}

/// When saga steps run: before the aggregate decides (step 4 of the loop, spool's
/// order), or `late`, once the decided events are appended (before the strong
/// reactions), with the events.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Phase<'a> {
    Early,
    Late(&'a [RecordedEvent]),
}

/// The saga steps of `command` for `phase`, in order; each logged before and after,
/// outside the transaction, and retried as the runtime's policy says. Both phases log
/// into one run (`run`, made by the first step that runs), numbering the steps by their
/// place among all of the command's steps, so that the command's row names the run
/// recovery settles.
pub(crate) async fn run_saga<C: Command>(
    scope: &Scope<'_>,
    command: &C,
    phase: Phase<'_>,
    run: &mut Option<Uuid>,
    saga: &mut Saga,
    tracer: &mut Tracer,
) -> Result<(), Error> {
    let (late, events) = match phase {
        Phase::Early => (false, &[][..]),
        Phase::Late(events) => (true, events),
    };
    let registry = scope.kernel.registry();
    let steps = registry.saga_steps_of(TypeId::of::<C>(), scope.route);
    if !steps.iter().any(|(row, _)| row.late == late) {
        return Ok(());
    }
    let payload =
        crate::base::json_value::to_value(command).map_err(|source| ErrorKind::Payload {
            command: C::NAME,
            source,
        })?;
    let actor_json =
        serde_json::to_value(scope.envelope.actor).map_err(|source| ErrorKind::Payload {
            command: C::NAME,
            source,
        })?;
    let command_id = scope.envelope.command_id;
    let saga_id = *run.get_or_insert_with(|| {
        let saga_id = Uuid::now_v7();
        saga.runs.push(Run {
            saga_id,
            command_id,
        });
        saga_id
    });
    let logged = Logged {
        scope,
        command,
        events,
        saga_id,
        payload,
        actor_json,
    };
    let steps = steps.into_iter().enumerate();
    // Boxed: a command without saga steps (most) does not carry their future in its own.
    Box::pin(async move {
        for (index, (row, pattern)) in steps.filter(|(_, (row, _))| row.late == late) {
            logged
                .run_step(index as u32, row, pattern, saga, tracer)
                .await?;
        }
        Ok(())
    })
    .await
}

/// What each saga step of a command's run is logged and run with.
struct Logged<'a, C> {
    scope: &'a Scope<'a>,
    command: &'a C,
    /// The decided events, for a late step (none for an early one).
    events: &'a [RecordedEvent],
    saga_id: Uuid,
    payload: serde_json::Value,
    actor_json: serde_json::Value,
}

impl<C: Command> Logged<'_, C> {
    /// Step `index` of the command's steps: logged as started, run (retried as the
    /// runtime's policy says), kept in `saga` to be reversed, logged with its output.
    async fn run_step(
        &self,
        index: u32,
        row: &'static SagaStepRow,
        pattern: &Pattern,
        saga: &mut Saga,
        tracer: &mut Tracer,
    ) -> Result<(), Error> {
        let Logged { scope, saga_id, .. } = *self;
        let Scope {
            kernel,
            route,
            envelope,
            ..
        } = *scope;
        let (command_id, actor) = (envelope.command_id, envelope.actor);
        let store = kernel.store();
        let log_error = |source| ErrorKind::Store {
            context: format!("the saga log of command `{}` (route `{route}`)", C::NAME),
            source,
        };
        let entry = SagaStep {
            saga_id,
            command_id,
            step: index,
            name: row.name.to_owned(),
            payload: self.payload.clone(),
            route: route.to_string(),
            actor: self.actor_json.clone(),
            output: None,
        };
        store
            .sagas()
            .started(&entry, kernel.owner())
            .await
            .map_err(log_error)?;
        let output = self.run_retried(row, pattern, tracer).await?;
        // It happened: from here on it is reversed if the command does not commit.
        saga.completed.push(Completed {
            row,
            saga_id,
            command_id,
            payload: self.payload.clone(),
            output: output.as_ref().ok().cloned(),
            route: route.clone(),
            actor: actor.clone(),
        });
        let output = output.map_err(|source| self.failed(row, source, 1))?;
        store
            .sagas()
            .completed(saga_id, index, &output)
            .await
            .map_err(log_error)?;
        saga.outputs.push((row.name, output));
        Ok(())
    }

    /// Runs step `row`, retried as the runtime's policy says (a panic is a failure),
    /// timed in the trace. The outer error is its last failure; the inner one says its
    /// output did not serialize (see [`SagaRunFn`]).
    async fn run_retried(
        &self,
        row: &'static SagaStepRow,
        pattern: &Pattern,
        tracer: &mut Tracer,
    ) -> Result<Result<serde_json::Value, BoxError>, Error> {
        let Logged {
            scope,
            command,
            events,
            ..
        } = *self;
        let Scope {
            kernel,
            route,
            envelope,
            ..
        } = *scope;
        let (command_id, actor) = (envelope.command_id, envelope.actor);
        let policy = kernel.saga_retry();
        tracer
            .time(Operation::Saga, Some(row.name), async {
                retried(policy, "saga step", move |attempt| async move {
                    let cx = SagaCx {
                        actor,
                        route,
                        pattern: Some(pattern),
                        command_id,
                        attempt,
                        events,
                    };
                    crate::base::unwind::or_error(|| (row.run)(command, &cx)).await
                })
                .await
                .map_err(|(error, attempts)| self.failed(row, error, attempts))
            })
            .await
    }

    /// Step `row` failed, after `attempts` tries.
    fn failed(&self, row: &SagaStepRow, source: BoxError, attempts: u32) -> Error {
        Error::from(ErrorKind::Saga {
            command: C::NAME,
            route: self.scope.route.clone(),
            step: row.name,
            attempts,
            source,
        })
    }
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

/// Settles the sagas of processes that died, the newest first: a saga whose command
/// committed with it is done; the others have their started steps reversed, last first
/// (a step that only started is reversed without an output: it may or may not have
/// happened).
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
    let mut runs: Vec<(Uuid, Vec<SagaStep>)> = Vec::new();
    for step in orphans {
        match runs.last_mut() {
            Some((id, steps)) if *id == step.saga_id => steps.push(step),
            _ => runs.push((step.saga_id, vec![step])),
        }
    }
    for (saga_id, steps) in runs.into_iter().rev() {
        let command_id = steps[0].command_id;
        let committed = store.read_command(command_id).await.map_err(fail)?;
        let with_this_saga = committed.is_some_and(|c| {
            c.result.get("saga").and_then(|s| s.as_str()) == Some(saga_id.to_string().as_str())
        });
        if with_this_saga {
            store
                .sagas()
                .settle(saga_id, SagaOutcome::Done)
                .await
                .map_err(fail)?;
            recovery.done += 1;
            continue;
        }
        let mut stuck = false;
        for step in steps.iter().rev() {
            if let Err(problem) = reverse_logged(registry, policy, step).await {
                recovery.stuck.push(problem);
                stuck = true;
            }
        }
        let outcome = if stuck {
            SagaOutcome::Stuck
        } else {
            SagaOutcome::Reversed
        };
        store.sagas().settle(saga_id, outcome).await.map_err(fail)?;
        if !stuck {
            recovery.reversed += 1;
        }
    }
    for problem in &recovery.stuck {
        tracing::error!("{problem}");
    }
    Ok(recovery)
}

/// Reverses a step from its log row.
async fn reverse_logged(
    registry: &Registry,
    policy: RetryPolicy,
    step: &SagaStep,
) -> Result<(), String> {
    let command_id = step.command_id;
    let row = registry.saga_step_named(&step.name).ok_or_else(|| {
        format!(
            "saga step `{}` of command {command_id} is not registered in this runtime: it was not reversed",
            step.name
        )
    })?;
    let (Ok(route), Ok(actor)) = (
        Route::parse(&step.route),
        serde_json::from_value::<Actor>(step.actor.clone()),
    ) else {
        return Err(format!(
            "saga step `{}` of command {command_id}: its log row does not decode",
            step.name
        ));
    };
    let pattern = Pattern::parse(row.pattern).ok();
    let (actor, route, pattern) = (&actor, &route, pattern.as_ref());
    retried(policy, "saga step", move |attempt| async move {
        let cx = SagaCx {
            actor,
            route,
            pattern,
            command_id,
            attempt,
            events: &[],
        };
        crate::base::unwind::or_error(|| (row.reverse)(&step.payload, step.output.as_ref(), &cx))
            .await
    })
    .await
    .map_err(|(error, _)| {
        format!(
            "saga step `{}` of command {command_id} was not reversed: {error}",
            step.name
        )
    })
}
