//! One command through the loop (DESIGN.md, "The broadcast loop"): render and authorize
//! it, take its turn on its stream (a top-level command: see [`super::queue`]), open a
//! transaction, record its id (a repeated id returns the first result), load the
//! aggregate, handle, append with the expected version (a conflict runs load, handle and
//! append again, after a growing wait), record the result and trace, commit. The
//! facade's [`Dispatch`](crate::Dispatch) configures a command and hands it here.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::base::actor::Actor;
use crate::base::json_text::JsonText;
use crate::base::unwind::caught;
use crate::engine::cache::{AggregateCache, Lookup};
use crate::engine::group::{self, GroupCommit};
use crate::engine::handler::saga::{Phase, Saga, run_saga};
use crate::engine::handler::{Nest, Scene, When, react, run_hooks};
use crate::engine::kernel::Kernel;
use crate::engine::registry::HandlerRow;
use crate::engine::step::{Envelope, Scope, Step, Stepped, store_error};
use crate::model::command::Command;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Operation, Outcome, Trace, TraceOutcome, Tracer};
use crate::route::Route;
use crate::store::{
    EventStore, RecordedCommand, RecordedEvent, ResultJson, StoreTransaction, StreamKey,
};

/// How the caller asked for a command to run.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) actor: Option<Actor>,
    pub(crate) command_id: Option<Uuid>,
    pub(crate) correlation_id: Option<Uuid>,
    pub(crate) expected_version: Option<u64>,
    /// The W3C trace context to store with its events (`traceparent`).
    pub(crate) trace_parent: Option<String>,
    /// What decides the events, when it is not the registry's handler of the command's
    /// type: an event recorded without an aggregate (see [`crate::engine::record`]).
    pub(crate) handler: Option<Handler>,
}

/// What runs steps 6 and 7 of a command: an aggregate's `#[handle]` method, a command
/// mapped to an event, or a recorded event.
#[derive(Clone, Copy)]
pub(crate) struct Handler {
    /// Its name, in errors and traces.
    pub(crate) name: &'static str,
    /// The stream type of the streams it writes.
    pub(crate) stream_type: &'static str,
    pub(crate) execute: crate::engine::step::ExecuteFn,
}

impl From<&'static HandlerRow> for Handler {
    fn from(row: &'static HandlerRow) -> Self {
        Handler {
            name: row.name,
            stream_type: row.aggregate,
            execute: row.execute,
        }
    }
}

/// A committed command: its events and the trace of every step.
#[derive(Clone, Debug)]
pub struct Dispatched {
    command_id: Uuid,
    correlation_id: Uuid,
    route: Route,
    stream: StreamKey,
    version: u64,
    events: Vec<RecordedEvent>,
    caused: Vec<RecordedEvent>,
    trace: Trace,
    repeat: bool,
    /// When its dispatch started, by the wall clock (unknown for a row of an older
    /// Herald).
    started_at: Option<SystemTime>,
}

impl Dispatched {
    /// When its dispatch started, by the wall clock: its trace's steps start that long
    /// after it.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn started_at(&self) -> Option<SystemTime> {
        self.started_at
    }

    /// The command's id.
    pub fn command_id(&self) -> Uuid {
        self.command_id
    }

    /// The correlation id its events carry.
    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }

    /// The events the command's strong processors' commands and its dispatchers
    /// appended in its transaction (and theirs in turn), in the order they were appended:
    /// they committed with it. A [repeat](Self::is_repeat) reads them back, as it reads
    /// back its own.
    pub fn caused(&self) -> &[RecordedEvent] {
        &self.caused
    }

    /// The command's concrete route.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The aggregate's stream.
    pub fn stream(&self) -> &StreamKey {
        &self.stream
    }

    /// The stream's version after the command.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The events the command recorded, in order.
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// The events the command recorded, owned.
    pub fn into_events(self) -> Vec<RecordedEvent> {
        self.events
    }

    /// Every step, timed. For a repeat, the trace of the first run.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Whether the command id had already been committed: nothing ran, and this is the
    /// first run's result.
    pub fn is_repeat(&self) -> bool {
        self.repeat
    }
}

/// What the command's row keeps once it commits.
#[derive(Serialize, Deserialize)]
pub(crate) struct CommandResult {
    pub(crate) route: String,
    pub(crate) stream: StreamKey,
    version: u64,
    events: u64,
    pub(crate) correlation_id: Uuid,
    pub(crate) trace: Trace,
    /// When its dispatch started, in microseconds since the Unix epoch (by the clock of
    /// the process that ran it): where its trace sits on the wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_us: Option<u64>,
    /// The run of its saga that committed with it, for recovery to tell it apart from a
    /// run of a process that died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saga: Option<Uuid>,
    /// Where the events its processors' commands and its dispatchers appended are, in
    /// order, so that a repeat returns them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    caused: Vec<Run>,
}

impl CommandResult {
    /// The result a command's row holds; `None` for a row a runtime of another version
    /// wrote, or one still being written.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn read(row: serde_json::Value) -> Option<Self> {
        serde_json::from_value(row).ok()
    }

    /// When its dispatch started, by the wall clock.
    pub(crate) fn started_at(&self) -> Option<SystemTime> {
        self.started_us
            .map(|us| UNIX_EPOCH + Duration::from_micros(us))
    }

    /// How many events it committed: its own and its strong reactions'.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn event_count(&self) -> u64 {
        self.events + self.caused.iter().map(|run| run.events).sum::<u64>()
    }
}

/// A [`CommandResult`] as a command writes it, borrowed from the dispatch, with the
/// trace written by the caller: JSON written by hand (see [`crate::base::json_text`]),
/// as `CommandResult`'s `Serialize` would write it.
struct ResultParts<'a> {
    route: &'a str,
    stream: &'a StreamKey,
    version: u64,
    events: u64,
    correlation_id: Uuid,
    started_us: Option<u64>,
    saga: Option<Uuid>,
    caused: &'a [Run],
}

impl ResultParts<'_> {
    fn to_json(&self, trace: impl FnOnce(&mut JsonText)) -> String {
        let mut text = JsonText::with_capacity(1024);
        text.open_object()
            .key("route")
            .string(self.route)
            .key("stream");
        self.stream.write_json(&mut text);
        text.key("version").u64(self.version);
        text.key("events").u64(self.events);
        text.key("correlation_id").uuid(self.correlation_id);
        trace(text.key("trace"));
        if let Some(started_us) = self.started_us {
            text.key("started_us").u64(started_us);
        }
        if let Some(saga) = self.saga {
            text.key("saga").uuid(saga);
        }
        if !self.caused.is_empty() {
            text.key("caused").open_array();
            for run in self.caused {
                text.open_object().key("stream");
                run.stream.write_json(&mut text);
                text.key("after")
                    .u64(run.after)
                    .key("events")
                    .u64(run.events);
                text.close_object();
            }
            text.close_array();
        }
        text.close_object();
        text.into_string()
    }
}

/// Consecutive versions of one stream: `events` events after version `after`.
#[derive(Serialize, Deserialize)]
struct Run {
    stream: StreamKey,
    after: u64,
    events: u64,
}

/// `events` as runs of consecutive versions of a stream, in their order.
fn runs(events: &[RecordedEvent]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for event in events {
        match runs.last_mut() {
            Some(run)
                if run.stream == event.stream && run.after + run.events + 1 == event.version =>
            {
                run.events += 1;
            }
            _ => runs.push(Run {
                stream: event.stream.clone(),
                after: event.version - 1,
                events: 1,
            }),
        }
    }
    runs
}

/// What step 1 found out, before any transaction.
pub(crate) struct Prepared {
    pub(crate) route: Route,
    handler: Handler,
    actor: Actor,
    stream: StreamKey,
    /// Command id and correlation id.
    pub(crate) envelope_ids: (Uuid, Uuid),
    payload_hash: Vec<u8>,
    /// Whether the caller gave the command id (else it is new, and cannot be a repeat).
    id_given: bool,
    /// What its events are caused by: the command itself, or the event a processor
    /// reacted to.
    causation_id: Uuid,
    /// The routes of the commands it is nested in and its own, outermost first.
    chain: Vec<Route>,
    /// The level of its `dispatch` node in the trace (0: the root).
    trace_level: usize,
    expected_version: Option<u64>,
    /// The W3C trace context its events keep.
    trace_parent: Option<String>,
}

pub(crate) enum Finished {
    Done(Prepared, Stepped, Vec<RecordedEvent>),
    Repeated(Dispatched),
}

impl Finished {
    /// What the caller gets back, with the dispatch's `trace` (a repeat keeps the first
    /// run's).
    pub(crate) fn into_dispatched(self, trace: Trace) -> Dispatched {
        match self {
            Finished::Done(prepared, stepped, caused) => Dispatched {
                command_id: prepared.envelope_ids.0,
                correlation_id: prepared.envelope_ids.1,
                route: prepared.route,
                stream: prepared.stream,
                version: stepped.version,
                events: stepped.events,
                caused,
                started_at: SystemTime::now().checked_sub(trace.root().duration),
                trace,
                repeat: false,
            },
            Finished::Repeated(dispatched) => dispatched,
        }
    }
}

/// Step 1: render the route, find the handler, check the actor's roles.
pub(crate) async fn prepare<C: Command>(
    kernel: &Kernel,
    command: &C,
    options: Options,
    tracer: &mut Tracer,
) -> Result<Prepared, Error> {
    let route = command.route().map_err(|source| ErrorKind::Route {
        command: C::NAME,
        source,
    })?;
    tracer.route(route.as_str());
    let registry = kernel.registry();
    let command_type = std::any::TypeId::of::<C>();
    let handler = match options.handler {
        Some(handler) => handler,
        None => Handler::from(registry.handler_of(command_type).ok_or_else(|| {
            ErrorKind::NotHandled {
                command: C::NAME,
                route: route.clone(),
                left_out: registry
                    .left_out_handler_of(command_type)
                    .map(|row| (row.name, row.module)),
            }
        })?),
    };
    let actor = options.actor.unwrap_or_else(Actor::system);
    tracer
        .time(Operation::Authorize, Some(actor.id()), async {
            if actor.may_send(C::ROLES) {
                return Ok(());
            }
            let (route, actor) = (route.clone(), actor.id().to_owned());
            Err(Error::from(ErrorKind::Forbidden {
                command: C::NAME,
                route,
                actor,
                roles: C::ROLES,
            }))
        })
        .await?;
    let stream = StreamKey::new(actor.tenant(), handler.stream_type, command.aggregate_id())
        .map_err(|source| ErrorKind::InvalidId {
            command: C::NAME,
            route: route.clone(),
            field: C::ID_FIELD,
            source: source.into(),
        })?;
    let payload = serde_json::to_vec(command).map_err(|source| ErrorKind::Payload {
        command: C::NAME,
        source,
    })?;
    let payload_hash = Sha256::new()
        // The tenant too: a command id is never a way into another tenant's results.
        .chain_update(actor.tenant())
        .chain_update([0])
        .chain_update(C::NAME)
        .chain_update([0])
        .chain_update(payload)
        .finalize()
        .to_vec();
    let id_given = options.command_id.is_some();
    let command_id = options.command_id.unwrap_or_else(Uuid::now_v7);
    let correlation_id = options.correlation_id.unwrap_or(command_id);
    let span = tracer.span();
    if !span.is_none() {
        // The ids as the `&str`s that a layer keeps (a `String` each for OpenTelemetry's
        // attributes), written without the formatting machinery that `display` goes through.
        let mut buffer = Uuid::encode_buffer();
        span.record(
            "command_id",
            &*command_id.hyphenated().encode_lower(&mut buffer),
        );
        span.record(
            "correlation_id",
            &*correlation_id.hyphenated().encode_lower(&mut buffer),
        );
        span.record("stream", tracing::field::display(&stream));
    }
    let trace_parent = options
        .trace_parent
        .or_else(|| crate::telemetry::context_of(span));
    Ok(Prepared {
        trace_parent,
        chain: vec![route.clone()],
        route,
        handler,
        actor,
        stream,
        envelope_ids: (command_id, correlation_id),
        payload_hash,
        id_given,
        causation_id: command_id,
        trace_level: 0,
        expected_version: options.expected_version,
    })
}

/// A top-level command in a transaction of its own, traced from start to end: what
/// [`Dispatch`](crate::Dispatch) and a command decoded from JSON run.
pub(crate) async fn alone<C: Command>(
    kernel: &Kernel,
    command: &mut C,
    options: Options,
) -> Result<Dispatched, Error> {
    // The dispatch's span is not entered as a whole (that would cost at every poll):
    // each step's span names it as its parent, and is entered while the step runs.
    let mut tracer = Tracer::new(Operation::Dispatch, C::NAME);
    let result = in_own_transaction(kernel, command, options, &mut tracer).await;
    finish::<C>(tracer, result)
}

/// What a top-level dispatch's metrics call its outcome.
fn outcome_label(result: &Result<Finished, Error>) -> &'static str {
    match result {
        Ok(Finished::Done(..)) => "ok",
        Ok(Finished::Repeated(_)) => "repeat",
        Err(error) => match error.kind() {
            ErrorKind::Conflict { .. } => "conflict",
            ErrorKind::Rejected { .. } | ErrorKind::Hook { .. } => "rejected",
            ErrorKind::Forbidden { .. } => "forbidden",
            _ => "error",
        },
    }
}

/// The caller's result of a dispatch that ran: the trace joins it, or its error.
pub(crate) fn finish<C: Command>(
    tracer: Tracer,
    result: Result<Finished, Error>,
) -> Result<Dispatched, Error> {
    if let Ok(Finished::Done(_, stepped, _)) = &result {
        tracer.span().record("version", stepped.version);
    }
    let trace = tracer.finish(match &result {
        Ok(_) => Outcome::Ok,
        Err(error) => error.outcome(),
    });
    crate::telemetry::metrics::command(C::NAME, outcome_label(&result), trace.root().duration);
    Ok(result
        .map_err(|error| error.with_trace(trace.clone()))?
        .into_dispatched(trace))
}

/// A dispatch in a transaction of its own: a top-level command, which takes its turn on
/// its stream before the transaction opens and gives it up once the runtime's cache has
/// what it committed, so that the next command on the stream finds it there. Only
/// top-level commands queue, never one that holds a transaction while it waits: a
/// processor's command (nested in its parent's transaction) or one in a caller's
/// [`HeraldTransaction`](crate::HeraldTransaction) would wait for a turn whose holder
/// may wait for that transaction's locks (on SQLite the writer's, on PostgreSQL a row's).
pub(crate) async fn in_own_transaction<C: Command>(
    kernel: &Kernel,
    command: &mut C,
    options: Options,
    tracer: &mut Tracer,
) -> Result<Finished, Error> {
    let prepared = prepare(kernel, command, options, tracer).await?;
    let place = kernel.streams().join(&prepared.stream);
    let turn = match place.has_turn() {
        true => place,
        false => {
            let waited = async {
                place.turn().await.map_err(|waited| {
                    Error::from(ErrorKind::StreamBusy {
                        command: C::NAME,
                        route: prepared.route.clone(),
                        stream: prepared.stream.clone(),
                        waited,
                    })
                })
            };
            tracer.time(Operation::Queue, None, waited).await?
        }
    };
    // Alone, here rather than inside `in_group`: each future holds the futures it awaits,
    // and the dispatch's (boxed at every call) was twice the size with it there.
    let ran = {
        let grouped = match grouped::<C>(kernel, &prepared) {
            Some(group) => in_group(kernel, group, command, &prepared, tracer, turn).await?,
            None => Grouped::Alone(turn),
        };
        match grouped {
            Grouped::Ran(ran) => ran,
            Grouped::Alone(turn) => {
                in_transaction_alone(kernel, command, &prepared, tracer, turn).await?
            }
        }
    };
    Ok(match ran {
        Ran::Committed(stepped, caused) => Finished::Done(prepared, stepped, caused),
        Ran::Repeated(first) => *first,
    })
}

/// What a top-level command's transaction came to.
enum Ran {
    /// It committed what it appended, and what its strong reactions appended in turn.
    Committed(Stepped, Vec<RecordedEvent>),
    /// The command id was committed before: the first run's result.
    Repeated(Box<Finished>),
}

/// How a command that joined a group commit ran.
enum Grouped<'q> {
    Ran(Ran),
    /// The group runs it alone (see [`group::Start::Alone`]), with its turn.
    Alone(crate::engine::queue::Place<'q>),
}

/// The group commit a command joins, if any: top-level commands without a saga step
/// (a saga's log and its reversal are per transaction), and never one dispatched from
/// inside another's steps, which would wait for the transaction its caller holds.
fn grouped<'k, C: Command>(
    kernel: &'k Kernel,
    prepared: &Prepared,
) -> Option<&'k Arc<GroupCommit>> {
    let group = kernel.group()?;
    if group::is_inside() {
        return None;
    }
    let registry = kernel.registry();
    let has_saga = registry.has_saga_steps(std::any::TypeId::of::<C>(), &prepared.route);
    (!has_saga).then_some(group)
}

/// A top-level command in a transaction it shares with the commands dispatched beside
/// it (see [`super::group`]): its steps under a savepoint of their own, one commit for
/// all. Its result, trace, saga and errors are its own, as alone.
async fn in_group<'q, C: Command>(
    kernel: &Kernel,
    group: &Arc<GroupCommit>,
    command: &mut C,
    prepared: &Prepared,
    tracer: &mut Tracer,
    turn: crate::engine::queue::Place<'q>,
) -> Result<Grouped<'q>, Error> {
    let fail_store = |source| store_error(C::NAME, &prepared.route, source);
    let started = async {
        loop {
            let mut member = group.join(prepared.envelope_ids.0).await;
            match member.start(kernel.store()).await? {
                group::Start::Ready => return Ok(Some(member)),
                group::Start::Alone => return Ok(None),
                group::Start::Broken => {}
            }
        }
    };
    let started = tracer.time(Operation::Begin, None, started).await;
    let Some(mut member) = started.map_err(fail_store)? else {
        return Ok(Grouped::Alone(turn));
    };
    let own = AggregateCache::new(kernel.cache().capacity());
    let cache = Lookup {
        own: Some(&own),
        committed: kernel.cache(),
    };
    let mut saga = Saga::new(kernel);
    let ran = group::inside(steps(
        kernel,
        member.tx(),
        cache,
        command,
        prepared,
        tracer,
        &mut saga,
    ))
    .await;
    let kept = matches!(ran, Ok(Steps::Done(..)));
    let ended = match kept {
        true => member.end(true).await,
        false => {
            tracer
                .time(Operation::Rollback, None, member.end(false))
                .await
        }
    };
    match ran {
        Ok(Steps::Done(stepped, caused)) => {
            let committed = match ended {
                Ok(()) => {
                    tracer
                        .time(Operation::Commit, None, member.committed())
                        .await
                }
                Err(source) => Err(source),
            };
            if let Ok(commands @ 2..) = committed {
                tracer.detail(format!(
                    "committed in one transaction with {} other commands",
                    commands - 1
                ));
            }
            let committed = committed.map(drop);
            settle_commit::<C>(kernel, prepared, committed, saga, own, turn, tracer).await?;
            Ok(Grouped::Ran(Ran::Committed(stepped, caused)))
        }
        Ok(Steps::Repeat(earlier)) => {
            Box::pin(repeated::<C>(kernel, prepared, ended, turn, earlier))
                .await
                .map(Grouped::Ran)
        }
        Err(error) => {
            drop(turn);
            Err(Box::pin(undo(kernel, saga, error, tracer)).await)
        }
    }
}

/// A top-level command in a transaction of its own.
async fn in_transaction_alone<C: Command>(
    kernel: &Kernel,
    command: &mut C,
    prepared: &Prepared,
    tracer: &mut Tracer,
    turn: crate::engine::queue::Place<'_>,
) -> Result<Ran, Error> {
    let fail_store = |source| store_error(C::NAME, &prepared.route, source);
    let mut tx = tracer
        .time(Operation::Begin, None, kernel.store().begin())
        .await
        .map_err(fail_store)?;
    // The aggregates of this dispatch (its nested commands see them), for the runtime's
    // cache once it commits.
    let own = AggregateCache::new(kernel.cache().capacity());
    let cache = Lookup {
        own: Some(&own),
        committed: kernel.cache(),
    };
    let mut saga = Saga::new(kernel);
    match steps(
        kernel, &mut *tx, cache, command, prepared, tracer, &mut saga,
    )
    .await
    {
        Ok(Steps::Done(stepped, caused)) => {
            let committed = tracer.time(Operation::Commit, None, tx.commit()).await;
            settle_commit::<C>(kernel, prepared, committed, saga, own, turn, tracer).await?;
            Ok(Ran::Committed(stepped, caused))
        }
        Ok(Steps::Repeat(earlier)) => {
            let rolled_back = tracer.time(Operation::Rollback, None, tx.rollback()).await;
            Box::pin(repeated::<C>(kernel, prepared, rolled_back, turn, earlier)).await
        }
        Err(error) => {
            // The error is what the caller needs; a failed rollback shows in the trace.
            let _ = tracer.time(Operation::Rollback, None, tx.rollback()).await;
            drop(turn);
            Err(Box::pin(undo(kernel, saga, error, tracer)).await)
        }
    }
}

/// After a top-level command's commit: when the commit reported an error, the command's
/// own row tells whether the database committed after all (else the error, its saga
/// reversed); then the next command on the stream finds the aggregate in the cache, and
/// the saga is settled as done.
async fn settle_commit<C: Command>(
    kernel: &Kernel,
    prepared: &Prepared,
    committed: Result<(), crate::store::StoreError>,
    mut saga: Saga,
    own: AggregateCache,
    turn: crate::engine::queue::Place<'_>,
    tracer: &mut Tracer,
) -> Result<(), Error> {
    if let Err(source) = committed {
        let fail_store = |source| store_error(C::NAME, &prepared.route, source);
        let context = || {
            format!(
                "committing command `{}` (route `{}`)",
                C::NAME,
                prepared.route
            )
        };
        let id = prepared.envelope_ids.0;
        let settled = saga.after_failed_commit(kernel, id, source, context, fail_store, tracer);
        saga = Box::pin(settled).await?;
    }
    own.move_into(kernel.cache());
    drop(turn);
    saga.settle_done(kernel.store()).await;
    Ok(())
}

/// A top-level command whose id was committed before, its transaction (or savepoint)
/// undone (`undone`): the first run's result, read back once the stream's turn is given up.
async fn repeated<C: Command>(
    kernel: &Kernel,
    prepared: &Prepared,
    undone: Result<(), crate::store::StoreError>,
    turn: crate::engine::queue::Place<'_>,
    earlier: RecordedCommand,
) -> Result<Ran, Error> {
    drop(turn);
    undone.map_err(|source| store_error(C::NAME, &prepared.route, source))?;
    let first = first_result::<C>(Reader::Store(kernel.store()), prepared, earlier);
    Ok(Ran::Repeated(Box::new(first.await?)))
}

/// The waits before the runs of steps 6 and 7 after a conflict: the first at once (the
/// stream is read again, in the transaction, and the writer that got there first has
/// committed), each later one longer and spread at random, so that writers that keep
/// meeting on a stream fall out of step.
fn conflict_backoff(attempt: u32) -> std::time::Duration {
    let policy = crate::base::retry::RetryPolicy::new(u32::MAX)
        .base(std::time::Duration::from_millis(2))
        .cap(std::time::Duration::from_millis(100))
        .jitter(0.5);
    match attempt {
        0 | 1 => std::time::Duration::ZERO,
        _ => policy.wait(attempt - 1),
    }
}

/// After a dispatch failed: reverses its completed saga steps, last first; what could not
/// be reversed joins the error.
pub(crate) async fn undo(kernel: &Kernel, saga: Saga, error: Error, tracer: &mut Tracer) -> Error {
    if saga.is_empty() {
        return error;
    }
    let unreversed = saga
        .reverse(kernel.store(), kernel.saga_retry(), tracer)
        .await;
    error.with_unreversed(unreversed)
}

/// What steps 2 to 8 did.
pub(crate) enum Steps {
    /// It ran: what it appended, and what its strong reactions appended in turn.
    Done(Stepped, Vec<RecordedEvent>),
    /// The command id was already committed, with the same payload.
    Repeat(RecordedCommand),
}

/// Steps 2 to 8 in `tx`, which they leave open.
pub(crate) async fn steps<C: Command>(
    kernel: &Kernel,
    tx: &mut dyn StoreTransaction,
    cache: Lookup<'_>,
    command: &mut C,
    prepared: &Prepared,
    tracer: &mut Tracer,
    saga: &mut Saga,
) -> Result<Steps, Error> {
    let (command_id, correlation_id) = prepared.envelope_ids;

    // 2. The command id is a unique row: a repeat waits for and finds the first.
    if let Some(earlier) = record_command_id::<C>(&mut *tx, prepared, tracer).await? {
        return Ok(Steps::Repeat(earlier));
    }

    let envelope = Envelope {
        command_id,
        correlation_id,
        causation_id: prepared.causation_id,
        actor: &prepared.actor,
        trace_parent: prepared.trace_parent.as_deref(),
    };
    let route = &prepared.route;
    let scope = Scope {
        kernel,
        route,
        stream: &prepared.stream,
        envelope: &envelope,
    };

    // 3-5. Before hooks, saga steps (outside the transaction, logged), after hooks.
    // Hooks may change the command, not its route or aggregate.
    run_hooks(When::Before, &scope, &mut *tx, command, saga, tracer).await?;
    let mut saga_id = None;
    run_saga(&scope, &*command, Phase::Early, &mut saga_id, saga, tracer).await?;
    run_hooks(When::After, &scope, &mut *tx, command, saga, tracer).await?;

    // 6-7. Load, handle, append.
    let mut stepped = load_handle_append(
        kernel, &mut *tx, cache, &*command, prepared, &envelope, tracer,
    )
    .await?;

    // A processor's command on this aggregate sees it as it is now.
    if let Some(own) = cache.own {
        stepped.remember(own, &prepared.stream);
    }

    // 7b. Late saga steps, on the decided and appended events: a refused or conflicting
    // command never reaches them, and a conflict's retry has run by now.
    let late = Phase::Late(&stepped.events);
    run_saga(&scope, &*command, late, &mut saga_id, saga, tracer).await?;

    // 8. The strong projectors, processors and dispatchers of each new event.
    let scene = Scene {
        kernel,
        cache,
        actor: &prepared.actor,
        command_id,
        correlation_id,
        command: C::NAME,
        route,
        chain: &prepared.chain,
        trace_parent: prepared.trace_parent.as_deref(),
    };
    let caused = react(&scene, &mut *tx, &stepped.events, Vec::new(), tracer, saga).await?;

    // 9 (before the commit).
    keep_result::<C>(tx, prepared, &stepped, &caused, saga_id, tracer).await?;
    Ok(Steps::Done(stepped, caused))
}

/// Step 2: records the command id given by the caller, a unique row, and returns the
/// first run when it is a repeat with the same payload (the same id with another payload
/// is an error). An id the runtime just made cannot have been used: its row is simply
/// written at the end.
async fn record_command_id<C: Command>(
    tx: &mut dyn StoreTransaction,
    prepared: &Prepared,
    tracer: &mut Tracer,
) -> Result<Option<RecordedCommand>, Error> {
    if !prepared.id_given {
        return Ok(None);
    }
    let (command_id, _) = prepared.envelope_ids;
    let recorded = tx.record_command(command_id, &prepared.payload_hash);
    let earlier = tracer
        .time(Operation::Record, None, recorded)
        .await
        .map_err(|source| store_error(C::NAME, &prepared.route, source))?;
    let Some(earlier) = earlier else {
        return Ok(None);
    };
    if earlier.payload_hash != prepared.payload_hash {
        let route = prepared.route.clone();
        return Err(ErrorKind::CommandIdReused {
            command: C::NAME,
            route,
            command_id,
        }
        .into());
    }
    tracer.detail("repeat of a committed command".to_owned());
    Ok(Some(earlier))
}

/// Steps 6 and 7: load the aggregate, handle the command, append its events. A conflict
/// runs them again, unless the caller gave the version. Nothing needs undoing first: they
/// only read until the append, and an append that conflicts writes nothing (the store
/// contract).
async fn load_handle_append<C: Command>(
    kernel: &Kernel,
    tx: &mut dyn StoreTransaction,
    cache: Lookup<'_>,
    command: &C,
    prepared: &Prepared,
    envelope: &Envelope<'_>,
    tracer: &mut Tracer,
) -> Result<Stepped, Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let step = Step {
            tx: &mut *tx,
            command,
            route: &prepared.route,
            stream: &prepared.stream,
            expected: prepared.expected_version,
            attempt,
            envelope,
            tracer: &mut *tracer,
            cache,
        };
        let executed = caught(|| (prepared.handler.execute)(step)).await;
        let executed = executed.unwrap_or_else(|panic| {
            Err(ErrorKind::Panicked {
                command: C::NAME,
                route: prepared.route.clone(),
                handler: prepared.handler.name,
                message: panic.0,
            }
            .into())
        });
        match executed {
            Ok(stepped) => return Ok(stepped),
            Err(error)
                if error.is_conflict()
                    && prepared.expected_version.is_none()
                    && attempt <= kernel.conflict_retries() =>
            {
                crate::telemetry::metrics::conflict(C::NAME);
                let wait = conflict_backoff(attempt);
                tracing::debug!(%error, attempt, ?wait, "conflict; running load, handle and append again");
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            Err(error) => {
                if error.is_conflict() {
                    crate::telemetry::metrics::conflict(C::NAME);
                }
                let version_given = prepared.expected_version.is_some();
                return Err(after_attempts(error, attempt, version_given));
            }
        }
    }
}

/// The error that ends steps 6 and 7: a conflict says how many attempts were made and
/// whether the caller gave the version; any other error is as it was.
fn after_attempts(error: Error, attempts: u32, version_given: bool) -> Error {
    match error.into_kind() {
        ErrorKind::Conflict {
            command,
            route,
            conflict,
            ..
        } => ErrorKind::Conflict {
            command,
            route,
            conflict,
            attempts,
            version_given,
        }
        .into(),
        other => other.into(),
    }
}

/// Step 9, before the commit: the command's row keeps its result and trace.
async fn keep_result<C: Command>(
    tx: &mut dyn StoreTransaction,
    prepared: &Prepared,
    stepped: &Stepped,
    caused: &[RecordedEvent],
    saga: Option<Uuid>,
    tracer: &mut Tracer,
) -> Result<(), Error> {
    let (command_id, correlation_id) = prepared.envelope_ids;
    let started = SystemTime::now().checked_sub(tracer.open_for(prepared.trace_level));
    let parts = ResultParts {
        route: prepared.route.as_str(),
        stream: &prepared.stream,
        version: stepped.version,
        events: stepped.events.len() as u64,
        correlation_id,
        started_us: started
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        saga,
        caused: &runs(caused),
    };
    let result = parts.to_json(|text| tracer.write_current_at(prepared.trace_level, text));
    let finished = tx.finish_command(
        command_id,
        &prepared.payload_hash,
        ResultJson::written(&result),
    );
    tracer
        .time(Operation::Finish, None, finished)
        .await
        .map_err(|source| store_error(C::NAME, &prepared.route, source))?;
    Ok(())
}

/// Where a repeated command's events are read back from.
pub(crate) enum Reader<'a> {
    Store(&'a dyn EventStore),
    Transaction(&'a mut dyn StoreTransaction),
}

/// The first result of a command whose id was already recorded: its events read back.
pub(crate) async fn first_result<C: Command>(
    reader: Reader<'_>,
    prepared: &Prepared,
    earlier: RecordedCommand,
) -> Result<Finished, Error> {
    let fail_store = |source| store_error(C::NAME, &prepared.route, source);
    let result: CommandResult =
        serde_json::from_value(earlier.result).map_err(|source| ErrorKind::Payload {
            command: C::NAME,
            source,
        })?;
    let (command_id, route) = (prepared.envelope_ids.0, prepared.route.clone());
    let read = read_back(reader, command_id, route, result).await;
    Ok(Finished::Repeated(read.map_err(fail_store)?))
}

/// A committed command's result with its events, read back from the store.
async fn read_back(
    reader: Reader<'_>,
    command_id: Uuid,
    route: Route,
    result: CommandResult,
) -> Result<Dispatched, crate::store::StoreError> {
    let mut reader = reader;
    let own = Run {
        stream: result.stream.clone(),
        after: result.version - result.events,
        events: result.events,
    };
    let events = read_run(&mut reader, &own).await?;
    let mut caused = Vec::new();
    for run in &result.caused {
        caused.extend(read_run(&mut reader, run).await?);
    }
    Ok(Dispatched {
        command_id,
        started_at: result.started_at(),
        correlation_id: result.correlation_id,
        route,
        stream: result.stream,
        version: result.version,
        events,
        caused,
        trace: result.trace,
        repeat: true,
    })
}

/// The events of `run`, read back.
async fn read_run(
    reader: &mut Reader<'_>,
    run: &Run,
) -> Result<Vec<RecordedEvent>, crate::store::StoreError> {
    let events = match reader {
        Reader::Store(store) => store.read_stream(&run.stream, run.after).await,
        Reader::Transaction(tx) => tx.load_stream(&run.stream, run.after).await,
    }?;
    Ok(events.into_iter().take(run.events as usize).collect())
}

/// The result of committed command `command_id` in `tenant`, its events read back;
/// `None` when no command of the tenant has that id.
#[cfg(feature = "http")]
pub(crate) async fn recorded(
    store: &dyn EventStore,
    tenant: &str,
    command_id: Uuid,
) -> Result<Option<Dispatched>, Error> {
    let context = || format!("reading command {command_id}");
    let fail = |source| ErrorKind::Store {
        context: context(),
        source,
    };
    let Some(earlier) = store.read_command(command_id).await.map_err(fail)? else {
        return Ok(None);
    };
    // A row a runtime of another version wrote, or one still being written: not a result.
    let Ok(result) = serde_json::from_value::<CommandResult>(earlier.result) else {
        return Ok(None);
    };
    if result.stream.tenant() != tenant {
        return Ok(None);
    }
    let Ok(route) = Route::parse(&result.route) else {
        return Ok(None);
    };
    let read = read_back(Reader::Store(store), command_id, route, result).await;
    Ok(Some(read.map_err(fail)?))
}

/// A processor's command: steps 1 to 8 in its parent's transaction, as the same actor,
/// with the command id the processor's event, name and index give it, caused by that
/// event. A command id already recorded (the processor ran on this event before) runs
/// nothing again.
pub(crate) async fn nested<C: Command>(
    mut command: C,
    nest: Nest<'_>,
) -> Result<Vec<RecordedEvent>, Error> {
    let Nest {
        kernel,
        tx,
        cache,
        actor,
        correlation_id,
        event,
        command_id,
        chain,
        tracer,
        saga,
        may_repeat,
        trace_parent,
    } = nest;
    let trace_level = tracer.depth();
    tracer.open(Operation::Dispatch, Some(C::NAME));
    let result = async {
        let options = Options {
            actor: Some(actor.clone()),
            command_id: Some(command_id),
            correlation_id: Some(correlation_id),
            expected_version: None,
            trace_parent: trace_parent.map(str::to_owned),
            handler: None,
        };
        let mut prepared = prepare(kernel, &command, options, tracer).await?;
        prepared.causation_id = event.event_id;
        // A strong processor's event was appended in this very transaction, so no command
        // derived from it can be recorded yet: nothing to look up (its row is written at
        // the end, which is what makes a later run of the processor on this event a
        // repeat). An eventual processor's event may be handled again.
        prepared.id_given = may_repeat;
        prepared.chain = chain.iter().chain([&prepared.route]).cloned().collect();
        prepared.trace_level = trace_level;
        let limit = kernel.max_nesting();
        if prepared.chain.len() > limit + 1 {
            return Err(Error::from(ErrorKind::Nesting {
                chain: prepared.chain,
                limit,
            }));
        }
        // `steps` keeps the aggregate in the dispatch's cache.
        let ran = steps(
            kernel,
            &mut *tx,
            cache,
            &mut command,
            &prepared,
            tracer,
            saga,
        );
        match ran.await? {
            Steps::Done(stepped, caused) => Ok(stepped.events.into_iter().chain(caused).collect()),
            Steps::Repeat(_) => {
                tracer.detail("ran before, for the same event".to_owned());
                Ok(Vec::new())
            }
        }
    }
    .await;
    tracer.close(match &result {
        Ok(_) => Outcome::Ok,
        Err(error) => error.outcome(),
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_written_as_serde_writes_it() {
        let stream = |id: &str| serde_json::json!({"tenant": "t\"1", "stream_type": "account", "stream_id": id});
        let trace = serde_json::json!({
            "op": "dispatch", "handler": "Open", "route": "open.1", "start": 0, "took": 9,
            "outcome": {"failed": "no\n"},
            "children": [{"op": "load", "detail": "cached at version 2", "start": 1, "took": 2}],
        });
        let full = serde_json::json!({
            "route": "open.1", "stream": stream("1"), "version": 3, "events": 2,
            "correlation_id": Uuid::now_v7(), "trace": trace, "started_us": 1_700_000_000_000_000_u64,
            "saga": Uuid::now_v7(),
            "caused": [{"stream": stream("2"), "after": 0, "events": 1}, {"stream": stream("3"), "after": 5, "events": 2}],
        });
        let mut bare = full.clone();
        for key in ["started_us", "saga", "caused"] {
            bare.as_object_mut().unwrap().remove(key);
        }
        for json in [full, bare] {
            let result: CommandResult = serde_json::from_value(json).unwrap();
            let parts = ResultParts {
                route: &result.route,
                stream: &result.stream,
                version: result.version,
                events: result.events,
                correlation_id: result.correlation_id,
                started_us: result.started_us,
                saga: result.saga,
                caused: &result.caused,
            };
            let written = parts.to_json(|text| result.trace.write_json(text));
            assert_eq!(written, serde_json::to_string(&result).unwrap());
        }
    }
}
