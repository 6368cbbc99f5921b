//! Herald: CQRS and event sourcing as plain annotated Rust.
//!
//! Declare events, commands and aggregates with [`#[event]`](event),
//! [`#[command]`](command) and [`#[aggregate]`](aggregate); the macros check routes and
//! signatures when your crate compiles and register everything at link time, so a
//! [`Herald`] runtime finds it without hand-written wiring. [`Herald::dispatch`] runs a
//! command through one loop: render and authorize, load the aggregate from its stream,
//! handle, append with the expected version, commit, and return the events with a
//! [`trace`] of every step.
//!
//! ```standalone_crate
//! use herald::prelude::*;
//!
//! #[event("account.:account_id.opened")]
//! struct AccountOpened { account_id: u64 }
//!
//! #[command("open.account.:account_id")]
//! struct OpenAccount { account_id: u64 }
//!
//! #[aggregate(name = "account")]
//! #[derive(Default)]
//! struct Account { open: bool }
//!
//! #[aggregate]
//! impl Account {
//!     #[handle]
//!     fn open(&self, cmd: &OpenAccount) -> Result<AccountOpened, String> {
//!         if self.open { return Err("already open".into()) }
//!         Ok(AccountOpened { account_id: cmd.account_id })
//!     }
//!
//!     #[apply]
//!     fn opened(&mut self, _: &AccountOpened) { self.open = true }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), herald::Error> {
//! let herald = Herald::builder().build().await?;
//! let opened = herald.dispatch(OpenAccount { account_id: 7 }).await?;
//! assert_eq!(opened.events()[0].route.as_str(), "account.7.opened");
//! assert!(herald.dispatch(OpenAccount { account_id: 7 }).await.is_err());
//! # Ok(()) }
//! ```

// The layers, bottom to top: a module imports only from the layers below its own
// (`../shared/tools/import_circles.py runtime/src 3 --top` finds no circle between them).
mod base; // who calls, retries, panics as failures, lossless JSON
#[cfg(feature = "cli")]
pub mod cli; // a door: the operators' command line
pub mod consumer; // eventual consumers, over the `Hub`
mod engine; // the registry and the loop, over the `Kernel`
mod facade; // `Herald`, its builder, dispatching, pipelines, transactions
#[cfg(feature = "http")]
pub mod http; // a door: commands, reads and remote consumers over HTTP
mod model; // events, commands, aggregates, upcasting, stored records
#[cfg(feature = "nats")]
pub mod nats; // a door: the NATS relay and remote workers
mod outcome; // errors and traces
mod sql;
pub mod store; // the store contract and its backends
pub mod telemetry; // spans' names, the stored trace context, OpenTelemetry, metrics
pub mod testing; // the testing harness // the `sql!` macro, over the store's connections

pub use outcome::trace;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// A boxed error that crosses threads: what handlers return, and what wraps their
/// errors. Shared by every layer, so it lives at the root.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed future that crosses threads: what the store contract and the registered
/// handlers return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

// What an application writes every day. The rest is grouped in modules named after
// their concept (`consumer`, `pipeline`, `handler`, `error`, `store`, `testing`, `route`).
pub use base::actor::Actor;
pub use base::retry::RetryPolicy;
pub use engine::dispatch::Dispatched;
pub use engine::handler::{Consistency, Cx, Recorded, Recovery, SagaCx, When};
pub use engine::registry::Registry;
pub use facade::dispatch::{Dispatch, JsonDispatch};
pub use facade::record::{JsonRecord, Record};
pub use facade::runtime::{Herald, HeraldBuilder, Load, Loaded};
pub use facade::transaction::HeraldTransaction;
pub use model::aggregate::Aggregate;
pub use model::command::Command;
pub use model::event::{Event, Events, RouteParam};
pub use outcome::error::{Error, ErrorKind};
pub use store::Reader;
pub use uuid::{self, Uuid};

/// Derives a JSON Schema for a type that a command or event holds, for the HTTP door's
/// OpenAPI document: schemars' derive with the `http` feature (write
/// `#[schemars(crate = "herald::schemars")]` below it), one that writes nothing without
/// it. `#[command]` and `#[event]` derive it on their own types.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, herald::JsonSchema)]
/// #[schemars(crate = "herald::schemars")]
/// struct Address { city: String }
///
/// #[herald::command("move.user.:user_id")]
/// struct MoveUser { user_id: u64, to: Address }
/// ```
#[cfg(not(feature = "http"))]
pub use herald_macros::JsonSchema;
#[cfg(feature = "http")]
pub use schemars::{self, JsonSchema};

/// Pipelines: commands run one after another, each in its own transaction, each fed by
/// the previous one's result (see [`Herald::pipeline`]).
pub mod pipeline {
    pub use crate::facade::pipeline::{Pipeline, Progress, Ran, StepOutcome};
}

/// The traits a handler's signature goes through: what an aggregate's `#[handle]` and
/// `#[apply]` methods, processors, dispatchers and saga steps may return. The macros
/// name them; you meet them in the bounds of a compile error.
pub mod handler {
    pub use crate::engine::handler::{
        DispatcherOutput, HandlerOutput, IntoCommands, ProcessorOutput, SagaOutput,
    };
    pub use crate::model::aggregate::{Apply, Handle, HandleOutput};
    pub use crate::model::event::{AnyEvent, IntoEvents};
}

/// Channels: what a [`#[channel]`](channel) function decides a subscriber's join with.
/// The subscribers themselves are served by the HTTP door (feature `http`, see
/// `herald::http`'s WebSocket endpoint `/v1/channels`).
pub mod channels {
    pub use crate::engine::handler::{Forbidden, Join, JoinOutput};
}

/// Errors: [`Error`] with its [`ErrorKind`], and the
/// errors it carries.
pub mod error {
    pub use crate::base::json_value::BadJson;
    pub use crate::base::unwind::Panicked;
    pub use crate::model::aggregate::ApplyError;
    pub use crate::model::upcast::UpcastError;
    pub use crate::outcome::error::{Error, ErrorKind, RegistryError, SnapshotMismatch};
}

// The paths of Herald 0.1's wider root, for code written against them.
#[doc(hidden)]
pub use consumer::{
    Archived, ConsumerStatus, Consumers, Live, LiveEvents, Partition, Rebuild, RebuildProgress,
    Rebuilt,
};
#[doc(hidden)]
pub use error::{ApplyError, Panicked, RegistryError, UpcastError};
#[doc(hidden)]
pub use handler::{
    AnyEvent, Apply, DispatcherOutput, Handle, HandleOutput, HandlerOutput, IntoCommands,
    IntoEvents, ProcessorOutput, SagaOutput,
};
#[doc(hidden)]
pub use pipeline::{Pipeline, Progress, Ran, StepOutcome};

/// The `sqlx` Herald's SQL stores are built on, for your own tables in a command's
/// transaction ([`Cx::sqlite`], [`HeraldTransaction::sqlite`]), without a dependency of
/// your own to keep in step.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sqlx;

/// JSON, as stored payloads are: what [`#[upcast]`](upcast) functions read and return.
pub use serde_json as json;

/// serde, for the derives of the types nested in events, commands and states: write
/// `#[derive(herald::serde::Serialize, herald::serde::Deserialize)]` and
/// `#[serde(crate = "herald::serde")]` on them, and no dependency of your own is needed.
pub use serde;

/// Routes, templates and patterns: the grammar and matcher of [`herald_route`].
pub mod route {
    pub use herald_route::*;
}

/// What most Herald code needs: the macros, the traits they implement and the runtime.
pub mod prelude {
    pub use crate::{
        Actor, Aggregate, Command, Dispatched, Event, Events, Herald, Reader, RouteParam, Uuid,
    };
    pub use crate::{Cx, Recorded, SagaCx};
    pub use crate::{
        aggregate, channel, command, dispatcher, event, hook, processor, projector, saga_step,
        upcast,
    };
}

/// Declares an event: a fact that happened, stored for good under a route rendered from
/// its fields.
///
/// `#[event("route")]` goes on a struct with named fields, or on an enum whose variants
/// each carry `#[route("…")]`. Every `:param` of a route names a field whose type
/// implements [`RouteParam`]. The macro derives `serde::Serialize` and
/// `serde::Deserialize` unless you derive them, implements [`Event`] and registers the
/// event. `#[serde(…)]` attributes work either way, and you need not depend on `serde`.
/// The same holds for `#[command]` and `#[aggregate(…)]`.
///
/// Your own derives of serde's traits are seen below the attribute, and above it when the
/// item says which serde they come from with `#[serde(crate = "…")]` (as it must with
/// Herald's re-export, `herald::serde`; with your own `serde` dependency, write
/// `#[serde(crate = "serde")]`). An attribute macro cannot see a `#[derive]` above it,
/// so without `#[serde(crate = "…")]` serde's derives above `#[event]` are derived twice,
/// which rustc reports as conflicting implementations of `Serialize`: move them below
/// the attribute, add `#[serde(crate = "…")]`, or leave them out.
///
/// ```
/// use herald::prelude::*;
/// use herald::serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug)] // above, with `crate`: seen
/// #[serde(crate = "herald::serde")]
/// #[event("user.:user_id.created")]
/// struct UserCreated { user_id: u64 }
///
/// #[event("user.:user_id.deleted")]
/// #[derive(Serialize, Deserialize, Debug)] // below: seen
/// #[serde(crate = "herald::serde")]
/// struct UserDeleted { user_id: u64 }
/// ```
///
/// A type nested in an event (or a command or a state) needs serde's derives of its own:
/// add `serde` to your dependencies, or use the one Herald re-exports:
///
/// ```
/// use herald::prelude::*;
///
/// #[derive(herald::serde::Serialize, herald::serde::Deserialize, herald::JsonSchema)]
/// #[serde(crate = "herald::serde")]
/// #[schemars(crate = "herald::schemars")]
/// struct Line { sku: String, quantity: u32 }
///
/// #[event("cart.:cart_id.checked_out")]
/// struct CheckedOut { cart_id: u64, lines: Vec<Line> }
/// ```
///
/// | option | meaning | default |
/// |---|---|---|
/// | `name = "…"` | the name stored with each event | the type's name |
/// | `version = N` | the payload's schema version | 1 |
/// | `aggregate = Type` | the aggregate whose streams hold it: only that aggregate's `#[apply]` methods may take it | any aggregate may |
/// | `stream = "…"` | the stream type it goes into when recorded without an aggregate ([`Herald::record`], [`Event::STREAM`]); not with `aggregate` | the event's name |
///
/// ```
/// use herald::prelude::*;
///
/// #[event("user.:user_id.created")]
/// struct UserCreated { user_id: Uuid, email: String }
///
/// #[event("user.:user_id.renamed", name = "user-renamed", version = 2)]
/// struct UserRenamed { user_id: Uuid, name: String }
///
/// #[event]
/// enum Light {
///     #[route("light.:room.on")]
///     On { room: String },
///     #[route("light.:room.off")]
///     Off { room: String },
/// }
///
/// let id = Uuid::nil();
/// assert_eq!(UserCreated { user_id: id, email: "a@b".into() }.route()?.as_str(), format!("user.{id}.created"));
/// assert_eq!(<UserRenamed as Event>::NAME, "user-renamed");
/// assert_eq!(Light::Off { room: "hall".into() }.route()?.as_str(), "light.hall.off");
/// assert_eq!(<Light as Event>::ROUTES, ["light.:room.on", "light.:room.off"]);
///
/// #[event("note.:note_id.added", stream = "notes")] // recorded with `herald.record(…)`
/// struct NoteAdded { note_id: u64, text: String }
/// assert_eq!(<NoteAdded as Event>::STREAM, "notes");
/// assert_eq!(<UserCreated as Event>::STREAM, "UserCreated");
/// # Ok::<(), herald::route::RouteError>(())
/// ```
///
/// # The aggregate of an event
///
/// An event is kept in the stream of the aggregate whose `#[handle]` method produced it,
/// so only that aggregate ever reads it back. `aggregate = Type` says which one that is,
/// and an `#[apply]` method of any other aggregate that takes the event is a compile
/// error that names both. An event that no handler produces any more (an old one, still
/// in the aggregate's old streams) keeps its `#[apply]` method: the declaration, not the
/// handlers, decides.
///
/// ```
/// use herald::prelude::*;
///
/// #[event("door.:id.opened", aggregate = Door)]
/// struct Opened { id: u64 }
///
/// #[event("door.:id.unlocked", aggregate = Door)] // no handler produces it any more
/// struct Unlocked { id: u64 }
///
/// #[command("open.door.:id")]
/// struct Open { id: u64 }
///
/// #[aggregate(name = "door")]
/// #[derive(Default)]
/// struct Door { open: bool }
///
/// #[aggregate]
/// impl Door {
///     #[handle]
///     fn open(&self, cmd: &Open) -> Result<Opened, String> { Ok(Opened { id: cmd.id }) }
///     #[apply]
///     fn opened(&mut self, _: &Opened) { self.open = true }
///     #[apply]
///     fn unlocked(&mut self, _: &Unlocked) {}
/// }
/// ```
///
/// ```compile_fail,E0277
/// # use herald::prelude::*;
/// # #[event("door.:id.opened", aggregate = Door)] struct Opened { id: u64 }
/// # #[aggregate] #[derive(Default)] struct Door;
/// # #[aggregate] impl Door { #[apply] fn opened(&mut self, _: &Opened) {} }
/// #[aggregate]
/// #[derive(Default)]
/// struct House { doors_opened: u32 }
///
/// #[aggregate]
/// impl House {
///     #[apply] // error: `Opened` is an event of another aggregate's streams, so `House` cannot apply it
///     fn door_opened(&mut self, _: &Opened) { self.doors_opened += 1 }
/// }
/// ```
///
/// # Numbers
///
/// Payloads (and aggregate states, in snapshots and the cache) are kept as JSON. Every
/// finite `f64` and every `i64` and `u64` reads back bit for bit, on every store
/// (PostgreSQL's `jsonb` has no negative zero: `-0.0` reads back as `0.0`, which is equal
/// as an `f64`). What JSON cannot hold is an error when the event is stored, and nothing
/// is stored: a float that is not finite (NaN, an infinity; keep it in an `Option`), and
/// an integer beyond 64 bits (`u128`, `i128`): send those as strings, a `String` field or
/// `#[serde(with = "…")]` with a module that writes the number's digits.
///
/// A `:param` that is not a field is a compile error that lists the fields:
///
/// ```compile_fail
/// use herald::prelude::*;
/// #[event("user.:id.created")] // error: `:id` is not a field of `UserCreated` (its field is `user_id`)
/// struct UserCreated { user_id: u64 }
/// ```
///
/// # Equivalent code without the macro
///
/// ```
/// use herald::route::{Route, RouteError, Template};
/// use herald::{Event, RouteParam};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct UserCreated { user_id: u64, email: String }
///
/// impl Event for UserCreated {
///     const NAME: &'static str = "UserCreated";
///     const ROUTES: &'static [&'static str] = &["user.:user_id.created"];
///     const VERSION: u32 = 1;
///     fn route(&self) -> Result<Route, RouteError> {
///         const TEMPLATE: Template<'static> = Template::new("user.:user_id.created");
///         TEMPLATE.render(|_, _, out| self.user_id.write_route_segment(out))
///     }
/// }
/// // …plus `IntoEvents` for `UserCreated` and a registration for `Registry::check`.
/// ```
pub use herald_macros::event;

/// Declares a command: a request to change one aggregate, sent with
/// [`Herald::dispatch`]. The aggregate that handles it is the one whose `#[handle]`
/// method takes it.
///
/// `#[command("route")]` goes on a struct with named fields; each `:param` names a field
/// whose type implements [`RouteParam`]. Like [`#[event]`](event) it derives serde's
/// traits when missing, implements [`Command`] and registers the command.
///
/// | option | meaning | default |
/// |---|---|---|
/// | `id = field` | the field holding the id of the aggregate it addresses | the route's only `:param`, else a field named `id` |
/// | `name = "…"` | the command's name | the type's name |
/// | `roles = ["…", …]` | the roles that may send it; the actor needs one | anyone |
/// | `event = Type` | no aggregate handles it: the event made from it (`Type: From<Command>`, the command `Clone`) is appended to that event's stream ([`Event::STREAM`], id: the command's `id`) | an aggregate's `#[handle]` method |
///
/// ```
/// use herald::prelude::*;
///
/// #[command("create.user.:user_id")]             // id: `user_id`, the only parameter
/// struct CreateUser { user_id: Uuid, email: String }
///
/// #[command("transfer.:from.:to", id = from)]    // two parameters: name the id
/// struct Transfer { from: u64, to: u64, amount: u64 }
///
/// #[command("close.account", name = "close-account", roles = ["manager", "admin"])]
/// struct CloseAccount { id: u64 }                 // no parameter: the field `id`
///
/// assert_eq!(Transfer { from: 1, to: 2, amount: 5 }.aggregate_id(), "1");
/// assert_eq!(<CloseAccount as Command>::ROLES, ["manager", "admin"]);
/// ```
///
/// # A command mapped to an event
///
/// For CRUD-like cases where an aggregate would only copy fields, `event = Type` records
/// the command as an event with no aggregate (moleculer's `MapAction`): its before hooks
/// (which may change or reject it), saga steps and after hooks run as for any command,
/// then the event made from the command as the hooks left it is appended to its stream,
/// at the stream's current version (or the one given with
/// [`Dispatch::expected_version`]); the event's strong handlers run in the transaction.
/// A command with `event = …` that a `#[handle]` method takes too is reported by
/// [`Registry::check`].
///
/// ```
/// use herald::prelude::*;
///
/// #[event("note.:note_id.added", stream = "notes")]
/// struct NoteAdded { note_id: u64, text: String }
///
/// #[command("add.note.:note_id", event = NoteAdded)]
/// #[derive(Clone)]
/// struct AddNote { note_id: u64, text: String }
///
/// impl From<AddNote> for NoteAdded {
///     fn from(cmd: AddNote) -> Self {
///         NoteAdded { note_id: cmd.note_id, text: cmd.text }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald::Herald::builder().modules([module_path!()]).build().await?;
///
/// let added = herald.dispatch(AddNote { note_id: 4, text: "milk".into() }).await?;
/// assert_eq!(added.stream().to_string(), "default/notes/4");
/// assert_eq!(added.events()[0].route.as_str(), "note.4.added");
/// # Ok(()) }
/// ```
///
/// An event that is not made from the command is a compile error at its name:
///
/// ```compile_fail,E0277
/// use herald::prelude::*;
/// #[event("note.:note_id.added")]
/// struct NoteAdded { note_id: u64 }
///
/// #[command("add.note.:note_id", event = NoteAdded)] // error: command `AddNote` cannot be recorded as event `NoteAdded`
/// #[derive(Clone)]
/// struct AddNote { note_id: u64 }
/// ```
///
/// # Equivalent code without the macro
///
/// ```
/// use herald::route::{Route, RouteError, Template};
/// use herald::{Command, RouteParam};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Transfer { from: u64, to: u64, amount: u64 }
///
/// impl Command for Transfer {
///     const NAME: &'static str = "Transfer";
///     const ROUTE: &'static str = "transfer.:from.:to";
///     const ROLES: &'static [&'static str] = &[];
///     const ID_FIELD: &'static str = "from";
///     fn route(&self) -> Result<Route, RouteError> {
///         const TEMPLATE: Template<'static> = Template::new("transfer.:from.:to");
///         let params: [&dyn RouteParam; 2] = [&self.from, &self.to];
///         TEMPLATE.render(|i, _, out| params[i].write_route_segment(out))
///     }
///     fn aggregate_id(&self) -> String {
///         let mut id = String::new();
///         self.from.write_route_segment(&mut id);
///         id
///     }
/// }
/// // …plus a registration for `Registry::check`.
/// ```
pub use herald_macros::command;

/// Declares an aggregate: state rebuilt from its stream's events that decides which
/// events each command produces.
///
/// It takes two places. On the struct, `#[aggregate(…)]` names the aggregate (its
/// streams' type), derives serde's traits when missing (for snapshots), implements
/// [`Aggregate`] and registers it; the struct must implement `Default` (the state before
/// the first event). On an `impl` block, bare `#[aggregate]` turns its methods into
/// handlers:
///
/// - `#[handle]` on `fn(&self, command: C) -> Result<E, Err>` or `fn(&self, command: &C)`:
///   decides the events for command `C` ([`IntoEvents`]: an event, `Option`, `Vec`, a
///   tuple, `()` or [`Events`]) or rejects it with a domain error (any
///   `std::error::Error + Send + Sync`, `String` or `anyhow::Error`), which the caller
///   gets back in [`ErrorKind::Rejected`]. By value needs `C: Clone`: after a conflict the
///   handler runs again. Handlers are pure: they read `self` and the command, nothing else.
/// - `#[apply]` on `fn(&mut self, event: &E)`: how event `E` changes the state. Every
///   event a handler produces needs one (an empty body is fine); so does every event
///   found in the stream. An event declared with
///   [`#[event(aggregate = Other)]`](event#the-aggregate-of-an-event) cannot be applied
///   here: it is a compile error naming the event and both aggregates.
///
/// All of an aggregate's `#[handle]` and `#[apply]` methods go in one `#[aggregate] impl`
/// block (other, plain `impl` blocks are fine). The macro sees one block at a time, so a
/// second one is reported by rustc as "conflicting implementations of trait
/// `merge_these_aggregate_impl_blocks_into_one`", spanned at the second block: move its
/// methods into the first.
///
/// The state is kept as JSON, in snapshots and in the runtime's cache of recently used
/// aggregates, and stored events are applied from their JSON: whatever a handler decides
/// on must survive a JSON round trip (a `#[serde(skip)]` field would come back reset, and
/// a map with non-string keys does not serialize, which a dispatch reports as
/// [`ErrorKind::State`]).
///
/// | option (on the struct) | meaning | default |
/// |---|---|---|
/// | `name = "…"` | the aggregate's name and its streams' type | the type's name |
/// | `snapshot_every = N` | store a snapshot every N events | never |
/// | `version = N` | the state's schema version: snapshots of another are ignored | 1 |
///
/// ```
/// use herald::prelude::*;
/// use herald::testing::AggregateTest;
///
/// #[event("counter.:id.added")]
/// struct Added { id: u64, by: i64 }
///
/// #[command("add.:id")]
/// #[derive(Clone)]
/// struct Add { id: u64, by: i64 }
///
/// #[aggregate(name = "counter", snapshot_every = 100, version = 2)]
/// #[derive(Default)]
/// struct Counter { total: i64 }
///
/// #[aggregate]
/// impl Counter {
///     #[handle]
///     fn add(&self, cmd: Add) -> Result<Option<Added>, String> {
///         Ok((cmd.by != 0).then_some(Added { id: cmd.id, by: cmd.by }))
///     }
///
///     #[apply]
///     fn added(&mut self, e: &Added) { self.total += e.by }
/// }
///
/// AggregateTest::<Counter>::given(Added { id: 1, by: 2 })
///     .when(Add { id: 1, by: 3 })
///     .then_expect_events(Added { id: 1, by: 3 })
///     .then_state(|counter| assert_eq!(counter.total, 5));
/// ```
///
/// # Equivalent code without the macro
///
/// ```
/// # use herald::prelude::*;
/// # #[event("counter.:id.added")] struct Added { id: u64, by: i64 }
/// # #[command("add.:id")] struct Add { id: u64, by: i64 }
/// use herald::store::ReplayEvent;
/// use herald::{Aggregate, AnyEvent, Apply, ApplyError, Handle};
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Counter { total: i64 }
///
/// impl Aggregate for Counter {
///     const NAME: &'static str = "counter";
///     const SNAPSHOT_EVERY: u32 = 0;
///     const VERSION: u32 = 1;
/// }
///
/// impl Apply for Counter {
///     const APPLIES: &'static [&'static str] = &[<Added as Event>::NAME];
///     fn apply_event(&mut self, event: &dyn AnyEvent) -> Result<(), ApplyError> {
///         match event.downcast_ref::<Added>() {
///             Some(e) => Ok(self.total += e.by),
///             None => Err(ApplyError::Unhandled(event.name().to_owned())),
///         }
///     }
///     fn apply_stored(&mut self, event: &ReplayEvent) -> Result<(), ApplyError> {
///         match event.name.as_str() {
///             <Added as Event>::NAME => Ok(self.total += event.decode::<Added>()?.by),
///             _ => Err(ApplyError::Unhandled(event.name.clone())),
///         }
///     }
/// }
///
/// impl Handle<Add> for Counter {
///     type Output = Result<Option<Added>, String>;
///     const HANDLER: &'static str = "Counter::add";
///     fn handle(&self, cmd: &Add) -> Self::Output {
///         Ok((cmd.by != 0).then_some(Added { id: cmd.id, by: cmd.by }))
///     }
/// }
/// // …plus registrations of the aggregate and its handler for `Herald::dispatch`.
/// ```
pub use herald_macros::aggregate;

/// Derives [`Aggregate`](trait@Aggregate) for an aggregate's state: the way to write an
/// aggregate, beside `#[aggregate]` on the `impl` block of its `#[handle]` and `#[apply]`
/// methods (the attributes may come in any order). Its options go in `#[herald(…)]`:
///
/// | option | meaning | default |
/// |---|---|---|
/// | `name = "…"` | the stream type its events are kept under | the type's name |
/// | `snapshot_every = N` | store the state every N events | no snapshots |
/// | `version = N` | the state's schema version: a snapshot of another one is ignored | 1 |
///
/// The state serializes (snapshots and the aggregate cache keep it as JSON): derive serde's
/// traits beside it, from your own `serde` dependency or Herald's re-export. (The
/// attribute form, `#[aggregate(…)]` on the struct, derives them itself, and stays.)
///
/// ```
/// use herald::prelude::*;
/// use herald::serde::{Deserialize, Serialize};
///
/// #[event("account.:id.opened")] struct Opened { id: u64 }
/// #[command("open.account.:id")] struct Open { id: u64 }
///
/// #[derive(Default, Aggregate, Serialize, Deserialize)]
/// #[herald(name = "account", snapshot_every = 100)]
/// #[serde(crate = "herald::serde")]
/// struct Account { open: bool }
///
/// #[aggregate]
/// impl Account {
///     #[handle]
///     fn open(&self, cmd: &Open) -> Result<Opened, String> {
///         if self.open { return Err("already open".into()) }
///         Ok(Opened { id: cmd.id })
///     }
///     #[apply]
///     fn opened(&mut self, _: &Opened) { self.open = true }
/// }
///
/// assert_eq!(<Account as herald::Aggregate>::SNAPSHOT_EVERY, 100);
/// ```
///
/// An unknown option is an error that lists the known ones:
///
/// ```compile_fail
/// use herald::prelude::*;
/// #[derive(Default, Aggregate, herald::serde::Serialize, herald::serde::Deserialize)]
/// #[herald(snapshots = 100)] // error: unknown aggregate option `snapshots`
/// #[serde(crate = "herald::serde")]
/// struct Account;
/// # #[aggregate] impl Account {}
/// ```
pub use herald_macros::Aggregate;

/// Reads old events as the current type: a function that brings a stored payload from
/// one schema version of an event to the next.
///
/// When an event's shape changes, raise its `version` and register an upcaster from each
/// older version: `#[upcast(MyEvent, from = N)]` on `fn(json::Value) -> json::Value`
/// rewrites a payload stored at version N into version N + 1. Whatever reads a stored
/// event (loading an aggregate, [`RecordedEvent::decode`](store::RecordedEvent::decode))
/// runs the chain up to the current version first; the rows themselves are never
/// rewritten. [`Registry::check`] reports a chain with a gap when the runtime starts, and
/// an event stored at a version no chain reaches is a typed error naming its stream,
/// version and event.
///
/// ```
/// use herald::json::{Value, json};
/// use herald::prelude::*;
///
/// // Version 1 stored `{"id": 7, "name": "Ada Lovelace"}`; version 2 split the name;
/// // version 3 added a middle name.
/// #[event("user.:id.renamed", version = 3)]
/// #[derive(Debug, PartialEq)]
/// struct Renamed { id: u64, first: String, middle: Option<String>, last: String }
///
/// #[upcast(Renamed, from = 1)]
/// fn split_name(mut v: Value) -> Value {
///     let name = v["name"].take();
///     let (first, last) = name.as_str().unwrap_or_default().split_once(' ').unwrap_or_default();
///     json!({ "id": v["id"], "first": first, "last": last })
/// }
///
/// #[upcast(Renamed, from = 2)]
/// fn add_middle_name(mut v: Value) -> Value {
///     v["middle"] = Value::Null;
///     v
/// }
///
/// # use herald::store::*;
/// # let stored = |version: u32, payload: Value| RecordedEvent {
/// #     position: Position::START, event_id: Uuid::nil(), version: 1,
/// #     stream: StreamKey::new("t", "user", "7").unwrap(),
/// #     route: "user.7.renamed".parse().unwrap(), name: "Renamed".into(),
/// #     schema_version: version, payload, recorded_at: std::time::SystemTime::now(),
/// #     metadata: Metadata { event_id: Uuid::nil(), command_id: Uuid::nil(), correlation_id: Uuid::nil(),
/// #         causation_id: Uuid::nil(), actor: "a".into(), tenant: "t".into(), roles: vec![], traceparent: None },
/// # };
/// let old = stored(1, json!({ "id": 7, "name": "Ada Lovelace" }));
/// assert_eq!(
///     old.decode::<Renamed>()?,
///     Renamed { id: 7, first: "Ada".into(), middle: None, last: "Lovelace".into() }
/// );
/// # Ok::<(), herald::store::DecodeError>(())
/// ```
///
/// An upcaster must read an older version than the event's current one:
///
/// ```compile_fail
/// use herald::prelude::*;
/// #[event("user.:id.renamed", version = 2)]
/// struct Renamed { id: u64, name: String }
/// #[upcast(Renamed, from = 2)] // error: reads schema version 2, which is not older
/// fn nothing_to_do(v: herald::json::Value) -> herald::json::Value { v }
/// ```
///
/// # Equivalent code without the macro
///
/// The function is plain Rust and stays callable as such. The macro adds what has no
/// public spelling: a `const` assertion that `from` is below the event's `VERSION`, and
/// the function's registration in the link-time table the runtime reads its upcasters
/// from (as [`#[event]`](event) registers the event).
pub use herald_macros::upcast;

/// Runs a function on every command whose route matches a pattern, before or after its
/// aggregate decides, in the command's transaction: validate, enrich, authorize, reject.
///
/// `#[hook(before | after, "pattern")]` goes on an `async fn` taking the command (as
/// `&mut MyCommand` to change it, or `&MyCommand`) and a [`Cx`], returning `()` or
/// `Result<(), E>`. An error rejects the command: nothing is stored, and the caller gets
/// [`ErrorKind::Hook`] naming the hook. The hooks of a command run by ascending
/// `priority`, ties by name; before hooks all run before after hooks (saga steps, when
/// there are some, run between them). A hook may change the command but not its route or
/// the aggregate it addresses ([`ErrorKind::RouteChanged`], [`ErrorKind::IdChanged`]).
/// Hooks run once per dispatch: a conflict runs the aggregate again, not the hooks.
///
/// | option | meaning | default |
/// |---|---|---|
/// | `priority = N` | order among the command's hooks, lower first | 0 |
/// | `name = "…"` | the hook's name in traces, errors and start-up checks | the function's name |
///
/// The pattern must be able to match the command's route: that is checked when your crate
/// compiles.
///
/// ```
/// use herald::prelude::*;
/// # #[event("user.:user_id.created")] struct UserCreated { user_id: u64, email: String }
/// # #[aggregate] #[derive(Default)] struct User;
/// # #[aggregate] impl User {
/// #     #[handle] fn create(&self, c: &CreateUser) -> Result<UserCreated, String> {
/// #         Ok(UserCreated { user_id: c.user_id, email: c.email.clone() }) }
/// #     #[apply] fn created(&mut self, _: &UserCreated) {}
/// # }
///
/// #[command("create.user.:user_id")]
/// struct CreateUser { user_id: u64, email: String }
///
/// #[hook(before, "create.*", priority = 1)]
/// async fn lowercase_email(cmd: &mut CreateUser, _cx: &mut Cx<'_>) {
///     cmd.email = cmd.email.to_lowercase();
/// }
///
/// #[hook(before, "create.user.:id", priority = 2)]
/// async fn needs_an_at(cmd: &mut CreateUser, _cx: &mut Cx<'_>) -> Result<(), String> {
///     if cmd.email.contains('@') { Ok(()) } else { Err(format!("`{}` is no e-mail address", cmd.email)) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = Herald::builder().modules([module_path!()]).build().await?;
/// let created = herald.dispatch(CreateUser { user_id: 1, email: "Ada@Example.COM".into() }).await?;
/// assert_eq!(created.events()[0].payload["email"], "ada@example.com");
/// let refused = herald.dispatch(CreateUser { user_id: 2, email: "ada".into() }).await;
/// assert!(matches!(refused.unwrap_err().kind(), herald::ErrorKind::Hook { hook: "needs_an_at", .. }));
/// # Ok(()) }
/// ```
///
/// A pattern that can never match the command's route does not compile:
///
/// ```compile_fail
/// use herald::prelude::*;
/// #[command("create.user.:user_id")] struct CreateUser { user_id: u64 }
/// #[hook(before, "delete.user.:id")] // error: pattern `delete.user.:id` can never match `CreateUser`
/// async fn never(_: &mut CreateUser, _: &mut Cx<'_>) {}
/// ```
///
/// # Equivalent code without the macro
///
/// The function stays plain Rust. The macro adds the `const` check of the pattern against
/// the command's route, and the hook's registration (its name, pattern, priority and a
/// wrapper the runtime calls it through) in the link-time table the runtime reads.
pub use herald_macros::hook;

/// Writes the events whose route matches a pattern into a read model.
///
/// `#[projector("pattern")]` goes on an `async fn` taking the event as
/// `&Recorded<MyEvent>` (typed: it runs for that event when the route matches), or any
/// event as `&herald::store::RecordedEvent` (with any pattern, such as `"user.*"`), and a
/// [`Cx`] whose connection ([`Cx::sqlite`], [`Cx::postgres`]) writes your tables.
///
/// With `consistency = strong` (the default) it runs in the command's transaction, after
/// the events are appended (step 8 of the loop): the read model changes with the events or
/// not at all, and an error rolls the command back and reaches the caller as
/// [`ErrorKind::Project`]. The projectors of an event run by ascending `priority`, ties by
/// name.
///
/// With `consistency = eventual` it is a consumer of its own: after the commit a worker
/// of the runtime runs it on each event it takes, in the global order, in a transaction
/// that also moves its checkpoint, so that what it writes to the same database takes
/// effect exactly once, even across crashes (anything else it does happens at least once:
/// make it idempotent). A failing event is tried again with backoff
/// ([`HeraldBuilder::consumer_retry`]), then parked as a dead letter; with `ordered`
/// (the default) the later events of its stream wait behind it, while other streams flow
/// on. See [`Consumers`] for dead letters and for waiting until it caught up.
///
/// One runtime at a time runs an eventual handler (a lease in the store, taken over when
/// its holder dies). With `partitions = N` its streams are split into N partitions, each
/// with its own checkpoint and lease, dealt among the runtimes running it: a stream's
/// events stay in order, in one process at a time, while the streams are handled in
/// several processes at once. See [`Partition`].
///
/// | option | meaning | default |
/// |---|---|---|
/// | `consistency = strong \| eventual` | in the command's transaction, or after it | `strong` |
/// | `ordered = true \| false` | eventual only: a parked event holds back its stream's later events | `true` |
/// | `partitions = N` | eventual only: split it by stream into N (1 to 64) partitions, which several processes share ([`Partition`]) | 1 |
/// | `tables = ["…"]` | eventual only: the tables it writes through [`Cx::table`], which [`Consumers::rebuild`] fills aside and [`Consumers::snapshot`] backs up | none |
/// | `version = N` | with `tables`: the version of what it writes there; a snapshot taken under another version is not restored ([`Consumers::restore`]) | 1 |
/// | `priority = N` | order among the event's handlers, lower first | 0 |
/// | `name = "…"` | the projector's name in traces, errors and start-up checks | the function's name |
///
/// A typed projector's pattern must be able to match its event's route (checked when your
/// crate compiles); an untyped one's must match some registered event (checked when the
/// runtime starts).
///
/// ```
/// use herald::prelude::*;
/// # #[command("create.user.:user_id")] struct CreateUser { user_id: u64, email: String }
/// # #[aggregate] #[derive(Default)] struct User;
/// # #[aggregate] impl User {
/// #     #[handle] fn create(&self, c: &CreateUser) -> Result<UserCreated, String> {
/// #         Ok(UserCreated { user_id: c.user_id, email: c.email.clone() }) }
/// #     #[apply] fn created(&mut self, _: &UserCreated) {}
/// # }
///
/// #[event("user.:user_id.created")]
/// struct UserCreated { user_id: u64, email: String }
///
/// #[projector("user.:user_id.created")]
/// async fn profile_row(e: &Recorded<UserCreated>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
///     herald::sqlx::query("INSERT INTO profiles (user_id, email) VALUES (?, ?)")
///         .bind(e.user_id as i64)
///         .bind(&e.email)
///         .execute(cx.sqlite()?)
///         .await?;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let herald = Herald::builder().modules([module_path!()]).url("sqlite::memory:").build().await?;
/// # let mut tx = herald.begin().await?;
/// # herald::sqlx::query("CREATE TABLE profiles (user_id INTEGER, email TEXT)").execute(tx.sqlite()?).await?;
/// # tx.commit().await?;
/// herald.dispatch(CreateUser { user_id: 7, email: "ada@example.com".into() }).await?;
/// # Ok(()) }
/// ```
///
/// # Equivalent code without the macro
///
/// The function stays plain Rust. The macro adds the `const` check of a typed projector's
/// pattern against its event's routes, and the projector's registration (its name,
/// pattern, consistency, priority and a wrapper that decodes the event) in the link-time
/// table the runtime reads.
pub use herald_macros::projector;

/// Reacts to the events whose route matches a pattern by dispatching follow-up commands.
///
/// `#[processor("pattern")]` goes on an `async fn` taking the event as
/// `&Recorded<MyEvent>` (or any event as `&herald::store::RecordedEvent`) and a [`Cx`],
/// returning `Result<commands, E>`: a command, `Option`, `Vec` or a tuple of them, or `()`
/// ([`IntoCommands`]); the command types are part of its signature, so the runtime checks
/// at start that they are registered.
///
/// With `consistency = strong` (the default) its commands run nested in the command's
/// transaction, after the events are appended (step 8 of the loop, together with the
/// strong projectors, by ascending `priority`, ties by name): each goes through the loop
/// again as the same actor, its events caused by the event the processor reacted to and
/// sharing the correlation id. Each command's id is derived from that event, the
/// processor's name and the command's index, so running the processor on the same event
/// again never doubles a command. Any failure rolls everything back and reaches the caller.
/// Nesting is bounded ([`HeraldBuilder::max_nesting`]): a cycle of processors is
/// [`ErrorKind::Nesting`], not a hang.
///
/// With `consistency = eventual` it runs after the commit, as a consumer of its own (see
/// [`projector`]): its commands run in the consumer's transaction, with the checkpoint, as
/// the event's actor (roles included), caused by the event, with the same derived ids.
///
/// | option | meaning | default |
/// |---|---|---|
/// | `consistency = strong \| eventual` | nested in the command's transaction, or after it | `strong` |
/// | `ordered = true \| false` | eventual only: a parked event holds back its stream's later events | `true` |
/// | `partitions = N` | eventual only: split it by stream into N (1 to 64) partitions, which several processes share ([`Partition`]) | 1 |
/// | `priority = N` | order among the event's handlers, lower first | 0 |
/// | `name = "…"` | the processor's name (it also derives its commands' ids) | the function's name |
///
/// ```
/// use herald::prelude::*;
///
/// #[event("user.:user_id.created")] struct UserCreated { user_id: u64 }
/// #[event("friends.:user_id.listed")] struct FriendsListed { user_id: u64 }
/// #[command("create.user.:user_id")] struct CreateUser { user_id: u64 }
/// #[command("list.friends.:user_id")] struct ListFriends { user_id: u64 }
/// # #[aggregate] #[derive(Default)] struct User;
/// # #[aggregate] impl User {
/// #     #[handle] fn create(&self, c: &CreateUser) -> Result<UserCreated, String> { Ok(UserCreated { user_id: c.user_id }) }
/// #     #[apply] fn created(&mut self, _: &UserCreated) {}
/// # }
/// # #[aggregate] #[derive(Default)] struct Friends;
/// # #[aggregate] impl Friends {
/// #     #[handle] fn list(&self, c: &ListFriends) -> Result<FriendsListed, String> { Ok(FriendsListed { user_id: c.user_id }) }
/// #     #[apply] fn listed(&mut self, _: &FriendsListed) {}
/// # }
///
/// #[processor("user.:user_id.created")]
/// async fn friend_list(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<ListFriends, String> {
///     Ok(ListFriends { user_id: e.user_id })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let herald = Herald::builder().modules([module_path!()]).build().await?;
/// let created = herald.dispatch(CreateUser { user_id: 7 }).await?;
/// let friends = herald.store().read_all(herald::store::Position::START, 10).await?;
/// assert_eq!(friends[1].route.as_str(), "friends.7.listed");
/// assert_eq!(friends[1].metadata.causation_id, created.events()[0].event_id);
/// # Ok(()) }
/// ```
///
/// # Equivalent code without the macro
///
/// The function stays plain Rust. The macro adds the `const` check of a typed processor's
/// pattern against its event's routes, and the processor's registration (its name,
/// pattern, consistency, priority, the names of its commands and a wrapper that decodes
/// the event) in the link-time table the runtime reads.
pub use herald_macros::processor;

/// Derives side events from the events whose route matches a pattern, without a command.
///
/// `#[dispatcher("pattern")]` goes on an `async fn` taking the event as
/// `&Recorded<MyEvent>` (or any event as `&herald::store::RecordedEvent`) and a [`Cx`],
/// returning `Result<events, E>` (an event, `Option`, `Vec`, a tuple of them, `()` or
/// [`Events`]). It runs in the command's transaction, in step 8 of the loop with the strong
/// projectors and processors (by ascending `priority`, ties by name), and skips hooks and
/// aggregates: its side events are appended, caused by the event and sharing the command's
/// id, correlation id and actor, to a stream of their own (type `dispatched:<name>`, with
/// the tenant and id of the event's stream). So they are in the global order, and the
/// strong handlers of their routes run on them too, but they never change an aggregate's
/// state. A failure rolls everything back ([`ErrorKind::Dispatch`]).
///
/// | option | meaning | default |
/// |---|---|---|
/// | `priority = N` | order among the event's handlers, lower first | 0 |
/// | `name = "…"` | the dispatcher's name, and its side events' stream type | the function's name |
///
/// ```
/// use herald::prelude::*;
///
/// #[event("user.:user_id.created")] struct UserCreated { user_id: u64, email: String }
/// #[event("mail.:user_id.queued")] struct MailQueued { user_id: u64, to: String }
/// #[command("create.user.:user_id")] struct CreateUser { user_id: u64, email: String }
/// # #[aggregate] #[derive(Default)] struct User;
/// # #[aggregate] impl User {
/// #     #[handle] fn create(&self, c: &CreateUser) -> Result<UserCreated, String> {
/// #         Ok(UserCreated { user_id: c.user_id, email: c.email.clone() }) }
/// #     #[apply] fn created(&mut self, _: &UserCreated) {}
/// # }
///
/// #[dispatcher("user.:user_id.created")]
/// async fn welcome_mail(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<MailQueued, String> {
///     Ok(MailQueued { user_id: e.user_id, to: e.email.clone() })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let herald = Herald::builder().modules([module_path!()]).build().await?;
/// herald.dispatch(CreateUser { user_id: 7, email: "ada@example.com".into() }).await?;
/// let all = herald.store().read_all(herald::store::Position::START, 10).await?;
/// assert_eq!(all[1].route.as_str(), "mail.7.queued");
/// assert_eq!(all[1].stream.stream_type(), "dispatched:welcome_mail");
/// assert_eq!(all[1].metadata.causation_id, all[0].event_id);
/// # Ok(()) }
/// ```
///
/// # Equivalent code without the macro
///
/// The function stays plain Rust. The macro adds the `const` check of a typed
/// dispatcher's pattern against its event's routes, and the dispatcher's registration (its
/// name, pattern, priority, the names of its events and a wrapper that decodes the event)
/// in the link-time table the runtime reads.
pub use herald_macros::dispatcher;

/// A side effect outside the database (a third party's API), with the compensation that
/// undoes it.
///
/// `#[saga_step("pattern", reverse = compensation)]` goes on an `async fn` taking the
/// command (`&MyCommand`) and a [`SagaCx`], returning `Result<Output, E>` where the output
/// serializes (a reference number, say). `compensation` is an `async fn(&MyCommand,
/// Option<Output>, &SagaCx<'_>)` returning `()` or `Result<(), E>`.
///
/// Saga steps run between the before and the after hooks (step 4 of the loop), by
/// ascending `priority`, ties by name, outside the command's transaction: the saga log
/// gets a row before each step and its output after it, where writing it never waits on
/// that transaction (on SQLite a file of its own beside the events', `app.sagas.db`).
/// A step and a compensation are tried again as [`HeraldBuilder::saga_retry`] says
/// before they count as failed. If the step fails, or anything after it (a hook, the
/// aggregate, a projector, the commit), the completed steps are reversed, last first, and
/// the caller gets the error ([`ErrorKind::Saga`] for the step's own), with whatever could
/// not be reversed in [`Error::unreversed`]. After hooks read a step's output with
/// [`Cx::saga_output`]. A process that dies mid-saga settles it when a runtime starts
/// again: a saga whose command committed is done, the others' started steps are reversed
/// (with the output, if the step had returned one) — see [`Herald::recovery`].
///
/// | option | meaning | default |
/// |---|---|---|
/// | `reverse = path` | the compensation (required) | — |
/// | `priority = N` | order among the command's saga steps, lower first | 0 |
/// | `name = "…"` | the step's name, in the saga log: keep it stable | the function's name |
/// | `late` | run once the aggregate's events are appended, with them ([`SagaCx::events`]) | before the aggregate decides |
///
/// **Early or late.** A step runs early by default, as spool-broadcast orders it: its
/// output can feed the after hooks and the aggregate's decision (a CRM reference the
/// event carries), but a command the aggregate then refuses has called the third party
/// and reverses the call. A `late` step runs after the append succeeded and before the
/// strong projectors, processors and dispatchers, and receives the decided events: a
/// refused command never reaches it, a conflict's retry has already happened (it runs
/// once), and anything that fails after it (a strong handler, the commit) reverses it,
/// late steps first. Use it for a side effect that only makes sense for a decided command
/// (charging a card for a loan the aggregate granted). Its cost: the command's
/// transaction holds the stream's new version (and on SQLite the write lock) while the
/// third party answers, so other writers to that stream wait as long as the call takes.
///
/// ```
/// use herald::prelude::*;
/// # #[event("user.:user_id.created")] struct UserCreated { user_id: u64, crm: u64 }
/// # #[aggregate] #[derive(Default)] struct User;
/// # #[aggregate] impl User {
/// #     #[handle] fn create(&self, c: &CreateUser) -> Result<UserCreated, String> {
/// #         if c.email.is_empty() { return Err("no e-mail".into()) }
/// #         Ok(UserCreated { user_id: c.user_id, crm: c.crm.unwrap_or(0) }) }
/// #     #[apply] fn created(&mut self, _: &UserCreated) {}
/// # }
/// # static CRM: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());
///
/// #[command("create.user.:user_id")]
/// struct CreateUser { user_id: u64, email: String, crm: Option<u64> }
///
/// #[saga_step("create.user.:id", reverse = unregister)]
/// async fn register(cmd: &CreateUser, _cx: &SagaCx<'_>) -> Result<u64, String> {
///     CRM.lock().unwrap().push(cmd.user_id); // the third party's call
///     Ok(1000 + cmd.user_id)                 // its reference
/// }
///
/// async fn unregister(cmd: &CreateUser, reference: Option<u64>, _cx: &SagaCx<'_>) {
///     CRM.lock().unwrap().retain(|id| *id != cmd.user_id);
/// }
///
/// #[hook(after, "create.user.:id")]
/// async fn keep_reference(cmd: &mut CreateUser, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
///     cmd.crm = cx.saga_output::<u64>("register").transpose()?;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let herald = Herald::builder().modules([module_path!()]).build().await?;
/// let created = herald.dispatch(CreateUser { user_id: 1, email: "a@b".into(), crm: None }).await?;
/// assert_eq!(created.events()[0].payload["crm"], 1001);
/// // The aggregate refuses the next one: its registration is undone.
/// assert!(herald.dispatch(CreateUser { user_id: 2, email: "".into(), crm: None }).await.is_err());
/// assert_eq!(*CRM.lock().unwrap(), [1]);
/// # Ok(()) }
/// ```
///
/// A late step:
///
/// ```
/// use herald::prelude::*;
/// # #[event("loan.:book.granted")] struct Granted { book: u64 }
/// # #[command("lend.:book")] struct Lend { book: u64 }
/// # #[aggregate] #[derive(Default)] struct Loan;
/// # #[aggregate] impl Loan {
/// #     #[handle] fn lend(&self, c: &Lend) -> Result<Granted, String> { Ok(Granted { book: c.book }) }
/// #     #[apply] fn granted(&mut self, _: &Granted) {}
/// # }
/// #[saga_step("lend.:book", reverse = refund, late)]
/// async fn charge(cmd: &Lend, cx: &SagaCx<'_>) -> Result<u32, String> {
///     assert_eq!(cx.events()[0].route.as_str(), format!("loan.{}.granted", cmd.book));
///     Ok(250) // cents charged, once the loan is decided
/// }
///
/// async fn refund(_cmd: &Lend, _cents: Option<u32>, _cx: &SagaCx<'_>) {}
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let herald = Herald::builder().modules([module_path!()]).build().await?;
/// # herald.dispatch(Lend { book: 1 }).await?;
/// # Ok(()) }
/// ```
///
/// # Equivalent code without the macro
///
/// Both functions stay plain Rust. The macro adds the `const` check of the pattern against
/// the command's route, and the step's registration (its name, pattern, priority, and
/// wrappers that log its output as JSON and decode command and output for the
/// compensation) in the link-time table the runtime reads.
pub use herald_macros::saga_step;

/// Declares a channel: a named set of live subscribers (over WebSocket, see
/// `herald::http`) to the committed events whose routes match its patterns, and the
/// function that decides, when a subscriber joins, whether this actor may hear this
/// subscription.
///
/// `#[channel("pattern", …)]` goes on an `async fn` taking the [`Join`](channels::Join)
/// (who asks, for which pattern, what it fixes of the channel's parameters) and a
/// [`Reader`] of the application's read models, returning `Result<(), Forbidden>` (or
/// `bool`). A subscriber asks for a pattern that lies within one of the channel's
/// (`account.42.*` within `account.:account_id.*`); it hears only its own tenant's events,
/// whatever the pattern, after they commit, in the global order.
///
/// | option | meaning | default |
/// |---|---|---|
/// | `"pattern", …` | the route patterns it carries, one at least (checked when the crate compiles) | — |
/// | `name = "…"` | the channel's name, as subscribers ask for it | the function's name |
/// | `event = MyEvent` | a typed channel: only `MyEvent`'s events reach it, and each pattern must be able to match its routes (a compile error otherwise) | any event |
///
/// At start, a channel whose pattern matches no registered event (or whose `event` is
/// not registered in the runtime) is reported with every other problem, and the runtime
/// does not start.
///
/// ```
/// use herald::prelude::*;
/// use herald::channels::{Forbidden, Join};
///
/// #[event("account.:account_id.opened")] struct Opened { account_id: String }
/// #[event("account.:account_id.deposited")] struct Deposited { account_id: String, amount: u64 }
///
/// /// Each actor hears of their own account; managers of any.
/// #[channel("account.:account_id.*")]
/// async fn accounts(join: &Join, _reader: &mut Reader) -> Result<(), Forbidden> {
///     if join.actor().has_role("manager") {
///         return Ok(());
///     }
///     match join.param("account_id") {
///         Some(id) if id == join.actor().id() => Ok(()),
///         _ => Err(Forbidden::new("subscribe to your own account: `account.<your id>.*`")),
///     }
/// }
///
/// /// Only deposits, each a `Deposited`: its patterns are checked against its routes.
/// #[channel("account.*", name = "deposits", event = Deposited)]
/// async fn deposits(join: &Join, _reader: &mut Reader) -> bool {
///     join.actor().has_role("manager")
/// }
///
/// let registry = herald::Registry::modules([module_path!()]);
/// assert_eq!(registry.channel_names().collect::<Vec<_>>(), ["accounts", "deposits"]);
/// ```
///
/// A pattern that can never match the channel's event does not compile:
///
/// ```compile_fail
/// use herald::prelude::*;
/// use herald::channels::{Forbidden, Join};
/// #[event("account.:account_id.opened")] struct Opened { account_id: String }
///
/// #[channel("user.*", event = Opened)] // `user.*` never matches `account.:account_id.opened`
/// async fn users(join: &Join, _reader: &mut Reader) -> Result<(), Forbidden> { Ok(()) }
/// ```
///
/// # Equivalent code without the macro
///
/// The function stays plain Rust. The macro adds, for a typed channel, the `const` check
/// of each pattern against the event's routes, a wrapper that boxes the function's
/// future, and the channel's row in the link-time table the runtime reads:
///
/// ```
/// use herald::prelude::*;
/// use herald::channels::{Forbidden, Join};
/// # #[event("account.:account_id.deposited")] struct Deposited { account_id: String }
///
/// async fn deposits(join: &Join, _reader: &mut Reader) -> bool {
///     join.actor().has_role("manager")
/// }
///
/// const _: () = herald::__private::assert_can_match(
///     "account.*", "Deposited", <Deposited as herald::Event>::ROUTES,
/// );
///
/// fn __herald_channel_deposits<'a>(
///     join: &'a Join,
///     reader: &'a mut Reader,
/// ) -> herald::BoxFuture<'a, Result<(), Forbidden>> {
///     Box::pin(async move {
///         herald::channels::JoinOutput::into_decision(deposits(join, reader).await, join)
///     })
/// }
///
/// herald::__private::inventory::submit! {
///     herald::__private::ChannelRow {
///         name: "deposits",
///         module: module_path!(),
///         patterns: &["account.*"],
///         event: Some(<Deposited as herald::Event>::NAME),
///         authorize: __herald_channel_deposits,
///     }
/// }
/// # assert!(herald::Registry::modules([module_path!()]).channel_names().any(|n| n == "deposits"));
/// ```
pub use herald_macros::channel;
