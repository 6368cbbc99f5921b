//! The event store contract every backend implements, and the records it keeps.
//!
//! A command runs in one [`StoreTransaction`]: it loads its aggregate's stream, appends
//! with the version it loaded (a concurrent writer makes that a [`Conflict`]) and commits.
//! Readers of the global order ([`EventStore::read_all`]) never skip an event that
//! commits later with a smaller position: they read only below the oldest position still
//! held by an open transaction.

mod archive;
mod consumer;
mod contract;
mod memory;
mod read_through;
mod reader;
mod remote;
pub(crate) mod saga;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub use archive::Archive;
pub use consumer::{Checkpoint, ConsumerLog, DeadLetter, Lease};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use contract::backend;
pub use contract::{
    AggregateRead, Conflict, EventStore, ListedCommand, MAX_PAYLOAD_LEN, Page, ReadTransaction,
    RecordedCommand, ReplayFrom, ResultJson, Savepoint, Snapshot, Sql, StoreError, StoreReader,
    StoreTransaction,
};
pub use memory::MemoryStore;
pub(crate) use read_through::ReadThrough;
pub use reader::Reader;
pub use remote::{Acknowledged, RemoteConsumerLog, RemoteRegistration, remote_checkpoint};
pub(crate) use remote::{is_reserved, remote_of_checkpoint};
pub use saga::{SagaLog, SagaOutcome, SagaStep};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStore;
#[cfg(feature = "sqlite")]
pub use sql::{Durability, Sqlite, SqliteStore};
#[cfg(feature = "postgres")]
pub use sql::{Postgres, PostgresStore};

pub use crate::BoxFuture;
pub use crate::model::record::{
    DecodeError, InvalidStreamKey, MAX_KEY_LEN, Metadata, NewEvent, Position, RecordedEvent,
    ReplayEvent, StreamKey,
};

/// Opens the store a URL names: `memory:` (a [`MemoryStore`]), `sqlite://app.db` or
/// `sqlite::memory:` (a [`SqliteStore`]), `postgres://…` (a [`PostgresStore`]); anything
/// else is taken as the path of a SQLite file. Herald's tables are created or upgraded.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = herald::store::connect("sqlite::memory:").await?;
/// assert_eq!(store.kind(), "sqlite");
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<Box<dyn EventStore>, StoreError> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    match scheme {
        Some("memory") => Ok(Box::new(MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        Some("sqlite") => Ok(Box::new(SqliteStore::connect(url).await?)),
        #[cfg(feature = "postgres")]
        Some("postgres" | "postgresql") => Ok(Box::new(PostgresStore::connect(url).await?)),
        #[cfg(not(feature = "sqlite"))]
        Some("sqlite") => Err(StoreError::Unsupported(
            "`sqlite:` stores need herald's `sqlite` feature".into(),
        )),
        #[cfg(not(feature = "postgres"))]
        Some("postgres" | "postgresql") => Err(StoreError::Unsupported(
            "`postgres:` stores need herald's `postgres` feature".into(),
        )),
        #[cfg(feature = "sqlite")]
        _ => Ok(Box::new(SqliteStore::open(url).await?)),
        #[cfg(not(feature = "sqlite"))]
        _ => Err(StoreError::Unsupported(format!(
            "`{url}` names no store herald was built with"
        ))),
    }
}
