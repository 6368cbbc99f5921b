//! Events recorded without an aggregate deciding them: an event the caller records
//! ([`Herald::record`](crate::Herald::record)), and a command declared with
//! `#[command(…, event = E)]`, whose event is made from the command.
//!
//! Both run the loop of a command (see [`crate::engine::dispatch`]): the command id row,
//! hooks and saga steps (a recorded event has none: they are typed by command), the
//! append, the strong reactions, the result and trace, the commit. Only steps 6 and 7
//! differ: no aggregate is loaded; the event is appended at the stream's current version
//! (or the one the caller gave).
//!
//! A recorded event goes into the stream of tenant = the actor's tenant, type =
//! [`Event::STREAM`], id = the id the caller gave, else the value of the first `:param` of
//! the event's route, else the stream type itself.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::BoxFuture;
use crate::engine::dispatch::{self, Dispatched, Handler, Options};
use crate::engine::handler::Alone;
use crate::engine::step::{Step, Stepped, new_event, store_error};
use crate::model::command::{Command, FromCommand};
use crate::model::event::{AnyEvent, Event};
use crate::outcome::error::Error;
use crate::outcome::trace::{At, Operation};
use crate::route::{Pattern, Route, RouteError};

/// An event on its way into a stream of its own, as the loop runs it: a command whose
/// handler appends the event. Its payload (hashed for idempotency) is the stream id, the
/// event id and the event.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Standalone<E: Event> {
    stream_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_id: Option<Uuid>,
    event: E,
}

impl<E: Event> Standalone<E> {
    /// `event` in stream `stream_id`, else in the stream its route names (see the module).
    pub(crate) fn new(event: E, stream_id: Option<String>, event_id: Option<Uuid>) -> Self {
        let stream_id = stream_id.unwrap_or_else(|| default_stream_id(&event));
        Standalone {
            stream_id,
            event_id,
            event,
        }
    }
}

impl<E: Event> Command for Standalone<E> {
    const NAME: &'static str = E::NAME;
    const ROUTE: &'static str = "";
    const ROLES: &'static [&'static str] = &[];
    const ID_FIELD: &'static str = "stream_id";

    fn route(&self) -> Result<Route, RouteError> {
        self.event.route()
    }

    fn aggregate_id(&self) -> String {
        self.stream_id.clone()
    }
}

/// The stream id of `event` when the caller gives none: the value of the first `:param`
/// of its route, else its stream type. A route that does not render gives an empty id;
/// the loop reports the route's error first.
fn default_stream_id<E: Event>(event: &E) -> String {
    let Ok(route) = event.route() else {
        return String::new();
    };
    for template in E::ROUTES {
        let Ok(pattern) = Pattern::parse(template) else {
            continue;
        };
        if let Some(captures) = pattern.captures(route.as_str()) {
            return match captures.params().next() {
                Some((_, value)) => value.to_owned(),
                None => E::STREAM.to_owned(),
            };
        }
    }
    E::STREAM.to_owned()
}

/// What decides a recorded `E`: the event itself, appended.
pub(crate) fn handler<E: Event>() -> Handler {
    Handler {
        name: E::NAME,
        stream_type: E::STREAM,
        execute: execute_recorded::<E>,
    }
}

/// Steps 6 and 7 of a recorded `E`.
fn execute_recorded<E: Event>(mut step: Step<'_>) -> BoxFuture<'_, Result<Stepped, Error>> {
    Box::pin(async move {
        let recorded: &Standalone<E> = step
            .command
            .downcast_ref()
            .expect("a recorded event runs its own handler");
        let (event, event_id) = (&recorded.event, recorded.event_id);
        append_one::<Standalone<E>>(&mut step, event, E::NAME, event_id).await
    })
}

/// Steps 6 and 7 of command `C` declared with `#[command(…, event = E)]`: the event made
/// from the command (after its hooks), appended. Not public API.
pub(crate) fn execute_mapped<C, E>(mut step: Step<'_>) -> BoxFuture<'_, Result<Stepped, Error>>
where
    C: Command,
    E: Event + FromCommand<C>,
{
    Box::pin(async move {
        let command: &C = step
            .command
            .downcast_ref()
            .expect("the registry matched the command's type");
        let event = E::from_command(command);
        append_one::<C>(&mut step, &event, C::NAME, None).await
    })
}

/// Appends `event` to the step's stream at its current version (or the one the caller
/// gave: another is a conflict), with id `event_id` when given.
async fn append_one<C: Command>(
    step: &mut Step<'_>,
    event: &dyn AnyEvent,
    handler: &'static str,
    event_id: Option<Uuid>,
) -> Result<Stepped, Error> {
    let (route, stream) = (step.route, step.stream);
    let fail_store = |source| store_error(C::NAME, route, source);
    let mut new = new_event(event, step.envelope, handler)?;
    if let Some(id) = event_id {
        new.event_id = id;
        new.metadata.event_id = id;
    }
    let version = match step.expected {
        Some(version) => version,
        None => step
            .tracer
            .time(
                Operation::Load,
                Some(stream.stream_type()),
                step.tx.stream_version(stream),
            )
            .await
            .map_err(fail_store)?,
    };
    let recorded = step
        .tracer
        .time_at(
            Operation::Append,
            Some(stream.stream_type()),
            At {
                version: Some(version),
                ..At::stream(stream)
            },
            step.tx.append(stream, version, vec![new]),
        )
        .await
        .map_err(fail_store)?;
    let now = version + 1;
    step.tracer.detail(format!("1 event, version {now}"));
    Ok(Stepped {
        events: recorded,
        version: now,
        state: None,
    })
}

/// An event decoded from JSON, type-erased, on its way into its stream (see
/// [`Herald::record_json`](crate::Herald::record_json)). Not public API.
#[doc(hidden)]
pub trait AnyRecord: Send + Sync {
    /// [`Event::NAME`].
    fn name(&self) -> &'static str;
    /// Records the event at the top, in a transaction of its own.
    fn run_alone<'a>(
        self: Box<Self>,
        alone: Alone<'a>,
        stream_id: Option<String>,
        event_id: Option<Uuid>,
    ) -> BoxFuture<'a, Result<Dispatched, Error>>;
}

impl<E: Event> AnyRecord for E {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn run_alone<'a>(
        self: Box<Self>,
        alone: Alone<'a>,
        stream_id: Option<String>,
        event_id: Option<Uuid>,
    ) -> BoxFuture<'a, Result<Dispatched, Error>> {
        let mut recorded = Standalone::new(*self, stream_id, event_id);
        let options = Options {
            handler: Some(handler::<E>()),
            ..alone.options
        };
        Box::pin(async move { dispatch::alone(alone.kernel, &mut recorded, options).await })
    }
}
