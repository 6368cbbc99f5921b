//! The runtime: a registry checked at start and an event store.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::base::retry::RetryPolicy;
use crate::consumer::{ConsumerSettings, Consumers, Hub, LiveEvents};
use crate::engine::cache::AggregateCache;
use crate::engine::handler::Recovery;
use crate::engine::handler::saga::recover;
use crate::engine::kernel::{Kernel, Settings};
use crate::engine::load::{LoadFrom, load};
use crate::engine::registry::Registry;
use crate::facade::dispatch::{Dispatch, JsonDispatch, Target};
use crate::facade::pipeline::Pipeline;
use crate::facade::record::{JsonRecord, Record};
use crate::facade::transaction::HeraldTransaction;
use crate::model::aggregate::Aggregate;
use crate::model::command::Command;
use crate::model::event::{Event, RouteParam};
use crate::outcome::error::{Error, ErrorKind};
use crate::store::{self, EventStore, MemoryStore, StreamKey};
use uuid::Uuid;

/// A running Herald application: dispatch commands, load aggregates, read events.
/// Cheap to clone; clones share the store and registry.
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::Herald;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// let herald = Herald::builder().modules(["herald_doc_fixtures"]).build().await?;
/// herald.dispatch(OpenAccount { account_id: 7 }).await?;
/// herald.dispatch(Deposit { account_id: 7, amount: 100 }).await?;
/// let account = herald.load::<Account>(7).await?;
/// assert_eq!((account.state().balance, account.version()), (100, 2));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Herald {
    /// The kernel and the consumers' parts, which the engine and the consumers borrow.
    hub: Arc<Hub>,
    /// What the doors keep per runtime (the channels' hub), one of each type.
    doors: Arc<Doors>,
}

/// What the doors keep per runtime, by type: a door above the facade puts its own state
/// here without the facade naming it.
#[derive(Default)]
struct Doors(std::sync::Mutex<Vec<Arc<dyn std::any::Any + Send + Sync>>>);

impl Herald {
    /// Starts building a runtime.
    pub fn builder() -> HeraldBuilder {
        HeraldBuilder {
            store: None,
            modules: None,
            conflict_retries: 10,
            stream_queue_wait: Duration::from_secs(10),
            group_commit: None,
            group_commit_limit: 16,
            max_nesting: 8,
            cached_aggregates: 10_000,
            saga_retry: RetryPolicy::default(),
            saga_lease: Duration::from_secs(30),
            consumers: ConsumerSettings::default(),
            archive: None,
        }
    }

    /// Dispatches `command`: the aggregate whose `#[handle]` method takes it decides its
    /// events, which are appended in one transaction. Configure the dispatch on the
    /// returned value, then `.await` it.
    pub fn dispatch<C: Command>(&self, command: C) -> Dispatch<'_, C> {
        Dispatch::new(Target::Runtime(self), command)
    }

    /// Decodes a command sent by name as JSON text (from outside the process: the HTTP
    /// door does this), ready to be configured and awaited like [`dispatch`](Self::dispatch).
    /// A name no command has is [`ErrorKind::UnknownCommand`]; JSON that is not the
    /// command's is [`ErrorKind::BadCommand`], naming the field and where it is (a field
    /// the command does not have is an error too, when `#[command]` derives its serde
    /// traits).
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let opened = herald.dispatch_json("OpenAccount", br#"{"account_id": 3}"#)?.await?;
    /// assert_eq!(opened.route().as_str(), "open.account.3");
    /// let unknown = herald.dispatch_json("CloseAccount", b"{}").err().unwrap();
    /// assert_eq!(unknown.kind().code(), "unknown_command");
    /// # Ok(()) }
    /// ```
    pub fn dispatch_json(&self, name: &str, json: &[u8]) -> Result<JsonDispatch<'_>, Error> {
        let Some(row) = self.registry().command_named(name) else {
            return Err(ErrorKind::UnknownCommand {
                name: name.to_owned(),
            }
            .into());
        };
        let command = (row.decode)(json).map_err(|json| ErrorKind::BadCommand {
            command: row.name,
            json,
        })?;
        Ok(JsonDispatch::new(self, command))
    }

    /// Records `event` without an aggregate deciding it, in a stream of its own (see
    /// [`Record`] for the stream and what runs): hooks and aggregates do not run, the
    /// event's strong handlers do, in its transaction. Configure it on the returned value,
    /// then `.await` it.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let noted = herald.record(NoteAdded { note_id: 1, text: "hello".into() }).await?;
    /// assert_eq!((noted.stream().stream_type(), noted.version()), ("notes", 1));
    /// assert_eq!(noted.events()[0].route.as_str(), "note.1.added");
    /// # Ok(()) }
    /// ```
    pub fn record<E: Event>(&self, event: E) -> Record<'_, E> {
        Record::new(Target::Runtime(self), event)
    }

    /// Decodes an event sent by name as JSON text (from outside the process: the HTTP door
    /// does this), ready to be configured and awaited like [`record`](Self::record). A
    /// name no event has is [`ErrorKind::UnknownEvent`]; JSON that is not the event's is
    /// [`ErrorKind::BadEvent`], naming the field and where it is.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let json = br#"{"note_id": 3, "text": "from outside"}"#;
    /// let noted = herald.record_json("NoteAdded", json)?.await?;
    /// assert_eq!(noted.route().as_str(), "note.3.added");
    /// let bad = herald.record_json("NoteAdded", br#"{"note_id": "x"}"#).err().unwrap();
    /// assert_eq!(bad.kind().code(), "invalid_event");
    /// let unknown = herald.record_json("NoteRemoved", b"{}").err().unwrap();
    /// assert_eq!(unknown.kind().code(), "unknown_event");
    /// # Ok(()) }
    /// ```
    pub fn record_json(&self, name: &str, json: &[u8]) -> Result<JsonRecord<'_>, Error> {
        let Some(row) = self.registry().event_named(name) else {
            return Err(ErrorKind::UnknownEvent {
                name: name.to_owned(),
            }
            .into());
        };
        let event = (row.decode)(json).map_err(|json| ErrorKind::BadEvent {
            event: row.name,
            json,
        })?;
        Ok(JsonRecord::new(self, event))
    }

    /// Declares a pipeline: commands dispatched one after the other, each in its own
    /// transaction and built from what the steps before it did. See [`Pipeline`].
    pub fn pipeline(&self, name: impl Into<String>) -> Pipeline<'_> {
        Pipeline::new(self, name.into())
    }

    /// Loads aggregate `A` with id `id` (in the default tenant unless given another).
    pub fn load<A: Aggregate>(&self, id: impl RouteParam) -> Load<'_, A> {
        let mut stream_id = String::new();
        id.write_route_segment(&mut stream_id);
        Load {
            herald: self,
            stream_id,
            tenant: Actor::DEFAULT_TENANT.to_owned(),
            from: LoadFrom::Cache,
            aggregate: PhantomData,
        }
    }

    /// The event store.
    pub fn store(&self) -> &dyn EventStore {
        self.hub.store()
    }

    /// What the engine runs on.
    pub(crate) fn kernel(&self) -> &Kernel {
        self.hub.kernel()
    }

    /// What the consumers run on (for the doors that run consumers elsewhere).
    #[cfg(feature = "nats")]
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The archive this runtime reads old events through to, if it has one.
    pub fn archive(&self) -> Option<&store::Archive> {
        self.hub.archive()
    }

    /// The registrations this runtime runs.
    pub fn registry(&self) -> &Registry {
        self.hub.registry()
    }

    /// What starting this runtime found in the saga log: the sagas of processes that
    /// stopped mid-saga, settled (see [`HeraldBuilder::saga_lease`]).
    pub fn recovery(&self) -> &Recovery {
        &self.kernel().recovery
    }

    pub(crate) fn cache(&self) -> &AggregateCache {
        self.kernel().cache()
    }

    /// The eventual consumers: where they are, their dead letters, waiting for them.
    pub fn consumers(&self) -> Consumers<'_> {
        self.hub.consumers()
    }

    /// Stops the workers of the eventual consumers and waits for them: a batch in flight
    /// commits or rolls back first, so no event is half-applied and every checkpoint is
    /// where its handler's writes are. Commands can still be dispatched; their events
    /// wait for the next runtime's workers.
    pub async fn shutdown(&self) {
        self.hub.workers().stop().await;
    }

    /// Subscribes to the events committed from now on whose routes match `pattern`
    /// (`"user.*"`, say; a bad pattern is an error naming what is wrong). A subscriber that
    /// falls more than 1,024 events behind skips them and is told how many
    /// ([`Live::Skipped`](crate::Live::Skipped)). Commits in this process, and on PostgreSQL in any process
    /// sharing the store, are seen.
    pub async fn live(&self, pattern: &str) -> Result<LiveEvents, Error> {
        crate::consumer::subscribe(&self.hub, pattern).await
    }

    /// At most `limit` events of `tenant` after `after` whose routes match one of
    /// `patterns` (every route when there is none), in the global order and read through
    /// to the archive: what a reader that keeps its own place reads, with no registration
    /// (a live view catching up, a client that may skip). Start at
    /// [`Position::START`](store::Position::START), or at the head of
    /// [`consumers().head()`](store::ConsumerLog::head) for only new events, and go on
    /// from [`Page::next`](store::Page::next): past the last event returned when the page
    /// is full, else past every event looked at, matching or not (at most
    /// [`SCAN_BUDGET`](crate::consumer::SCAN_BUDGET) of them per call, so a page may be
    /// empty while more comes further on). A late-committing event is never skipped. A
    /// bad pattern is an error naming what is wrong.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use herald::store::Position;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// herald.dispatch(Deposit { account_id: 1, amount: 5 }).await?;
    /// let page = herald.read_events("default", Position::START, ["*.*.deposited"], 10).await?;
    /// assert_eq!(page.events.len(), 1);
    /// let later = herald.read_events("default", page.next, ["*.*.deposited"], 10).await?;
    /// assert!(later.events.is_empty());
    /// assert!(herald.read_events("other", Position::START, ["*"], 10).await?.events.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn read_events<I, S>(
        &self,
        tenant: &str,
        after: store::Position,
        patterns: I,
        limit: usize,
    ) -> Result<store::Page, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = crate::consumer::parse_patterns(patterns)?;
        let read = crate::consumer::read_events(self.store(), tenant, after, &patterns, limit);
        read.await.map_err(|source| {
            ErrorKind::Store {
                context: format!("reading the events of tenant `{tenant}`"),
                source,
            }
            .into()
        })
    }

    /// Opens a transaction of the event store: dispatch commands in it and write your own
    /// tables through it; they commit together. See [`HeraldTransaction`].
    pub async fn begin(&self) -> Result<HeraldTransaction, Error> {
        let tx = self
            .store()
            .begin()
            .await
            .map_err(|source| ErrorKind::Store {
                context: "opening a transaction".into(),
                source,
            })?;
        Ok(HeraldTransaction::new(self.clone(), tx))
    }
}

impl Herald {
    /// The store without the runtime's archive, shared.
    #[cfg(feature = "cli")]
    pub(crate) fn active_store(&self) -> Arc<dyn EventStore> {
        self.hub.active_shared()
    }

    /// The door state of type `T` this runtime keeps, made by `make` the first time.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HTTP door's channels keep their hub here")
    )]
    pub(crate) fn door<T: Send + Sync + 'static>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let mut doors = self
            .doors
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = doors.iter().find_map(|d| d.clone().downcast::<T>().ok()) {
            return found;
        }
        let made = Arc::new(make());
        doors.push(made.clone());
        made
    }

    /// The door state of type `T`, if a door made one.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HTTP door's channels keep their hub here")
    )]
    pub(crate) fn door_if<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let doors = self
            .doors
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        doors.iter().find_map(|d| d.clone().downcast::<T>().ok())
    }

    /// The store, shared: what a door's background task reads without holding the runtime.
    #[cfg_attr(
        not(feature = "http"),
        allow(
            dead_code,
            reason = "the HTTP door's channels read the global order with it"
        )
    )]
    pub(crate) fn shared_store(&self) -> Arc<dyn EventStore> {
        self.hub.shared_store()
    }

    /// For as long as this runtime lives: says it is alive in the saga log every third of
    /// `lease`, and every `lease` settles the sagas of runtimes that stopped since.
    fn keep_alive(&self, lease: Duration) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let kernel = self.kernel().weak();
        handle.spawn(async move {
            for beat in 1u64.. {
                tokio::time::sleep(lease / 3).await;
                let Some(kernel) = kernel.upgrade() else {
                    return;
                };
                if let Err(error) = kernel.store().sagas().heartbeat(kernel.owner()).await {
                    tracing::warn!(%error, "could not say this runtime is alive in the saga log");
                }
                if beat % 3 == 0 {
                    let (store, policy) = (kernel.store(), kernel.saga_retry());
                    match recover(kernel.registry(), store, policy, kernel.owner(), lease).await {
                        Ok(found) if found != Recovery::default() => {
                            tracing::info!(?found, "settled the sagas of a runtime that stopped");
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(%error, "could not settle the sagas of stopped runtimes")
                        }
                    }
                }
            }
        });
    }
}

impl std::fmt::Debug for Herald {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Herald")
            .field("registry", self.registry())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Herald`] runtime.
#[must_use]
pub struct HeraldBuilder {
    store: Option<StoreChoice>,
    modules: Option<Vec<String>>,
    conflict_retries: u32,
    stream_queue_wait: Duration,
    group_commit: Option<bool>,
    group_commit_limit: usize,
    max_nesting: usize,
    cached_aggregates: usize,
    saga_retry: RetryPolicy,
    saga_lease: Duration,
    consumers: ConsumerSettings,
    archive: Option<store::Archive>,
}

enum StoreChoice {
    Store(Arc<dyn EventStore>),
    Url(String),
}

impl HeraldBuilder {
    /// The event store (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: impl EventStore) -> Self {
        self.store = Some(StoreChoice::Store(Arc::new(store)));
        self
    }

    /// The event store a URL names, opened by [`build`](Self::build): `sqlite://app.db`
    /// or a file path (SQLite, created if missing), `postgres://…`, `memory:`. See
    /// [`store::connect`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.store = Some(StoreChoice::Url(url.into()));
        self
    }

    /// Runs only what is registered in these modules or below them (default: every
    /// registration in the binary). See [`Registry::modules`].
    pub fn modules<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, modules: I) -> Self {
        let modules = modules.into_iter().map(|m| m.as_ref().to_owned());
        self.modules.get_or_insert_with(Vec::new).extend(modules);
        self
    }

    /// How many times a command whose append conflicts with a concurrent writer is run
    /// again (load, handle, append) before the conflict is returned (default: 10). The
    /// first run again follows at once (the stream is read again, in the transaction);
    /// each later one waits first, 2 ms doubling up to 100 ms, each wait spread by half
    /// of itself either way, so that writers that keep meeting on a stream fall out of
    /// step. The top-level commands of this runtime take turns on a stream rather than
    /// conflict: see [`stream_queue_wait`](Self::stream_queue_wait).
    pub fn conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    /// How long a command waits for the commands of this runtime ahead of it on its
    /// stream (default: 10 s); waiting longer is [`ErrorKind::StreamBusy`], and nothing
    /// of the command ran.
    ///
    /// Top-level commands for one stream (tenant, aggregate, id) run one after another in
    /// a runtime: each takes its turn on the stream, in order of arrival, before its
    /// transaction opens, and gives it up once it committed (or failed), so they never
    /// race each other to the append and conflict. Conflicts then come only from other
    /// processes (retried: see [`conflict_retries`](Self::conflict_retries)) and from
    /// the commands that do not queue:
    /// - a processor's command, nested in its parent's transaction: it cannot wait for a
    ///   turn that another command holds while that one may wait for it (two processors
    ///   feeding each other's streams would deadlock);
    /// - a command dispatched in a [`HeraldTransaction`](crate::HeraldTransaction): the
    ///   transaction is open already, and may hold the database's locks (on SQLite, the
    ///   writer's) that a command holding the stream's turn waits for;
    /// - an eventual processor's command, which runs in its worker's transaction.
    ///
    /// What holds a stream's turn long (a slow saga step or hook) makes the commands
    /// behind it wait; one that dispatches a top-level command to its own stream waits
    /// for itself, until this wait ends it.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use std::time::Duration;
    /// use herald::trace::Outcome;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// let herald = herald::Herald::builder()
    ///     .modules(["herald_doc_fixtures"])
    ///     .stream_queue_wait(Duration::from_secs(2))
    ///     .build()
    ///     .await?;
    /// herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// let deposits: Vec<_> = (0..8)
    ///     .map(|_| {
    ///         let herald = herald.clone();
    ///         tokio::spawn(async move { herald.dispatch(Deposit { account_id: 1, amount: 5 }).await })
    ///     })
    ///     .collect();
    /// for deposit in deposits {
    ///     let deposited = deposit.await.expect("the task ran")?;
    ///     // They took turns: none found the stream moved on and ran again.
    ///     assert!(deposited.trace().nodes().all(|n| n.outcome != Outcome::Conflict));
    /// }
    /// assert_eq!(herald.load::<Account>(1).await?.state().balance, 40);
    /// # Ok(()) }
    /// ```
    pub fn stream_queue_wait(mut self, wait: Duration) -> Self {
        self.stream_queue_wait = wait;
        self
    }

    /// Whether concurrent top-level commands share one transaction and one commit
    /// (default: on, where the store says a commit is worth sharing: the SQLite and
    /// PostgreSQL stores; the environment variable `HERALD_GROUP_COMMIT=off` turns the
    /// default off without a rebuild, `on` turns it on).
    ///
    /// A commit waits for the database to flush its log to disk; commands that commit
    /// together wait for one flush. While a transaction of commands commits, the commands
    /// that arrive meanwhile gather into the next, each running its steps under a
    /// savepoint of its own, one after another; a command alone waits for no one. What
    /// each command promises stays its own: its idempotency row, result and trace (a
    /// `commit` node timing the shared commit, whose detail says how many commands it
    /// held), its saga log; a command that fails (rejected, conflicting, a failing strong
    /// handler) is undone to its savepoint and changes nothing of its neighbours; the
    /// aggregate cache takes a command's aggregates only once its transaction committed.
    /// If the shared transaction itself fails (the connection is lost, the commit fails),
    /// each command in it fails as it would have alone, with the store's error, and
    /// nothing of it was written (or, if the store cannot say, with
    /// [`ErrorKind::CommitUnknown`]).
    ///
    /// Commands with a saga step commit alone, and so do commands dispatched in a
    /// [`HeraldTransaction`](crate::HeraldTransaction), processors' commands (they are
    /// in their parent's transaction) and commands dispatched from inside another
    /// command's steps (a hook calling the runtime).
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let file = std::env::temp_dir().join(format!("herald-group-{}.db", herald::Uuid::now_v7()));
    /// let herald = herald::Herald::builder()
    ///     .modules(["herald_doc_fixtures"])
    ///     .store(herald::store::SqliteStore::open(&file).await?)
    ///     .group_commit(true)
    ///     .build()
    ///     .await?;
    /// let opened: Vec<_> = (0..8)
    ///     .map(|account_id| {
    ///         let herald = herald.clone();
    ///         tokio::spawn(async move { herald.dispatch(OpenAccount { account_id }).await })
    ///     })
    ///     .collect();
    /// for open in opened {
    ///     open.await?.expect("each command has its own result");
    /// }
    /// # drop(herald); let _ = std::fs::remove_file(&file);
    /// # Ok(()) }
    /// ```
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = Some(on);
        self
    }

    /// The most commands one group commit holds (default: 16; see
    /// [`group_commit`](Self::group_commit)). Each takes a savepoint, and PostgreSQL
    /// keeps at most 64 subtransactions of a transaction in memory, processors' commands
    /// included: past that, every savepoint costs more.
    pub fn group_commit_limit(mut self, commands: usize) -> Self {
        self.group_commit_limit = commands.max(1);
        self
    }

    /// How deep processors may nest commands: a processor's command is one level below
    /// the command whose event it reacted to (default: 8). Deeper is reported as
    /// [`ErrorKind::Nesting`], which is what a cycle of processors ends in.
    pub fn max_nesting(mut self, levels: usize) -> Self {
        self.max_nesting = levels;
        self
    }

    /// How often a saga step, or a compensation, is tried before it counts as failed,
    /// and how long to wait between tries (default: 3 tries, 100 ms doubling).
    pub fn saga_retry(mut self, policy: RetryPolicy) -> Self {
        self.saga_retry = policy;
        self
    }

    /// How long a runtime may go without saying it is alive before another one, starting,
    /// takes its unsettled sagas as those of a stopped process and settles them (default:
    /// 30 s). A running runtime says so every third of it. When a runtime starts, a saga
    /// whose command committed is done, and one whose command did not commit has its
    /// started steps reversed, last first.
    pub fn saga_lease(mut self, lease: Duration) -> Self {
        self.saga_lease = lease;
        self
    }

    /// How many recently used aggregates to keep in memory with their stream version, so
    /// that loading one reads only the events after it (default: 10,000; 0 keeps none).
    /// A cached aggregate is always brought up to date from its stream, so another
    /// process writing the same store is never missed. Aggregates are kept as they are,
    /// not serialized: a command takes its aggregate out to decide on and puts the state
    /// after its events back once it commits (a refused command puts back what it took;
    /// one that failed after its events were applied leaves the next command to load it
    /// from the store).
    pub fn cached_aggregates(mut self, capacity: usize) -> Self {
        self.cached_aggregates = capacity;
        self
    }

    /// Whether this runtime runs workers for its eventual projectors and processors
    /// (default: yes, when built inside a Tokio runtime). A process that only dispatches
    /// can leave them to others sharing its store.
    pub fn run_consumers(mut self, run: bool) -> Self {
        self.consumers.run = run;
        self
    }

    /// How often an eventual handler is tried on an event before the event is parked as
    /// a dead letter, and the waits between (default: 5 tries, 100 ms doubling up to 30
    /// s, spread by 20%).
    pub fn consumer_retry(mut self, policy: RetryPolicy) -> Self {
        self.consumers.retry = policy;
        self
    }

    /// The longest a consumer's worker waits before it looks for new events when it hears
    /// of no commit (default: 1 s; it starts at 10 ms and doubles while idle). Commits in
    /// this process, and on PostgreSQL in any process, wake it at once; this bounds how
    /// long a missed notice can delay an event.
    pub fn consumer_poll(mut self, longest: Duration) -> Self {
        self.consumers.poll_max = longest.max(self.consumers.poll_min);
        self
    }

    /// How long a runtime's hold on each consumer lasts (default: 30 s). One runtime at a
    /// time runs a consumer: its worker renews the lease every third of it, and when it
    /// stops renewing (its process died) another runtime's worker takes over once the
    /// lease runs out. A worker that stops gracefully gives its leases up at once. The
    /// partitions of a handler split with `partitions = N` are dealt again within about
    /// one lease when a runtime joins, and within about two when one dies.
    pub fn consumer_lease(mut self, lease: Duration) -> Self {
        // At most a day: the databases add it to their clock.
        self.consumers.lease = lease.clamp(Duration::from_millis(3), Duration::from_secs(86_400));
        self
    }

    /// How many events a consumer's worker reads and handles in one transaction (default:
    /// 25, at least 1).
    pub fn consumer_batch(mut self, events: usize) -> Self {
        self.consumers.batch = events.max(1);
        self
    }

    /// A second store for the events every consumer has passed (see
    /// [`Consumers::archive`](crate::Consumers::archive)). Whatever this runtime reads of
    /// old events (loading a stream, replaying a consumer, answering a repeated command
    /// id) reads through to it what the store no longer holds. Give it to every runtime on
    /// the store once any of them [discards](store::Archive::discard).
    pub fn archive(mut self, archive: store::Archive) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Checks the registrations (every problem at once) and starts the runtime. A runtime
    /// whose registrations have problems does not start.
    pub async fn build(self) -> Result<Herald, Error> {
        let registry = match &self.modules {
            Some(modules) => Registry::modules(modules),
            None => Registry::all(),
        };
        registry.check()?;
        let group_commit = self.group_commit;
        let store: Arc<dyn EventStore> = match self.store {
            Some(StoreChoice::Store(store)) => store,
            Some(StoreChoice::Url(url)) => store::connect(&url)
                .await
                .map_err(|source| ErrorKind::Store {
                    context: format!("opening the store `{url}`"),
                    source,
                })?
                .into(),
            None => Arc::new(MemoryStore::new()),
        };
        let active = store.clone();
        let store: Arc<dyn EventStore> = match &self.archive {
            Some(archive) => Arc::new(store::ReadThrough::new(store, archive.clone())),
            None => store,
        };
        let cache = AggregateCache::new(self.cached_aggregates);
        let owner = Uuid::now_v7();
        let recovery = recover(&registry, &*store, self.saga_retry, owner, self.saga_lease).await?;
        let settings = Settings {
            conflict_retries: self.conflict_retries,
            stream_wait: self.stream_queue_wait,
            group_commit: groups_commits(group_commit, &*active).then_some(self.group_commit_limit),
            max_nesting: self.max_nesting,
            saga_retry: self.saga_retry,
        };
        let kernel = Kernel::new(store, registry, cache, settings, owner, recovery);
        let herald = Herald {
            hub: Hub::new(kernel, self.consumers, self.archive, active),
            doors: Arc::default(),
        };
        herald.keep_alive(self.saga_lease);
        herald.hub.start();
        Ok(herald)
    }
}

/// An aggregate being loaded; `.await` it.
///
/// By default the state comes from the runtime's aggregate cache when it has the stream,
/// with the events stored since read after it, so that it is current. For an audit or a
/// repair, [`fresh`](Self::fresh) reads what the store holds (the newest snapshot and
/// the events after it) and [`from_events`](Self::from_events) replays every event,
/// ignoring snapshots too.
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// herald.dispatch(OpenAccount { account_id: 7 }).await?;
/// herald.dispatch(Deposit { account_id: 7, amount: 100 }).await?;
/// let cached = herald.load::<Account>(7).await?;
/// let stored = herald.load::<Account>(7).fresh().await?;
/// let replayed = herald.load::<Account>(7).from_events().await?;
/// assert_eq!(cached.state().balance, replayed.state().balance);
/// assert_eq!((stored.version(), replayed.version()), (2, 2));
/// # Ok(()) }
/// ```
#[must_use = "a load does nothing until it is awaited"]
pub struct Load<'h, A> {
    herald: &'h Herald,
    stream_id: String,
    tenant: String,
    from: LoadFrom,
    aggregate: PhantomData<fn() -> A>,
}

impl<A> Load<'_, A> {
    /// Loads from this tenant's stream.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Reads what the store holds, not the runtime's cache: the newest snapshot (when the
    /// aggregate takes them) and the events after it.
    pub fn fresh(mut self) -> Self {
        self.from = LoadFrom::Snapshot;
        self
    }

    /// Replays every event of the stream, ignoring the cache and the snapshots: what the
    /// state is by the events alone.
    pub fn from_events(mut self) -> Self {
        self.from = LoadFrom::Events;
        self
    }
}

impl<'h, A: Aggregate> IntoFuture for Load<'h, A> {
    type Output = Result<Loaded<A>, Error>;
    type IntoFuture = BoxFuture<'h, Result<Loaded<A>, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let stream = StreamKey::new(self.tenant.as_str(), A::NAME, self.stream_id.as_str())
                .map_err(|invalid| ErrorKind::Store {
                    context: format!("loading aggregate `{}` `{}`", A::NAME, self.stream_id),
                    source: invalid.into(),
                })?;
            let (state, version) = load::<A>(self.herald.kernel(), &stream, self.from).await?;
            Ok(Loaded { state, version })
        })
    }
}

/// An aggregate's state and the version of its stream.
#[derive(Clone, Debug)]
pub struct Loaded<A> {
    state: A,
    version: u64,
}

impl<A> Loaded<A> {
    /// The state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The state, owned.
    pub fn into_state(self) -> A {
        self.state
    }

    /// The stream's version: how many events it holds (0 when it has none).
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// Whether a runtime groups commits on `store`: as configured, else as the environment
/// says, else where the store finds it worth it.
fn groups_commits(configured: Option<bool>, store: &dyn EventStore) -> bool {
    let configured = configured.or_else(|| {
        match std::env::var("HERALD_GROUP_COMMIT")
            .ok()?
            .to_ascii_lowercase()
            .as_str()
        {
            "off" | "0" | "false" | "no" => Some(false),
            "on" | "1" | "true" | "yes" => Some(true),
            _ => None,
        }
    });
    configured.unwrap_or(true) && store.groups_commits()
}
