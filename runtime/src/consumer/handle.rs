//! One eventual handler on one event, in a consumer's transaction.

use tracing::Instrument;

use crate::base::actor::Actor;
use crate::base::unwind::caught;
use crate::engine::cache::{AggregateCache, Lookup};
use crate::engine::handler::processor::derived_id;
use crate::engine::handler::reaction::Reaction;
use crate::engine::handler::saga::Saga;
use crate::engine::handler::{Cx, Nest};
use crate::engine::kernel::Kernel;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Operation, Outcome, Tracer};
use crate::store::{RecordedEvent, StoreTransaction};

/// Runs `handler` on `event` in `tx`. A processor's commands run in `tx` too, as the
/// event's actor, caused by it, with ids derived from it (so that running the processor
/// on the event again never doubles them). Returns the saga steps its commands
/// completed, to settle once `tx` commits; on an error they are already reversed.
pub(crate) async fn handle(
    kernel: &Kernel,
    tx: &mut dyn StoreTransaction,
    handler: Reaction<'_>,
    event: &RecordedEvent,
) -> Result<Saga, Error> {
    handle_as(kernel, tx, handler, event, false).await
}

/// [`handle`], or for a rebuild (`rebuilding`): a projector then writes the copies of
/// its declared tables.
pub(crate) async fn handle_as(
    kernel: &Kernel,
    tx: &mut dyn StoreTransaction,
    handler: Reaction<'_>,
    event: &RecordedEvent,
    rebuilding: bool,
) -> Result<Saga, Error> {
    let span = tracing::info_span!(
        "herald.consumer.handle",
        consumer = handler.name(),
        route = %event.route,
        event_id = %event.event_id,
        stream = %event.stream,
        version = event.version,
        position = %event.position,
        rebuilding,
    );
    // The request that dispatched the event's command: a link, not a parent.
    crate::telemetry::link(&span, event.metadata.traceparent.as_deref());
    // A panic anywhere in handling the event (the handler, its commands' hooks and
    // aggregates) is the handler's failure: tried again, then parked.
    let ran = caught(|| run(kernel, tx, handler, event, rebuilding))
        .instrument(span)
        .await;
    ran.unwrap_or_else(|panic| {
        Err(ErrorKind::Consumer {
            consumer: handler.name().to_owned(),
            event: event.route.clone(),
            event_id: event.event_id,
            source: panic.into(),
        }
        .into())
    })
}

async fn run(
    kernel: &Kernel,
    tx: &mut dyn StoreTransaction,
    handler: Reaction<'_>,
    event: &RecordedEvent,
    rebuilding: bool,
) -> Result<Saga, Error> {
    let name = handler.name();
    let metadata = &event.metadata;
    let mut actor = Actor::new(metadata.actor.as_str(), metadata.tenant.as_str());
    for role in &metadata.roles {
        actor = actor.with_role(role.as_str());
    }
    let store = kernel.store().kind();
    let failed = |source| {
        Error::from(ErrorKind::Consumer {
            consumer: name.to_owned(),
            event: event.route.clone(),
            event_id: event.event_id,
            source,
        })
    };
    let mut saga = Saga::new(kernel);
    let ran = match handler {
        Reaction::Project(projector, pattern) => {
            let mut cx = Cx::new(&mut *tx, &actor, &event.route, pattern, store);
            if rebuilding {
                cx = cx.rebuilding(projector.tables);
            }
            (projector.run)(event, &mut cx).await.map_err(failed)
        }
        Reaction::Process(processor, pattern) => {
            let commands = {
                let mut cx = Cx::new(&mut *tx, &actor, &event.route, pattern, store);
                (processor.run)(event, &mut cx).await.map_err(failed)?
            };
            let own = AggregateCache::new(kernel.cache().capacity());
            let mut tracer = Tracer::new(Operation::Process, name);
            let mut ran = Ok(());
            for (index, command) in commands.into_iter().enumerate() {
                let nest = Nest {
                    kernel,
                    tx: &mut *tx,
                    // Aggregates read fresh: the transaction may roll back to before them.
                    cache: Lookup {
                        own: Some(&own),
                        committed: kernel.cache(),
                    },
                    actor: &actor,
                    correlation_id: metadata.correlation_id,
                    event,
                    command_id: derived_id(event.event_id, name, index),
                    chain: &[],
                    tracer: &mut tracer,
                    saga: &mut saga,
                    may_repeat: true,
                    trace_parent: None,
                };
                if let Err(error) = command.run_nested(nest).await {
                    ran = Err(failed(Box::new(error)));
                    break;
                }
            }
            ran
        }
        Reaction::Dispatch(..) => unreachable!("dispatchers are never eventual"),
    };
    match ran {
        Ok(()) => Ok(saga),
        Err(error) if saga.is_empty() => Err(error),
        Err(error) => {
            let mut tracer = Tracer::new(Operation::Rollback, name);
            let unreversed = saga
                .reverse(kernel.store(), kernel.saga_retry(), &mut tracer)
                .await;
            drop(tracer.finish(Outcome::Ok));
            Err(error.with_unreversed(unreversed))
        }
    }
}
