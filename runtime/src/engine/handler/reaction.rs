//! Step 8 of the loop: for each new event, the strong projectors, processors and
//! dispatchers whose pattern matches it, together, by ascending priority, ties by name;
//! then the same for the side events the dispatchers appended.

use uuid::Uuid;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::engine::cache::Lookup;
use crate::engine::handler::dispatcher::side_stream_type;
use crate::engine::handler::processor::{Nest, derived_id};
use crate::engine::handler::saga::Saga;
use crate::engine::handler::{Cx, DispatcherRow, ProcessorRow, ProjectorRow};
use crate::engine::kernel::Kernel;
use crate::engine::step::{Envelope, new_event, store_error};
use crate::model::event::AnyEvent;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{At, Operation, Tracer};
use crate::route::{Pattern, Route};
use crate::store::{RecordedEvent, StoreError, StoreTransaction, StreamKey};

/// A strong handler of an event.
#[derive(Clone, Copy)]
pub(crate) enum Reaction<'r> {
    Project(&'static ProjectorRow, &'r Pattern),
    Process(&'static ProcessorRow, &'r Pattern),
    Dispatch(&'static DispatcherRow, &'r Pattern),
}

impl<'r> Reaction<'r> {
    pub(crate) fn order(&self) -> (i32, &'static str) {
        match self {
            Reaction::Project(p, _) => (p.priority, p.name),
            Reaction::Process(p, _) => (p.priority, p.name),
            Reaction::Dispatch(d, _) => (d.priority, d.name),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.order().1
    }

    pub(crate) fn pattern(&self) -> &'r Pattern {
        match self {
            Reaction::Project(_, p) | Reaction::Process(_, p) | Reaction::Dispatch(_, p) => p,
        }
    }

    /// The event type it takes, or `None` for any.
    fn event(&self) -> Option<&'static str> {
        match self {
            Reaction::Project(p, _) => p.event,
            Reaction::Process(p, _) => p.event,
            Reaction::Dispatch(d, _) => d.event,
        }
    }

    /// Whether it runs on `event`: its pattern matches the route, and it takes the type.
    pub(crate) fn takes(&self, event: &RecordedEvent) -> bool {
        self.event().is_none_or(|name| name == event.name)
            && self.pattern().matches(event.route.as_str())
    }
}

/// What the handlers of a command's events share.
pub(crate) struct Scene<'a> {
    pub(crate) kernel: &'a Kernel,
    pub(crate) cache: Lookup<'a>,
    pub(crate) actor: &'a Actor,
    pub(crate) command_id: Uuid,
    pub(crate) correlation_id: Uuid,
    /// The command's name and route, for errors.
    pub(crate) command: &'static str,
    pub(crate) route: &'a Route,
    /// The routes of the commands it is nested in and its own, outermost first.
    pub(crate) chain: &'a [Route],
    /// The W3C trace context its events keep.
    pub(crate) trace_parent: Option<&'a str>,
}

/// Runs the strong handlers of `events`, in order; `side` holds the routes of the side
/// events that led to these, when they are side events themselves. Returns the events
/// they appended in turn (their processors' commands', their dispatchers'), in the order
/// they were appended.
pub(crate) fn react<'a>(
    scene: &'a Scene<'a>,
    tx: &'a mut dyn StoreTransaction,
    events: &'a [RecordedEvent],
    side: Vec<Route>,
    tracer: &'a mut Tracer,
    saga: &'a mut Saga,
) -> BoxFuture<'a, Result<Vec<RecordedEvent>, Error>> {
    Box::pin(async move {
        let limit = scene.kernel.max_nesting();
        if scene.chain.len() + side.len() > limit + 1 {
            let chain = scene.chain.iter().chain(&side).cloned().collect();
            return Err(ErrorKind::Nesting { chain, limit }.into());
        }
        if !events.is_empty() {
            // The handlers' SQL runs inside the command's savepoint: the append that
            // wrote `events` took it where the store defers it, so this is a safeguard.
            tx.take_deferred_savepoint()
                .await
                .map_err(|source| store_error(scene.command, scene.route, source))?;
        }
        let mut caused = Vec::new();
        for event in events {
            let more = react_to(scene, &mut *tx, event, &side, &mut *tracer, &mut *saga).await?;
            caused.extend(more);
        }
        Ok(caused)
    })
}

/// Runs the strong handlers of one event.
async fn react_to(
    scene: &Scene<'_>,
    tx: &mut dyn StoreTransaction,
    event: &RecordedEvent,
    side: &[Route],
    tracer: &mut Tracer,
    saga: &mut Saga,
) -> Result<Vec<RecordedEvent>, Error> {
    let mut caused = Vec::new();
    for reaction in scene.kernel.registry().strong_reactions_of(event) {
        match reaction {
            Reaction::Project(projector, pattern) => {
                project(scene, &mut *tx, event, (projector, pattern), tracer).await?;
            }
            Reaction::Process(processor, pattern) => {
                let row = (processor, pattern);
                let more = process(scene, &mut *tx, event, row, &mut *tracer, &mut *saga).await?;
                caused.extend(more);
            }
            Reaction::Dispatch(dispatcher, pattern) => {
                let row = (dispatcher, pattern);
                let more = dispatch(scene, &mut *tx, event, side, row, &mut *tracer, &mut *saga);
                caused.extend(more.await?);
            }
        }
    }
    Ok(caused)
}

/// Runs a strong projector on `event`.
async fn project(
    scene: &Scene<'_>,
    tx: &mut dyn StoreTransaction,
    event: &RecordedEvent,
    (projector, pattern): (&'static ProjectorRow, &Pattern),
    tracer: &mut Tracer,
) -> Result<(), Error> {
    let store = scene.kernel.store().kind();
    let at = At {
        route: Some(event.route.as_str()),
        ..At::default()
    };
    let ran = tracer
        .time_at(Operation::Project, Some(projector.name), at, async {
            let mut cx = Cx::new(&mut *tx, scene.actor, &event.route, pattern, store);
            crate::base::unwind::or_error(|| (projector.run)(event, &mut cx)).await
        })
        .await;
    ran.map_err(|source| ErrorKind::Project {
        command: scene.command,
        route: scene.route.clone(),
        projector: projector.name,
        event: event.route.clone(),
        source,
    })?;
    Ok(())
}

/// Runs a strong processor on `event`, then the commands it returns, nested; returns
/// the events those appended.
async fn process(
    scene: &Scene<'_>,
    tx: &mut dyn StoreTransaction,
    event: &RecordedEvent,
    (processor, pattern): (&'static ProcessorRow, &Pattern),
    tracer: &mut Tracer,
    saga: &mut Saga,
) -> Result<Vec<RecordedEvent>, Error> {
    let store = scene.kernel.store().kind();
    let at = At {
        route: Some(event.route.as_str()),
        ..At::default()
    };
    let commands = tracer
        .time_at(Operation::Process, Some(processor.name), at, async {
            let mut cx = Cx::new(&mut *tx, scene.actor, &event.route, pattern, store);
            crate::base::unwind::or_error(|| (processor.run)(event, &mut cx)).await
        })
        .await;
    let commands = commands.map_err(|source| ErrorKind::Process {
        command: scene.command,
        route: scene.route.clone(),
        processor: processor.name,
        event: event.route.clone(),
        source,
    })?;
    let mut caused = Vec::new();
    for (index, command) in commands.into_iter().enumerate() {
        let nest = Nest {
            kernel: scene.kernel,
            tx: &mut *tx,
            cache: scene.cache,
            actor: scene.actor,
            correlation_id: scene.correlation_id,
            event,
            command_id: derived_id(event.event_id, processor.name, index),
            chain: scene.chain,
            tracer: &mut *tracer,
            saga: &mut *saga,
            may_repeat: false,
            trace_parent: scene.trace_parent,
        };
        caused.extend(command.run_nested(nest).await?);
    }
    Ok(caused)
}

/// Runs a strong dispatcher on `event`, appends the side events it returns, and reacts
/// to those; returns the side events and what reacting to them appended.
async fn dispatch(
    scene: &Scene<'_>,
    tx: &mut dyn StoreTransaction,
    event: &RecordedEvent,
    side: &[Route],
    (dispatcher, pattern): (&'static DispatcherRow, &Pattern),
    tracer: &mut Tracer,
    saga: &mut Saga,
) -> Result<Vec<RecordedEvent>, Error> {
    let store = scene.kernel.store().kind();
    let at = At {
        route: Some(event.route.as_str()),
        ..At::default()
    };
    let produced = tracer
        .time_at(Operation::Dispatcher, Some(dispatcher.name), at, async {
            let mut cx = Cx::new(&mut *tx, scene.actor, &event.route, pattern, store);
            crate::base::unwind::or_error(|| (dispatcher.run)(event, &mut cx)).await
        })
        .await;
    let produced = produced.map_err(|source| ErrorKind::Dispatch {
        command: scene.command,
        route: scene.route.clone(),
        dispatcher: dispatcher.name,
        event: event.route.clone(),
        source,
    })?;
    if produced.is_empty() {
        return Ok(Vec::new());
    }
    let recorded = append_side_events(scene, &mut *tx, event, dispatcher, produced, tracer).await?;
    let mut deeper = side.to_vec();
    deeper.push(event.route.clone());
    let caused = react(scene, &mut *tx, &recorded, deeper, &mut *tracer, &mut *saga).await?;
    Ok(recorded.into_iter().chain(caused).collect())
}

/// Appends a dispatcher's side events to its stream for `event`'s stream.
async fn append_side_events(
    scene: &Scene<'_>,
    tx: &mut dyn StoreTransaction,
    event: &RecordedEvent,
    dispatcher: &'static DispatcherRow,
    produced: Vec<Box<dyn AnyEvent>>,
    tracer: &mut Tracer,
) -> Result<Vec<RecordedEvent>, Error> {
    let fail_store = |source| store_error(scene.command, scene.route, source);
    let envelope = Envelope {
        command_id: scene.command_id,
        correlation_id: scene.correlation_id,
        causation_id: event.event_id,
        actor: scene.actor,
        trace_parent: scene.trace_parent,
    };
    let new = produced
        .iter()
        .map(|side| new_event(&**side, &envelope, dispatcher.name))
        .collect::<Result<Vec<_>, _>>()?;
    let stream = StreamKey::new(
        event.stream.tenant(),
        side_stream_type(dispatcher.name),
        event.stream.stream_id(),
    )
    .map_err(|invalid| fail_store(invalid.into()))?;
    // Two source streams of different types with one id share the side stream: a
    // concurrent writer of it is waited for, then its version read again.
    let mut attempts = 0;
    let recorded = loop {
        attempts += 1;
        let version = tx.stream_version(&stream).await.map_err(fail_store)?;
        let appended = tracer
            .time_at(
                Operation::Append,
                Some(dispatcher.name),
                At {
                    stream: Some(&stream),
                    version: Some(version),
                    ..At::default()
                },
                tx.append(&stream, version, new.clone()),
            )
            .await;
        match appended {
            Err(StoreError::Conflict(_)) if attempts <= scene.kernel.conflict_retries() => continue,
            other => break other.map_err(fail_store)?,
        }
    };
    tracer.detail(format!("{} side events to `{stream}`", recorded.len()));
    Ok(recorded)
}
