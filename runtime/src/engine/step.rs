//! The part of the loop that knows the aggregate's type (steps 6 and 7): load it, handle
//! the command, append the events with the version it was loaded at, take a snapshot.

use std::any::Any;

use uuid::Uuid;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::engine::cache::{AggregateCache, Lookup, State};
use crate::engine::kernel::Kernel;
use crate::model::aggregate::{Aggregate, ApplyError, Handle, HandleOutput};
use crate::model::command::Command;
use crate::model::event::{AnyEvent, IntoEvents};
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{At, Operation, Outcome, Tracer};
use crate::route::Route;
use crate::store::{
    Conflict, MAX_PAYLOAD_LEN, Metadata, NewEvent, RecordedEvent, ReplayEvent, Snapshot,
    StoreError, StoreTransaction, StreamKey,
};

/// What a command's events are recorded with.
pub(crate) struct Envelope<'a> {
    pub(crate) command_id: Uuid,
    pub(crate) correlation_id: Uuid,
    pub(crate) causation_id: Uuid,
    pub(crate) actor: &'a Actor,
    /// The W3C trace context its events keep.
    pub(crate) trace_parent: Option<&'a str>,
}

/// The command the steps around its aggregate (hooks, saga steps) run for: its route,
/// its stream and its envelope, on the engine's kernel.
pub(crate) struct Scope<'a> {
    pub(crate) kernel: &'a Kernel,
    pub(crate) route: &'a Route,
    pub(crate) stream: &'a StreamKey,
    pub(crate) envelope: &'a Envelope<'a>,
}

/// One run of steps 6 and 7. Not public API: `#[aggregate]` registers the function that
/// runs it for each `#[handle]` method.
#[doc(hidden)]
pub struct Step<'a> {
    pub(crate) tx: &'a mut dyn StoreTransaction,
    pub(crate) command: &'a (dyn Any + Send + Sync),
    pub(crate) route: &'a Route,
    pub(crate) stream: &'a StreamKey,
    /// The version the caller gave.
    pub(crate) expected: Option<u64>,
    /// 1 for the first run; a later run follows a conflict, so the cache is stale.
    pub(crate) attempt: u32,
    pub(crate) envelope: &'a Envelope<'a>,
    pub(crate) tracer: &'a mut Tracer,
    pub(crate) cache: Lookup<'a>,
}

/// What a [`Step`] did.
#[doc(hidden)]
pub struct Stepped {
    pub(crate) events: Vec<RecordedEvent>,
    pub(crate) version: u64,
    /// The aggregate after the events, for the cache once committed.
    pub(crate) state: Option<State>,
}

/// Runs one [`Step`]. Not public API.
#[doc(hidden)]
pub type ExecuteFn = for<'a> fn(Step<'a>) -> BoxFuture<'a, Result<Stepped, Error>>;

/// The [`ExecuteFn`] of aggregate `A` handling `C`.
pub(crate) fn execute<A: Handle<C>, C: Command>(
    mut step: Step<'_>,
) -> BoxFuture<'_, Result<Stepped, Error>> {
    Box::pin(async move {
        let command: &C = step
            .command
            .downcast_ref()
            .expect("the registry matched the command's type");
        let mut loaded = load::<A, C>(&mut step).await?;
        let events = match decide::<A, C>(&mut step, command, &mut loaded).await {
            Ok(events) => events,
            Err(error) => {
                // A refusal changed nothing: what was taken from a cache goes back.
                if let (Some(cache), ErrorKind::Rejected { .. }) = (loaded.cached, error.kind()) {
                    cache.put(step.stream, loaded.version, Box::new(loaded.state));
                }
                return Err(error);
            }
        };
        append::<A, C>(&mut step, loaded, &events).await
    })
}

/// The aggregate as step 6 loaded it.
struct Loaded<'c, A> {
    state: A,
    version: u64,
    /// Taken from the cache without reading the stream: another writer may have appended
    /// since.
    unverified: bool,
    /// The cache it was taken from.
    cached: Option<&'c AggregateCache>,
}

/// Step 6, load: from the cache, else the newest snapshot, then the events after it.
/// A cached aggregate is current unless another writer got there first. If so, and the
/// handler accepts, the append finds out (a conflict, run again); so the stream is read
/// only on a cache miss, after a conflict, when the caller gave the version it expects,
/// or when the handler rejects the command (see [`decide`]). A version the caller gave
/// that is not the stream's is a conflict.
async fn load<'c, A: Handle<C>, C: Command>(step: &mut Step<'c>) -> Result<Loaded<'c, A>, Error> {
    let (route, stream) = (step.route, step.stream);
    let fail_store = |source| store_error(C::NAME, route, source);
    let taken = step.cache.take::<A>(stream);
    let cached = taken.as_ref().map(|(_, _, from)| *from);
    let (mut state, from, source) = match taken {
        Some((version, state, _)) => (state, version, "cached"),
        None => match snapshot::<A>(&mut *step.tx, stream)
            .await
            .map_err(fail_store)?
        {
            Some((state, version)) => (state, version, "snapshot"),
            None => (A::default(), 0, ""),
        },
    };
    let unverified = source == "cached" && step.attempt == 1 && step.expected.is_none();
    let version = if unverified {
        step.tracer.time_sync(Operation::Load, Some(A::NAME), || ());
        step.tracer.detail(format!("cached at version {from}"));
        from
    } else {
        let tail = step
            .tracer
            .time_at(
                Operation::Load,
                Some(A::NAME),
                At::stream(stream),
                step.tx.replay_stream(stream, from),
            )
            .await
            .map_err(fail_store)?;
        let version = replay(&mut state, from, stream, &tail)?;
        step.tracer.detail(match source {
            "" => format!("{} events, version {version}", tail.len()),
            _ => format!("{source} at version {from} + {} events", tail.len()),
        });
        version
    };
    if let Some(expected) = step.expected.filter(|&expected| expected != version) {
        let conflict = Conflict {
            stream: stream.clone(),
            expected,
            actual: version,
        };
        return Err(ErrorKind::Conflict {
            command: C::NAME,
            route: route.clone(),
            conflict,
            attempts: step.attempt,
            version_given: true,
        }
        .into());
    }
    Ok(Loaded {
        state,
        version,
        unverified,
        cached,
    })
}

/// Step 6, handle: the command on the loaded state, then its events applied to it. A
/// rejection must be decided on the current state: when the state came unverified from
/// the cache, the tail is read and, if there is one, the handler runs again.
async fn decide<A: Handle<C>, C: Command>(
    step: &mut Step<'_>,
    command: &C,
    loaded: &mut Loaded<'_, A>,
) -> Result<Vec<Box<dyn AnyEvent>>, Error> {
    let (route, stream) = (step.route, step.stream);
    let produced = loop {
        // Matched as a temporary: the events must not live across the awaits below.
        let source = match step
            .tracer
            .time_sync(Operation::Handle, Some(A::HANDLER), || {
                loaded.state.handle(command).into_result()
            }) {
            Ok(produced) => break produced,
            Err(source) => source,
        };
        step.tracer.fail_last(Outcome::Failed(source.to_string()));
        if loaded.unverified {
            loaded.unverified = false;
            let tail = step
                .tracer
                .time_at(
                    Operation::Load,
                    Some(A::NAME),
                    At::stream(stream),
                    step.tx.replay_stream(stream, loaded.version),
                )
                .await
                .map_err(|source| store_error(C::NAME, route, source))?;
            step.tracer.detail(format!(
                "checking a rejection on the cached state: {} newer events",
                tail.len()
            ));
            if !tail.is_empty() {
                loaded.version = replay(&mut loaded.state, loaded.version, stream, &tail)?;
                continue; // decide again on the current state
            }
        }
        return Err(ErrorKind::Rejected {
            command: C::NAME,
            route: route.clone(),
            handler: A::HANDLER,
            source,
        }
        .into());
    };
    let mut events = Vec::new();
    produced.into_events(&mut events);

    let state = &mut loaded.state;
    step.tracer
        .time(Operation::Apply, Some(A::NAME), async {
            events.iter().try_for_each(|event| {
                state
                    .apply_event(&**event)
                    .map_err(|source| apply_error::<A>(stream, event.name(), None, source))
            })
        })
        .await?;
    Ok(events)
}

/// Step 7: appends `events` with the version the aggregate was loaded at (a concurrent
/// writer makes it a conflict), and takes a snapshot when one is due.
async fn append<A: Handle<C>, C: Command>(
    step: &mut Step<'_>,
    loaded: Loaded<'_, A>,
    events: &[Box<dyn AnyEvent>],
) -> Result<Stepped, Error> {
    let Loaded { state, version, .. } = loaded;
    let (route, stream) = (step.route, step.stream);
    let fail_store = |source| store_error(C::NAME, route, source);
    let new = events
        .iter()
        .map(|event| new_event(&**event, step.envelope, A::HANDLER))
        .collect::<Result<Vec<_>, _>>()?;
    let count = new.len() as u64;
    let recorded = step
        .tracer
        .time_at(
            Operation::Append,
            Some(A::NAME),
            At {
                version: Some(version),
                ..At::stream(stream)
            },
            step.tx.append(stream, version, new),
        )
        .await
        .map_err(fail_store)?;
    let now = version + count;
    step.tracer.detail(format!("{count} events, version {now}"));

    // A snapshot when one is due: an error, not a silent loss, when the state does not
    // serialize.
    let every = u64::from(A::SNAPSHOT_EVERY);
    if every > 0 && version / every < now / every {
        let json =
            crate::base::json_value::to_value(&state).map_err(|source| ErrorKind::State {
                aggregate: A::NAME,
                stream: stream.clone(),
                source,
            })?;
        let snapshot = Snapshot {
            version: now,
            state_version: A::VERSION,
            state: json,
        };
        step.tracer
            .time_at(
                Operation::Snapshot,
                Some(A::NAME),
                At::stream(stream),
                step.tx.save_snapshot(stream, snapshot),
            )
            .await
            .map_err(fail_store)?;
        step.tracer.detail(format!("at version {now}"));
    }
    let state: Option<State> = step.cache.is_enabled().then(|| Box::new(state) as State);
    Ok(Stepped {
        events: recorded,
        version: now,
        state,
    })
}

impl Stepped {
    /// Keeps the aggregate in `cache`, for the next command on its stream.
    pub(crate) fn remember(&mut self, cache: &AggregateCache, stream: &StreamKey) {
        if let Some(state) = self.state.take() {
            cache.put(stream, self.version, state);
        }
    }
}

/// The newest snapshot of `stream`, when it is usable (see [`usable_snapshot`]).
async fn snapshot<A: Aggregate>(
    tx: &mut dyn StoreTransaction,
    stream: &StreamKey,
) -> Result<Option<(A, u64)>, StoreError> {
    if A::SNAPSHOT_EVERY == 0 {
        return Ok(None);
    }
    let snapshot = tx.load_snapshot(stream).await?;
    Ok(snapshot.and_then(|snapshot| usable_snapshot(snapshot, stream)))
}

/// The state a snapshot holds and its version, when it is of the aggregate's current
/// `version` and still decodes; otherwise `None`, with a warning: the stream is replayed.
pub(crate) fn usable_snapshot<A: Aggregate>(
    snapshot: Snapshot,
    stream: &StreamKey,
) -> Option<(A, u64)> {
    if snapshot.state_version != A::VERSION {
        tracing::warn!(
            %stream, snapshot = snapshot.state_version, current = A::VERSION,
            "ignoring a snapshot of another state version; replaying the stream"
        );
        return None;
    }
    match A::deserialize(&snapshot.state) {
        Ok(state) => Some((state, snapshot.version)),
        Err(error) => {
            tracing::warn!(%stream, %error, "ignoring a snapshot that no longer decodes; replaying the stream");
            None
        }
    }
}

/// Applies `events`, which follow version `version`, to `state` (upcasting old ones);
/// returns the version of the last.
pub(crate) fn replay<A: Aggregate>(
    state: &mut A,
    mut version: u64,
    stream: &StreamKey,
    events: &[ReplayEvent],
) -> Result<u64, Error> {
    for event in events {
        if event.version != version + 1 {
            // Never decide on a partial history: a runtime without the archive reading a
            // stream whose old events were discarded, say.
            let missing = format!(
                "stream `{stream}` goes from version {version} to {}: the events between are \
                 not in the store (archived and discarded? build the runtime with \
                 `HeraldBuilder::archive`)",
                event.version
            );
            return Err(ErrorKind::Store {
                context: format!("loading aggregate `{}`", A::NAME),
                source: crate::store::StoreError::Backend(missing.into()),
            }
            .into());
        }
        let fail = |source| apply_error::<A>(stream, &event.name, Some(event.version), source);
        state.apply_stored(event).map_err(fail)?;
        version = event.version;
    }
    Ok(version)
}

fn apply_error<A: Aggregate>(
    stream: &StreamKey,
    event: &str,
    version: Option<u64>,
    source: ApplyError,
) -> Error {
    ErrorKind::Apply {
        aggregate: A::NAME,
        stream: stream.clone(),
        event: event.to_owned(),
        version,
        source,
    }
    .into()
}

pub(crate) fn new_event(
    event: &dyn AnyEvent,
    envelope: &Envelope<'_>,
    handler: &'static str,
) -> Result<NewEvent, Error> {
    let fail = |source: crate::BoxError| ErrorKind::Event {
        event: event.name(),
        handler,
        source,
    };
    let route = event.render_route().map_err(|e| fail(e.into()))?;
    let payload = event.to_json().map_err(|e| fail(e.into()))?;
    let len = serde_json::to_string(&payload)
        .map_err(|e| fail(e.into()))?
        .len();
    if len > MAX_PAYLOAD_LEN {
        return Err(fail(
            format!("the payload is {len} bytes of JSON; at most {MAX_PAYLOAD_LEN} are allowed")
                .into(),
        )
        .into());
    }
    let event_id = Uuid::now_v7();
    Ok(NewEvent {
        event_id,
        route,
        name: event.name().to_owned(),
        schema_version: event.version(),
        payload,
        metadata: Metadata {
            event_id,
            command_id: envelope.command_id,
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            actor: envelope.actor.id().to_owned(),
            tenant: envelope.actor.tenant().to_owned(),
            roles: envelope.actor.roles().to_vec(),
            traceparent: envelope.trace_parent.map(str::to_owned),
        },
    })
}

/// A store failure as the dispatch's error: a conflict keeps its type.
pub(crate) fn store_error(command: &'static str, route: &Route, source: StoreError) -> Error {
    let kind = match source {
        StoreError::Conflict(conflict) => ErrorKind::Conflict {
            command,
            route: route.clone(),
            conflict,
            attempts: 1,
            version_given: false,
        },
        source => ErrorKind::Store {
            context: format!("command `{command}` (route `{route}`)"),
            source,
        },
    };
    kind.into()
}
