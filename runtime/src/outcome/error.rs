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
/// | `stream_busy` | [`StreamBusy`](ErrorKind::StreamBusy) | yes: the commands ahead may be done |
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
/// | `snapshot_mismatch` | [`SnapshotMismatch`](ErrorKind::SnapshotMismatch) | no: rebuild instead |
/// | `snapshot_file` | [`SnapshotFile`](ErrorKind::SnapshotFile) | no |
/// | `consumer_held` | [`ConsumerHeld`](ErrorKind::ConsumerHeld) | yes, once its holder stops |
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

    /// The commands of this runtime ahead of it on its stream took longer than the wait
    /// allowed ([`HeraldBuilder::stream_queue_wait`](crate::HeraldBuilder::stream_queue_wait)):
    /// nothing of it ran.
    #[error(
        "command `{command}` (route `{route}`): the commands of this runtime ahead of it on stream `{stream}` took longer than {waited:?}"
    )]
    StreamBusy {
        /// The command's name.
        command: &'static str,
        /// The command's route.
        route: Route,
        /// The stream it waited for.
        stream: StreamKey,
        /// How long it waited.
        waited: std::time::Duration,
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

    /// A read-model snapshot does not fit the projector it was to be restored into (see
    /// [`Consumers::restore`](crate::Consumers::restore)): taken of another projector,
    /// under another version of it, with other tables or another table layout, under
    /// another number of partitions, on another kind of store, or past this store's
    /// events. Nothing was changed; `mismatch` says which, and the message says why.
    #[error("snapshot `{file}` cannot be restored into projector `{consumer}`")]
    SnapshotMismatch {
        /// The projector.
        consumer: String,
        /// The snapshot file.
        file: std::path::PathBuf,
        /// What does not fit.
        #[source]
        mismatch: SnapshotMismatch,
    },

    /// A read-model snapshot file could not be written or read: the file system failed,
    /// or the file is not a whole snapshot (cut short, changed, or not one at all).
    /// Nothing was changed in the store.
    #[error("snapshot `{file}`: {problem}")]
    SnapshotFile {
        /// The snapshot file.
        file: std::path::PathBuf,
        /// What went wrong.
        problem: String,
    },

    /// Another runtime holds the lease of the consumer (or of one of its partitions), so
    /// it cannot be held here for the work asked (restoring a snapshot): stop the
    /// processes running it (a stopped runtime gives its leases up at once, a killed
    /// one's run out after the lease's term), or do the work from one of them.
    #[error(
        "runtime {owner} holds the lease of `{key}`: stop the processes running consumer `{consumer}` first (a stopped runtime gives its leases up at once; a killed one's run out after the lease's term)"
    )]
    ConsumerHeld {
        /// The consumer.
        consumer: String,
        /// The key whose lease is held: the consumer's name or a partition's key.
        key: String,
        /// The runtime holding it.
        owner: Uuid,
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
            ErrorKind::StreamBusy { .. } => "stream_busy",
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
            ErrorKind::SnapshotMismatch { .. } => "snapshot_mismatch",
            ErrorKind::SnapshotFile { .. } => "snapshot_file",
            ErrorKind::ConsumerHeld { .. } => "consumer_held",
            ErrorKind::Store { .. } => "store_failed",
        }
    }

    /// Whether sending the same request again can succeed (see the table above): a
    /// conflict the runtime retried already (not one on a version the caller gave), a
    /// stream busy with this runtime's commands, a store that did not answer, a commit whose outcome is unknown (send it with the
    /// same command id), a timeout waiting for consumers (the command committed), a saga
    /// step's third party, an eventual handler. A domain refusal, a bad input, a
    /// registration problem or a panic fails the same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorKind::Conflict { version_given, .. } => !version_given,
            ErrorKind::Saga { .. }
            | ErrorKind::StreamBusy { .. }
            | ErrorKind::Consumer { .. }
            | ErrorKind::Timeout { .. }
            | ErrorKind::CommitUnknown { .. }
            | ErrorKind::ConsumerHeld { .. }
            | ErrorKind::Store { .. } => true,
            _ => false,
        }
    }
}

/// Why a read-model snapshot does not fit the projector it was to be restored into
/// ([`ErrorKind::SnapshotMismatch`]). A snapshot holds what one version of one projector
/// wrote in its tables, with the positions of one store's events: restored anywhere
/// else, the projector would go on from a position its tables do not match.
///
/// ```
/// use herald::ErrorKind;
/// use herald::error::SnapshotMismatch;
///
/// /// What to tell an operator whose restore was refused.
/// fn advice(error: &herald::Error) -> Option<String> {
///     match error.kind() {
///         ErrorKind::SnapshotMismatch {
///             mismatch: SnapshotMismatch::Version { snapshot, declared },
///             ..
///         } => Some(format!("taken under v{snapshot}, the projector is at v{declared}: rebuild it")),
///         ErrorKind::SnapshotMismatch { mismatch, .. } => Some(mismatch.to_string()),
///         _ => None,
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotMismatch {
    /// The file is of another version of the snapshot format.
    #[error("it is in snapshot format version {found}, and this Herald reads version {supported}")]
    Format {
        /// The file's format version.
        found: u32,
        /// The one this Herald reads.
        supported: u32,
    },
    /// It is a snapshot of another projector.
    #[error("it is a snapshot of projector `{snapshot}`")]
    Projector {
        /// The projector it was taken of.
        snapshot: String,
    },
    /// It was taken under another version of the projector (`version = N`): what the
    /// tables hold was written otherwise.
    #[error(
        "it was taken under version {snapshot} of the projector, which is at version {declared} now: \
         its rows were written by the other version's code; rebuild the projector instead"
    )]
    Version {
        /// The version it was taken under.
        snapshot: u32,
        /// The version the projector declares now.
        declared: u32,
    },
    /// The projector declares other tables than the snapshot holds.
    #[error(
        "it holds tables {snapshot:?}, and the projector declares {declared:?}: rebuild the projector instead"
    )]
    Tables {
        /// The tables it holds.
        snapshot: Vec<String>,
        /// The tables the projector declares now.
        declared: Vec<String>,
    },
    /// A table's columns are not those the snapshot was taken with (or the table does
    /// not exist).
    #[error(
        "table `{table}` {difference}: rebuild the projector instead, or migrate the table back"
    )]
    Layout {
        /// The table.
        table: String,
        /// How it differs: which column, its type, or that the table is missing.
        difference: String,
    },
    /// It was taken under another number of partitions (`partitions = N`).
    #[error(
        "it was taken with the projector split into {snapshot} partitions, and it declares {declared}: its streams' checkpoints do not map"
    )]
    Partitions {
        /// The number it was taken under.
        snapshot: u32,
        /// The number the projector declares now.
        declared: u32,
    },
    /// It was taken on another kind of store, whose positions mean nothing here.
    #[error(
        "it was taken on a `{snapshot}` store, and this one is `{store}`: its positions are another store's"
    )]
    Store {
        /// The kind of store it was taken on.
        snapshot: String,
        /// This store's kind.
        store: String,
    },
    /// Its checkpoint is past every event of this store: it was taken on another one.
    #[error(
        "its checkpoint is at {position}, past every event of this store (the last is at {head}): it was taken on another store"
    )]
    AheadOfStore {
        /// The snapshot's checkpoint (the furthest of its partitions').
        position: crate::store::Position,
        /// The last event of this store.
        head: crate::store::Position,
    },
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
