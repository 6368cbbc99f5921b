//! Recording an event without an aggregate deciding it (futoin's `addEvent`): the caller
//! configures it as a dispatch, the engine runs it through the same loop (see
//! [`crate::engine::record`]).

use std::future::IntoFuture;

use uuid::Uuid;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::engine::dispatch::{Dispatched, Options};
use crate::engine::handler::Alone;
use crate::engine::record::{AnyRecord, Standalone, handler};
use crate::facade::dispatch::{Dispatch, Target};
use crate::facade::runtime::Herald;
use crate::model::event::Event;
use crate::outcome::error::Error;

/// An event on its way into a stream of its own, with no aggregate deciding it: add an
/// actor, ids, a stream id or an expected version, then `.await` it. It runs the loop of
/// a command: its id is recorded (a repeat returns the first result and appends nothing),
/// the strong projectors, processors and dispatchers of the event run in its transaction,
/// eventual consumers and live subscribers get it after the commit, and it returns a
/// [`Dispatched`] with its trace.
///
/// The stream: the actor's tenant, [`Event::STREAM`] (`#[event(…, stream = "…")]`, else
/// the event's name) and the id given with [`stream_id`](Self::stream_id), else the value
/// of the first `:param` of the event's route, else the stream type.
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::Actor;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let id = uuid::Uuid::now_v7();
/// let noted = herald
///     .record(NoteAdded { note_id: 7, text: "call back".into() })
///     .actor(Actor::new("ada", "acme"))
///     .event_id(id) // also the idempotency key
///     .await?;
/// assert_eq!(noted.stream().to_string(), "acme/notes/7");
/// assert_eq!(noted.events()[0].event_id, id);
/// # Ok(()) }
/// ```
#[must_use = "recording does nothing until it is awaited"]
pub struct Record<'a, E> {
    target: Target<'a>,
    event: E,
    stream_id: Option<String>,
    event_id: Option<Uuid>,
    options: Options,
    wait_for: Option<(Vec<String>, std::time::Duration)>,
}

impl<'a, E: Event> Record<'a, E> {
    pub(crate) fn new(target: Target<'a>, event: E) -> Self {
        Record {
            target,
            event,
            stream_id: None,
            event_id: None,
            options: Options::default(),
            wait_for: None,
        }
    }

    /// Who records the event (default: [`Actor::system`]); its tenant is the stream's.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.options.actor = Some(actor);
        self
    }

    /// The event's id (default: a new UUID v7), which is also the idempotency key (the
    /// command id) unless [`command_id`](Self::command_id) gives another.
    pub fn event_id(mut self, id: Uuid) -> Self {
        self.event_id = Some(id);
        self
    }

    /// The idempotency key (default: the event id when given, else a new UUID v7):
    /// recording again with an id that was committed appends nothing and returns the
    /// first result ([`Dispatched::is_repeat`]); the same id with another event is
    /// [`ErrorKind::CommandIdReused`](crate::ErrorKind::CommandIdReused).
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.options.command_id = Some(id);
        self
    }

    /// The correlation id the event carries (default: the command id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.options.correlation_id = Some(id);
        self
    }

    /// The id of the stream the event goes into (default: the value of the first
    /// `:param` of its route, else its stream type).
    pub fn stream_id(mut self, id: impl crate::RouteParam) -> Self {
        let mut text = String::new();
        id.write_route_segment(&mut text);
        self.stream_id = Some(text);
        self
    }

    /// The W3C trace context of the request that records the event, stored with it (see
    /// [`Dispatch::trace_parent`](crate::Dispatch::trace_parent)).
    pub fn trace_parent(mut self, parent: crate::telemetry::TraceParent) -> Self {
        self.options.trace_parent = Some(parent.to_string());
        self
    }

    /// The version the caller last saw of the stream (0: it must not exist). Another
    /// version is a conflict, returned at once and never retried.
    pub fn expected_version(mut self, version: u64) -> Self {
        self.options.expected_version = Some(version);
        self
    }

    /// After the commit, waits until these eventual consumers have processed the event
    /// (see [`Dispatch::wait_for`]).
    pub fn wait_for<I, S>(mut self, consumers: I, timeout: std::time::Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let consumers = consumers.into_iter().map(Into::into).collect();
        self.wait_for = Some((consumers, timeout));
        self
    }
}

impl<'a, E: Event> IntoFuture for Record<'a, E> {
    type Output = Result<Dispatched, Error>;
    type IntoFuture = BoxFuture<'a, Result<Dispatched, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        let Record {
            target,
            event,
            stream_id,
            event_id,
            mut options,
            wait_for,
        } = self;
        options.command_id = options.command_id.or(event_id);
        options.handler = Some(handler::<E>());
        let recorded = Standalone::new(event, stream_id, event_id);
        Dispatch::configured(target, recorded, options, wait_for).into_future()
    }
}

/// An event recorded by name with its JSON (see [`Herald::record_json`]): add an actor,
/// ids, a stream id or an expected version, then `.await` it.
#[must_use = "recording does nothing until it is awaited"]
pub struct JsonRecord<'a> {
    herald: &'a Herald,
    event: Box<dyn AnyRecord>,
    stream_id: Option<String>,
    event_id: Option<Uuid>,
    options: Options,
}

impl<'a> JsonRecord<'a> {
    pub(crate) fn new(herald: &'a Herald, event: Box<dyn AnyRecord>) -> Self {
        JsonRecord {
            herald,
            event,
            stream_id: None,
            event_id: None,
            options: Options::default(),
        }
    }

    /// The event's name.
    pub fn name(&self) -> &'static str {
        self.event.name()
    }

    /// Who records the event (see [`Record::actor`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.options.actor = Some(actor);
        self
    }

    /// The event's id (see [`Record::event_id`]).
    pub fn event_id(mut self, id: Uuid) -> Self {
        self.event_id = Some(id);
        self
    }

    /// The idempotency key (see [`Record::command_id`]).
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.options.command_id = Some(id);
        self
    }

    /// The correlation id the event carries (default: the command id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.options.correlation_id = Some(id);
        self
    }

    /// The id of the stream the event goes into (see [`Record::stream_id`]).
    pub fn stream_id(mut self, id: impl Into<String>) -> Self {
        self.stream_id = Some(id.into());
        self
    }

    /// The W3C trace context of the request that records the event (see
    /// [`Record::trace_parent`]).
    pub fn trace_parent(mut self, parent: crate::telemetry::TraceParent) -> Self {
        self.options.trace_parent = Some(parent.to_string());
        self
    }

    /// The version the caller last saw of the stream (see [`Record::expected_version`]).
    pub fn expected_version(mut self, version: u64) -> Self {
        self.options.expected_version = Some(version);
        self
    }
}

impl<'a> IntoFuture for JsonRecord<'a> {
    type Output = Result<Dispatched, Error>;
    type IntoFuture = BoxFuture<'a, Result<Dispatched, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        let JsonRecord {
            herald,
            event,
            stream_id,
            event_id,
            mut options,
        } = self;
        options.command_id = options.command_id.or(event_id);
        let alone = Alone {
            kernel: herald.kernel(),
            options,
        };
        event.run_alone(alone, stream_id, event_id)
    }
}
