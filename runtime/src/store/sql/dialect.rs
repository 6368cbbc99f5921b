//! What differs between the SQL databases Herald runs on: a few fragments of SQL text,
//! how a transaction begins, how events are appended and read in global order, and
//! whether the database has one writer at a time. Everything else is [`SqlStore`]'s,
//! written once.
//!
//! [`SqlStore`]: super::SqlStore

use std::sync::Arc;

use sqlx::{Pool, Transaction};
use tokio::sync::watch;

use super::db::Db;
use crate::BoxFuture;
use crate::model::record::{NewEvent, Position, RecordedEvent, StreamKey};
use crate::store::contract::{Sql, StoreError};

/// A transaction begun, and the turn it holds.
pub(super) type Begun<D> = (
    Transaction<'static, <D as Dialect>::Db>,
    <D as Dialect>::Turn,
);

/// A SQL database's dialect. Implemented by [`Sqlite`](super::Sqlite) and
/// [`Postgres`](super::Postgres); a third database (MySQL, say) would be a third.
#[allow(
    unreachable_pub,
    reason = "sealed: named in `SqlStore`'s bounds, not reachable from outside the crate"
)]
pub trait Dialect: Clone + std::fmt::Debug + Send + Sync + Sized + 'static {
    #[doc(hidden)]
    type Db: Db;

    /// What a transaction holds besides the database's transaction: this process's turn
    /// to write where the database has one writer at a time.
    #[doc(hidden)]
    type Turn: Send + Sync + 'static;

    /// The kind of store, for messages: `sqlite`, `postgres`.
    #[doc(hidden)]
    const KIND: &'static str;

    /// Whether the database has one writer at a time, whose lock a transaction takes
    /// when it begins (SQLite). Then nothing a transaction reads can change under it:
    /// a command id or a consumer is claimed by reading it, with no row to lock.
    #[doc(hidden)]
    const SINGLE_WRITER: bool;

    /// Whether [`append`](Self::append) takes a savepoint in the same round trip as its
    /// first insert (SQLite, whose driver runs several statements in one call), so that
    /// a deferred savepoint costs no round trip of its own.
    #[doc(hidden)]
    const TAKES_SAVEPOINT_WITH_APPEND: bool;

    /// SQL: what begins a read-only transaction on one moment of the database that
    /// holds up no writer (nor, on PostgreSQL, any reader of the global order).
    #[doc(hidden)]
    const BEGIN_READ: &'static str;

    /// SQL: the columns `tx_order, position` of a `herald_events` row (the global order
    /// is `(tx_order, position)`; where commits never come out of order, `tx_order` is 0).
    #[doc(hidden)]
    const EVENT_POSITION: &'static str;

    /// SQL: the order of `herald_events` rows in the global order.
    #[doc(hidden)]
    const EVENT_ORDER: &'static str;

    /// SQL: the newest first order of `herald_commands` rows, for listing them.
    #[doc(hidden)]
    const COMMANDS_NEWEST_FIRST: &'static str;

    /// SQL: a `herald_commands` row comes before command `id` (a parameter) in
    /// [`COMMANDS_NEWEST_FIRST`](Self::COMMANDS_NEWEST_FIRST)'s order, read backwards.
    #[doc(hidden)]
    fn commands_before(id: &str) -> String;

    /// SQL: a `herald_events` row comes after the position `tx`, `seq` (parameters) in
    /// the global order.
    #[doc(hidden)]
    fn events_after(tx: &str, seq: &str) -> String;

    /// SQL: the database's clock in microseconds since the Unix epoch.
    #[doc(hidden)]
    const NOW_MICROS: &'static str;

    /// SQL: the database's clock as a stored time.
    #[doc(hidden)]
    const NOW: &'static str;

    /// SQL: a stored time `column` as microseconds since the Unix epoch.
    #[doc(hidden)]
    fn micros(column: &str) -> String;

    /// SQL: microseconds since the Unix epoch (`micros`, an expression) as a stored time.
    #[doc(hidden)]
    fn time(micros: &str) -> String;

    /// SQL: the stored time `time` plus `micros` microseconds.
    #[doc(hidden)]
    fn later(time: &str, micros: &str) -> String;

    /// SQL: JSON text (`text`, a parameter bound as text) as a JSON column's value.
    #[doc(hidden)]
    fn json(text: &str) -> String;

    /// SQL: a JSON column as its text.
    #[doc(hidden)]
    fn json_text(column: &str) -> String;

    /// The pool of the events' database.
    #[doc(hidden)]
    fn pool(&self) -> &Pool<Self::Db>;

    /// Waits for this process's turn to write, and begins a transaction.
    #[doc(hidden)]
    fn begin(&self) -> BoxFuture<'_, Result<Begun<Self>, StoreError>>;

    /// Waits for this process's turn to write outside a transaction (at once where
    /// writers do not take turns).
    #[doc(hidden)]
    fn turn(&self) -> BoxFuture<'_, Self::Turn>;

    /// A transaction's connection, for users' own tables.
    #[doc(hidden)]
    fn sql(conn: &mut <Self::Db as sqlx::Database>::Connection) -> Sql<'_>;

    /// Appends `events` to `stream` after version `expected`, returning them as recorded,
    /// or `Ok(None)` when the stream is not at `expected` (and nothing was appended).
    /// Takes savepoint `herald_<n>` first when given one, in the same round trip: given
    /// only where [`TAKES_SAVEPOINT_WITH_APPEND`](Self::TAKES_SAVEPOINT_WITH_APPEND).
    #[doc(hidden)]
    fn append<'a>(
        conn: &'a mut <Self::Db as sqlx::Database>::Connection,
        savepoint: Option<usize>,
        stream: &'a StreamKey,
        expected: u64,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<Option<Vec<RecordedEvent>>, StoreError>>;

    /// At most `limit` committed events after `after`, in global order, never past one
    /// that may still commit before them.
    #[doc(hidden)]
    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>>;

    /// The position of the last event `read_all` can read now.
    #[doc(hidden)]
    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>>;

    /// Tells the other processes sharing the database that a transaction of this one
    /// committed events, so that their consumers wake (see [`commits`](Self::commits)).
    /// Called after each such commit; returns at once, never waiting on the database.
    /// Nothing by default: the other processes poll.
    #[doc(hidden)]
    fn announce(&self) {}

    /// The signal that changes when events commit; `committed` is bumped by this
    /// process's commits.
    #[doc(hidden)]
    fn commits(&self, committed: &Arc<watch::Sender<u64>>) -> watch::Receiver<u64> {
        committed.subscribe()
    }
}
