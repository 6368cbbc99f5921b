//! Step 8 of the loop: for each new event, the strong projectors and processors whose
//! pattern matches it, together, by ascending priority, ties by name.

use uuid::Uuid;

use crate::actor::Actor;
use crate::cache::Lookup;
use crate::error::{Error, ErrorKind};
use crate::handler::processor::{Nest, derived_id};
use crate::handler::{Cx, ProcessorRow, ProjectorRow};
use crate::route::{Pattern, Route};
use crate::runtime::Herald;
use crate::store::{RecordedEvent, StoreTransaction};
use crate::trace::{Operation, Tracer};

/// A strong handler of an event.
#[derive(Clone, Copy)]
pub(crate) enum Reaction<'r> {
    Project(&'static ProjectorRow, &'r Pattern),
    Process(&'static ProcessorRow, &'r Pattern),
}

impl Reaction<'_> {
    pub(crate) fn order(&self) -> (i32, &'static str) {
        match self {
            Reaction::Project(p, _) => (p.priority, p.name),
            Reaction::Process(p, _) => (p.priority, p.name),
        }
    }
}

/// What the handlers of a command's events share.
pub(crate) struct Scene<'a> {
    pub(crate) herald: &'a Herald,
    pub(crate) cache: Lookup<'a>,
    pub(crate) actor: &'a Actor,
    pub(crate) correlation_id: Uuid,
    /// The command's name and route, for errors.
    pub(crate) command: &'static str,
    pub(crate) route: &'a Route,
    /// The routes of the commands it is nested in and its own, outermost first.
    pub(crate) chain: &'a [Route],
}

/// Runs the strong handlers of `events`, in order.
pub(crate) async fn react(
    scene: &Scene<'_>,
    tx: &mut dyn StoreTransaction,
    events: &[RecordedEvent],
    tracer: &mut Tracer,
) -> Result<(), Error> {
    let store = scene.herald.store().kind();
    for event in events {
        for reaction in scene.herald.registry().strong_reactions_of(event) {
            match reaction {
                Reaction::Project(projector, pattern) => {
                    let ran = tracer
                        .time(Operation::Project, Some(projector.name), async {
                            let mut cx =
                                Cx::new(&mut *tx, scene.actor, &event.route, pattern, store);
                            (projector.run)(event, &mut cx).await
                        })
                        .await;
                    tracer.last_route(event.route.as_str());
                    ran.map_err(|source| ErrorKind::Project {
                        command: scene.command,
                        route: scene.route.clone(),
                        projector: projector.name,
                        event: event.route.clone(),
                        source,
                    })?;
                }
                Reaction::Process(processor, pattern) => {
                    let commands = tracer
                        .time(Operation::Process, Some(processor.name), async {
                            let mut cx =
                                Cx::new(&mut *tx, scene.actor, &event.route, pattern, store);
                            (processor.run)(event, &mut cx).await
                        })
                        .await;
                    tracer.last_route(event.route.as_str());
                    let commands = commands.map_err(|source| ErrorKind::Process {
                        command: scene.command,
                        route: scene.route.clone(),
                        processor: processor.name,
                        event: event.route.clone(),
                        source,
                    })?;
                    for (index, command) in commands.into_iter().enumerate() {
                        let nest = Nest {
                            herald: scene.herald,
                            tx: &mut *tx,
                            cache: scene.cache,
                            actor: scene.actor,
                            correlation_id: scene.correlation_id,
                            event,
                            command_id: derived_id(event.event_id, processor.name, index),
                            chain: scene.chain,
                            tracer: &mut *tracer,
                        };
                        command.run_nested(nest).await?;
                    }
                }
            }
        }
    }
    Ok(())
}
