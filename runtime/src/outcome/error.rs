//! What a dispatch returns when it fails: always typed, always with the route and the
//! handler involved.

use std::fmt;

use crate::BoxError;
use crate::base::json_value::BadJson;
use crate::model::aggregate::ApplyError;
use crate::outcome::trace::Trace;
use crate::route::{Route, RouteError};
use crate::store::{Conflict, StoreError, StreamKey};
use uuid::Uuid;

/// Why a dispatch (or starting a runtime) failed: two pointers wide, with the typed
/// [`ErrorKind`] behind [`Error::kind`] and a failed dispatch's [`Error::trace`].
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::ErrorKind;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let herald = herald().await;
/// let err = herald.dispatch(Deposit { account_id: 9, amount: 5 }).await.unwrap_err();
/// match err.kind() {
///     ErrorKind::Rejected { route, handler, .. } => {
///         assert_eq!((route.as_str(), *handler), ("deposit.9", "Account::deposit"));
///     }
///     other => panic!("{other}"),
/// }
/// assert_eq!(err.rejection(), Some(&BankError::NotOpen));
/// # }
/// ```
#[derive(Debug)]
pub struct Error {
    kind: Box<ErrorKind>,
    trace: Option<Box<Trace>>,
    /// Saga steps of the failed dispatch that could not be reversed.
    unreversed: Vec<String>,
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What went wrong, owned.
    pub fn into_kind(self) -> ErrorKind {
        *self.kind
    }

    /// The trace of the dispatch that failed: every step up to the failure, timed, the
    /// failed one marked (and a rollback that failed too). `None` for errors that are not
    /// a dispatch's (starting a runtime, loading an aggregate).
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_deref()
    }

    /// The saga steps of the failed dispatch that could not be reversed, after their
    /// retries (empty when every completed step was reversed). They stay in the saga log,
    /// marked `stuck`.
    pub fn unreversed(&self) -> &[String] {
        &self.unreversed
    }

    pub(crate) fn with_unreversed(mut self, unreversed: Vec<String>) -> Self {
        self.unreversed = unreversed;
        self
    }

    pub(crate) fn with_trace(mut self, trace: Trace) -> Self {
        self.trace = Some(Box::new(trace));
        self
    }
}

impl<K: Into<ErrorKind>> From<K> for Error {
    fn from(kind: K) -> Self {
        Error {
            kind: Box::new(kind.into()),
            trace: None,
            unreversed: Vec::new(),
        }
    }
}

/// The whole chain: what went wrong, then each cause, once (so the error has no
/// [`source`](std::error::Error::source) of its own: the causes are in [`ErrorKind`]'s
/// fields, and its `source()`).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::outcome::report::Chain(&*self.kind).fmt(f)?;
        if !self.unreversed.is_empty() {
            write!(f, "; and {}", self.unreversed.join("; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// What went wrong in a dispatch, with the command, route and handler concerned.
///
/// Each kind has a stable [`code`](Self::code), for programs (the HTTP door maps them to
/// problem types), and says with [`is_retryable`](Self::is_retryable) whether sending
/// the same request again can succeed:
///
/// | code | kind | retrying helps |
/// |---|---|---|
/// | `registry` | [`Registry`](ErrorKind::Registry) | no |
/// | `unknown_command` | [`UnknownCommand`](ErrorKind::UnknownCommand) | no |
/// | `invalid_command` | [`BadCommand`](ErrorKind::BadCommand) | no |
/// | `unknown_event` | [`UnknownEvent`](ErrorKind::UnknownEvent) | no |
/// | `invalid_event` | [`BadEvent`](ErrorKind::BadEvent) | no |
/// | `invalid_route` | [`Route`](ErrorKind::Route) | no |
/// | `invalid_pattern` | [`Pattern`](ErrorKind::Pattern) | no |
/// | `invalid_id` | [`InvalidId`](ErrorKind::InvalidId) | no |
/// | `not_handled` | [`NotHandled`](ErrorKind::NotHandled) | no |
/// | `forbidden` | [`Forbidden`](ErrorKind::Forbidden) | no |
/// | `rejected` | [`Rejected`](ErrorKind::Rejected) | no |
/// | `conflict` | [`Conflict`](ErrorKind::Conflict) | yes, unless the caller gave the version (reload first) |
/// | `apply_failed` | [`Apply`](ErrorKind::Apply) | no |
/// | `state_not_json` | [`State`](ErrorKind::State) | no |
/// | `panicked` | [`Panicked`](ErrorKind::Panicked) | no |
/// | `hook_rejected` | [`Hook`](ErrorKind::Hook) | no |
/// | `saga_failed` | [`Saga`](ErrorKind::Saga) | yes: the third party may be back |
/// | `unreversed` | [`Unreversed`](ErrorKind::Unreversed) | no: a person settles the steps |
/// | `route_changed` | [`RouteChanged`](ErrorKind::RouteChanged) | no |
/// | `id_changed` | [`IdChanged`](ErrorKind::IdChanged) | no |
/// | `projector_failed` | [`Project`](ErrorKind::Project) | it depends on the projector |
/// | `processor_failed` | [`Process`](ErrorKind::Process) | it depends on the processor |
/// | `dispatcher_failed` | [`Dispatch`](ErrorKind::Dispatch) | it depends on the dispatcher |
/// | `nesting_too_deep` | [`Nesting`](ErrorKind::Nesting) | no |
/// | `invalid_event` | [`Event`](ErrorKind::Event) | no |
/// | `invalid_payload` | [`Payload`](ErrorKind::Payload) | no |
/// | `command_id_reused` | [`CommandIdReused`](ErrorKind::CommandIdReused) | no |
/// | `consumer_failed` | [`Consumer`](ErrorKind::Consumer) | yes: it is retried |
/// | `parked` | [`Parked`](ErrorKind::Parked) | after `retry` |
/// | `timeout` | [`Timeout`](ErrorKind::Timeout) | yes: the command committed, wait again |
/// | `no_such_consumer` | [`NoSuchConsumer`](ErrorKind::NoSuchConsumer) | no |
/// | `unknown_consumer` | [`UnknownConsumer`](ErrorKind::UnknownConsumer) | no |
/// | `invalid_consumer_name` | [`InvalidConsumerName`](ErrorKind::InvalidConsumerName) | no |
/// | `consumer_registered` | [`ConsumerRegistered`](ErrorKind::ConsumerRegistered) | no: delete it first |
/// | `ack_beyond_head` | [`AckBeyondHead`](ErrorKind::AckBeyondHead) | no |
/// | `repartitioned` | [`Repartitioned`](ErrorKind::Repartitioned) | no: reset or rebuild |
/// | `commit_unknown` | [`CommitUnknown`](ErrorKind::CommitUnknown) | yes, with the same command id |
/// | `store_failed` | [`Store`](ErrorKind::Store) | yes: the store may answer again |
///
/// Each kind's message leaves its cause out and returns it from `source()`;
/// [`Error`]'s message shows them all, each once.
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let herald = herald().await;
/// let err = herald.dispatch(Deposit { account_id: 9, amount: 5 }).await.unwrap_err();
/// assert_eq!((err.kind().code(), err.kind().is_retryable()), ("rejected", false));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The registrations the runtime was built from have problems; every one is listed.
    #[error(transparent)]
    Registry(#[from] RegistryError),

    /// No command of this runtime has the name (sending one by name: JSON, HTTP).
    #[error("there is no command `{name}`")]
    UnknownCommand {
        /// The name asked for.
        name: String,
    },

    /// A command sent as JSON does not decode as its type: which field, and why.
    #[error("command `{command}`: {json}")]
    BadCommand {
        /// The command's name.
        command: &'static str,
        /// Where the JSON is wrong.
        json: BadJson,
    },

    /// An event was recorded by a name no registered event has
    /// ([`Herald::record_json`](crate::Herald::record_json)).
    #[error("there is no event `{name}`")]
    UnknownEvent {
        /// The name asked for.
        name: String,
    },

    /// An event recorded as JSON does not decode as its type: which field, and why.
    #[error("event `{event}`: {json}")]
    BadEvent {
        /// The event's name.
        event: &'static str,
        /// Where the JSON is wrong.
        json: BadJson,
    },

    /// A command's route could not be rendered from its fields.
    #[error("command `{command}`")]
    Route {
        /// The command's name.
        command: &'static str,
        /// What is wrong with the route.
        source: RouteError,
    },

    /// A pattern given at run time (a live subscription's, say) does not parse.
    #[error("pattern `{pattern}`")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        source: RouteError,
    },

    /// A command's aggregate id is not a valid stream id.
    #[error("command `{command}` (route `{route}`): invalid aggregate id in field `{field}`")]
    InvalidId {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The field holding the id.
        field: &'static str,
        /// What is wrong with it.
        source: StoreError,
    },

    /// No aggregate in this runtime handles the command.
    #[error("command `{command}` (route `{route}`): no aggregate in this runtime handles it{}", left_out_hint(.left_out))]
    NotHandled {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The handler linked into the binary that the runtime's
        /// [`modules`](crate::HeraldBuilder::modules) leave out, and its module.
        left_out: Option<(&'static str, &'static str)>,
    },

    /// The actor has none of the roles the command requires.
    #[error(
        "command `{command}` (route `{route}`): actor `{actor}` has none of the roles {roles:?}"
    )]
    Forbidden {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The actor's id.
        actor: String,
        /// The roles the command allows.
        roles: &'static [&'static str],
    },

    /// A handler rejected the command with a domain error; see [`Error::rejection`].
    #[error("command `{command}` (route `{route}`) rejected by `{handler}`")]
    Rejected {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The handler that rejected it.
        handler: &'static str,
        /// The domain error.
        source: BoxError,
    },

    /// The stream was not at the expected version, after the configured retries (never
    /// retried when the caller gave the version).
    #[error("command `{command}` (route `{route}`): {conflict}")]
    Conflict {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The stream and versions.
        conflict: Conflict,
        /// How many times the command was tried.
        attempts: u32,
        /// Whether the caller gave the expected version (`If-Match`,
        /// [`expected_version`](crate::Dispatch::expected_version)): then it was tried
        /// once, and only reloading can help.
        version_given: bool,
    },

    /// The aggregate could not apply an event (while loading its stream, or one its
    /// handler produced).
    #[error("aggregate `{aggregate}` of stream `{stream}`: event `{event}`{}", at_version(.version))]
    Apply {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The stream.
        stream: StreamKey,
        /// The event's name.
        event: String,
        /// The event's version in the stream; `None` for a new event.
        version: Option<u64>,
        /// What went wrong.
        source: ApplyError,
    },

    /// The aggregate's state does not serialize to JSON, which its snapshots and the
    /// aggregate cache need.
    #[error(
        "aggregate `{aggregate}` of stream `{stream}`: its state does not serialize to JSON (snapshots and the aggregate cache store it so)"
    )]
    State {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The stream.
        stream: StreamKey,
        /// What serde said.
        source: serde_json::Error,
    },

    /// The aggregate panicked while it loaded, decided on or applied the command. (A
    /// panic in another handler is that handler's error, with [`Panicked`](crate::error::Panicked)
    /// as its source.)
    #[error("command `{command}` (route `{route}`): `{handler}` panicked: {message}")]
    Panicked {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The aggregate's handler.
        handler: &'static str,
        /// The panic's message.
        message: String,
    },

    /// A hook rejected the command, or failed.
    #[error("command `{command}` (route `{route}`) rejected by hook `{hook}`")]
    Hook {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The hook.
        hook: &'static str,
        /// Its error.
        source: BoxError,
    },

    /// A saga step failed, after its retries; the steps before it were reversed.
    #[error(
        "command `{command}` (route `{route}`): saga step `{step}` failed after {attempts} attempts"
    )]
    Saga {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The saga step.
        step: &'static str,
        /// How many times it was tried.
        attempts: u32,
        /// Its last error.
        source: BoxError,
    },

    /// A transaction was rolled back, and some saga steps of its dispatches could not be
    /// reversed (they stay in the saga log, marked `stuck`).
    #[error("the transaction was rolled back, but {}", steps.join("; "))]
    Unreversed {
        /// What could not be reversed.
        steps: Vec<String>,
    },

    /// A hook changed the command so that its route changed: a command keeps its route.
    #[error(
        "command `{command}` (route `{route}`): hook `{hook}` changed its route to `{changed_to}`; a hook may change a command, not which route it has"
    )]
    RouteChanged {
        /// The command's name.
        command: &'static str,
        /// The route before the hook.
        route: Route,
        /// The hook.
        hook: &'static str,
        /// The route after it.
        changed_to: Route,
    },

    /// A hook changed the field that says which aggregate the command addresses.
    #[error(
        "command `{command}` (route `{route}`): hook `{hook}` changed its aggregate id (field `{field}`) to `{changed_to}`; a hook may change a command, not which aggregate it addresses"
    )]
    IdChanged {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The hook.
        hook: &'static str,
        /// The field holding the aggregate id.
        field: &'static str,
        /// The id after the hook.
        changed_to: String,
    },

    /// A strong projector failed on one of the command's events.
    #[error(
        "command `{command}` (route `{route}`): projector `{projector}` failed on event `{event}`"
    )]
    Project {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The projector.
        projector: &'static str,
        /// The event's route.
        event: Route,
        /// Its error.
        source: BoxError,
    },

    /// A strong processor failed on one of the command's events.
    #[error(
        "command `{command}` (route `{route}`): processor `{processor}` failed on event `{event}`"
    )]
    Process {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The processor.
        processor: &'static str,
        /// The event's route.
        event: Route,
        /// Its error.
        source: BoxError,
    },

    /// A dispatcher failed on one of the command's events.
    #[error(
        "command `{command}` (route `{route}`): dispatcher `{dispatcher}` failed on event `{event}`"
    )]
    Dispatch {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The dispatcher.
        dispatcher: &'static str,
        /// The event's route.
        event: Route,
        /// Its error.
        source: BoxError,
    },

    /// Processors nested commands (or dispatchers side events) deeper than the runtime
    /// allows: most likely a cycle.
    #[error(
        "commands and side events nested {} deep, more than the {limit} allowed (a cycle of processors or dispatchers?): {}",
        chain.len() - 1,
        chain.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" → ")
    )]
    Nesting {
        /// The routes of the commands, outermost first.
        chain: Vec<Route>,
        /// How deep commands may nest ([`HeraldBuilder::max_nesting`](crate::HeraldBuilder::max_nesting)).
        limit: usize,
    },

    /// An event a handler produced could not be stored.
    #[error("event `{event}` produced by `{handler}`")]
    Event {
        /// The event's name.
        event: &'static str,
        /// The handler that produced it.
        handler: &'static str,
        /// What went wrong: an invalid route or a payload that does not serialize.
        source: BoxError,
    },

    /// The command does not serialize (to hash it for its id's record).
    #[error("command `{command}` does not serialize")]
    Payload {
        /// The command's name.
        command: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },

    /// The command id was already committed with another command, payload or tenant.
    #[error(
        "command `{command}` (route `{route}`): command id {command_id} was already used for another command, payload or tenant; a retried command must be sent unchanged, by the same tenant"
    )]
    CommandIdReused {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The id.
        command_id: uuid::Uuid,
    },

    /// An eventual handler failed on an event (after the command committed).
    #[error("consumer `{consumer}` failed on event `{event}` ({event_id})")]
    Consumer {
        /// The consumer (its handler's name).
        consumer: String,
        /// The event's route.
        event: Route,
        /// The event's id.
        event_id: Uuid,
        /// The handler's error, or that of a command it dispatched.
        source: BoxError,
    },

    /// An eventual consumer parked one of the events waited for: it did not take effect.
    #[error(
        "consumer `{consumer}` parked event `{event}` ({event_id}) after {attempts} tries: {error}"
    )]
    Parked {
        /// The consumer.
        consumer: String,
        /// The event's route.
        event: String,
        /// The event's id.
        event_id: Uuid,
        /// How many times it was tried.
        attempts: u32,
        /// Why it was parked.
        error: String,
    },

    /// Waiting for eventual consumers took longer than allowed (the command committed).
    #[error("consumer `{consumer}` had not processed the events within {waited:?}: {why}")]
    Timeout {
        /// The consumer waited for.
        consumer: String,
        /// How long it was waited for.
        waited: std::time::Duration,
        /// Why, as far as this runtime can tell: its worker keeps failing, its handler is
        /// retrying an event, no runtime runs it, …
        why: String,
    },

    /// Something was asked of a consumer this runtime does not have, or of an event it
    /// has not parked.
    #[error("{0}")]
    NoSuchConsumer(String),

    /// The tenant has no remote consumer of that name (whether another tenant has one
    /// is not said: the message is the same).
    #[error("tenant `{tenant}` has no remote consumer `{name}`")]
    UnknownConsumer {
        /// The tenant asking.
        tenant: String,
        /// The name asked for.
        name: String,
    },

    /// A remote consumer's name (or tenant) that cannot be registered.
    #[error("remote consumer `{name}`: {reason}")]
    InvalidConsumerName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A remote consumer is registered under the name with other patterns. Registering
    /// again with the same patterns returns it; to change them, delete it (and its
    /// checkpoint) and register again.
    #[error(
        "remote consumer `{name}` of tenant `{tenant}` is registered with patterns {registered:?}, not {given:?}: delete it first to register it with others"
    )]
    ConsumerRegistered {
        /// The tenant.
        tenant: String,
        /// The consumer's name.
        name: String,
        /// Its patterns, as registered.
        registered: Vec<String>,
        /// The patterns given now.
        given: Vec<String>,
    },

    /// A remote consumer acknowledged a position past every event that can be read: not
    /// one it was given.
    #[error(
        "remote consumer `{name}` of tenant `{tenant}` cannot acknowledge {position}: nothing can be read past {head}"
    )]
    AckBeyondHead {
        /// The tenant.
        tenant: String,
        /// The consumer's name.
        name: String,
        /// The position acknowledged.
        position: crate::store::Position,
        /// The last position a reader can read now.
        head: crate::store::Position,
    },

    /// The store holds a consumer's checkpoints for another number of partitions than
    /// its handler declares (`partitions = N` changed): its worker stops rather than
    /// handle events twice or skip them. The message says how to move on.
    #[error("{0}")]
    Repartitioned(String),

    /// A commit reported an error, and whether it took effect could not be read back
    /// (the store did not answer). Its saga steps are neither done nor reversed: they are
    /// settled once the store answers (done if it committed, reversed if not). Look the
    /// command up, or send it again with the same command id, which returns the first
    /// result if it did commit and runs it otherwise.
    #[error(
        "{context}: whether the commit took effect could not be read back ({lookup}); command {witness} tells once the store answers, and its saga steps are settled then; the commit said"
    )]
    CommitUnknown {
        /// What was being committed.
        context: String,
        /// The command whose row tells whether it committed.
        witness: Uuid,
        /// What the commit said.
        source: StoreError,
        /// What reading the command back said.
        lookup: StoreError,
    },

    /// The event store failed.
    #[error("{context}")]
    Store {
        /// What was being done: the command and route, or the aggregate being loaded.
        context: String,
        /// What the store said.
        source: StoreError,
    },
}

impl ErrorKind {
    /// The kind's stable, machine-readable code (see the table above): it never changes
    /// for a kind, whatever its message says.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Registry(..) => "registry",
            ErrorKind::UnknownCommand { .. } => "unknown_command",
            ErrorKind::BadCommand { .. } => "invalid_command",
            ErrorKind::UnknownEvent { .. } => "unknown_event",
            ErrorKind::BadEvent { .. } => "invalid_event",
            ErrorKind::Route { .. } => "invalid_route",
            ErrorKind::Pattern { .. } => "invalid_pattern",
            ErrorKind::InvalidId { .. } => "invalid_id",
            ErrorKind::NotHandled { .. } => "not_handled",
            ErrorKind::Forbidden { .. } => "forbidden",
            ErrorKind::Rejected { .. } => "rejected",
            ErrorKind::Conflict { .. } => "conflict",
            ErrorKind::Apply { .. } => "apply_failed",
            ErrorKind::State { .. } => "state_not_json",
            ErrorKind::Panicked { .. } => "panicked",
            ErrorKind::Hook { .. } => "hook_rejected",
            ErrorKind::Saga { .. } => "saga_failed",
            ErrorKind::Unreversed { .. } => "unreversed",
            ErrorKind::RouteChanged { .. } => "route_changed",
            ErrorKind::IdChanged { .. } => "id_changed",
            ErrorKind::Project { .. } => "projector_failed",
            ErrorKind::Process { .. } => "processor_failed",
            ErrorKind::Dispatch { .. } => "dispatcher_failed",
            ErrorKind::Nesting { .. } => "nesting_too_deep",
            ErrorKind::Event { .. } => "invalid_event",
            ErrorKind::Payload { .. } => "invalid_payload",
            ErrorKind::CommandIdReused { .. } => "command_id_reused",
            ErrorKind::Consumer { .. } => "consumer_failed",
            ErrorKind::Parked { .. } => "parked",
            ErrorKind::Timeout { .. } => "timeout",
            ErrorKind::NoSuchConsumer(..) => "no_such_consumer",
            ErrorKind::UnknownConsumer { .. } => "unknown_consumer",
            ErrorKind::InvalidConsumerName { .. } => "invalid_consumer_name",
            ErrorKind::ConsumerRegistered { .. } => "consumer_registered",
            ErrorKind::AckBeyondHead { .. } => "ack_beyond_head",
            ErrorKind::Repartitioned(..) => "repartitioned",
            ErrorKind::CommitUnknown { .. } => "commit_unknown",
            ErrorKind::Store { .. } => "store_failed",
        }
    }

    /// Whether sending the same request again can succeed (see the table above): a
    /// conflict the runtime retried already (not one on a version the caller gave), a
    /// store that did not answer, a commit whose outcome is unknown (send it with the
    /// same command id), a timeout waiting for consumers (the command committed), a saga
    /// step's third party, an eventual handler. A domain refusal, a bad input, a
    /// registration problem or a panic fails the same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorKind::Conflict { version_given, .. } => !version_given,
            ErrorKind::Saga { .. }
            | ErrorKind::Consumer { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::CommitUnknown { .. }
            | ErrorKind::Store { .. } => true,
            _ => false,
        }
    }
}

/// Asking a transaction for a connection of another kind of store than it has.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn connection_error(source: StoreError) -> Error {
    ErrorKind::Store {
        context: "getting the transaction's connection".into(),
        source,
    }
    .into()
}

fn left_out_hint(left_out: &Option<(&'static str, &'static str)>) -> impl fmt::Display {
    let left_out = *left_out;
    fmt::from_fn(move |f| match left_out {
        Some((handler, module)) => write!(
            f,
            "; `{handler}` does, in module `{module}`, which the runtime's `.modules([...])` leave out"
        ),
        None => Ok(()),
    })
}

fn at_version(version: &Option<u64>) -> impl fmt::Display + use<'_> {
    fmt::from_fn(move |f| match *version {
        Some(v) => write!(f, " at version {v}"),
        None => Ok(()),
    })
}

impl Error {
    /// The domain error a handler rejected the command with, when it is an `E`.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let herald = herald().await;
    /// herald.dispatch(OpenAccount { account_id: 1 }).await.unwrap();
    /// let err = herald.dispatch(Withdraw { account_id: 1, amount: 5 }).await.unwrap_err();
    /// assert_eq!(err.rejection::<BankError>(), Some(&BankError::InsufficientFunds { balance: 0 }));
    /// # }
    /// ```
    pub fn rejection<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self.kind() {
            ErrorKind::Rejected { source, .. } => source.downcast_ref(),
            _ => None,
        }
    }

    /// The stable code of its kind: [`ErrorKind::code`].
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// Whether sending the same request again can succeed: [`ErrorKind::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// Whether this is a version conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(self.kind(), ErrorKind::Conflict { .. })
    }
}

/// Everything wrong with a runtime's registrations, found at once by [`Registry::check`](crate::Registry::check).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RegistryError {
    problems: Vec<String>,
}

impl RegistryError {
    /// The problems found, sorted (crate-private: the registry builds it).
    pub(crate) fn new(problems: Vec<String>) -> Self {
        RegistryError { problems }
    }
}

impl RegistryError {
    /// Each problem, sorted.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in the registered handlers:",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
