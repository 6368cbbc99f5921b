//! The second store old events move to: another SQLite file or PostgreSQL database.
//!
//! [`Consumers::archive`](crate::Consumers::archive) copies the events every consumer has
//! passed into it and, when it [discards](Archive::discard), deletes them from the active
//! store. A runtime built with an archive reads through to it wherever old events are
//! read (loading a stream, replaying a consumer, answering a repeated command id), so
//! nothing is lost. Each event keeps its place in the global order: the archive followed
//! by the active store is the global order unchanged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[cfg(feature = "postgres")]
use sqlx::postgres::PgConnectOptions;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqliteConnectOptions;
use uuid::Uuid;

use crate::BoxFuture;
use crate::model::record::{Position, RecordedEvent, StreamKey};
use crate::store::contract::{Archived, StoreError};

/// An archive of events: another SQLite file or PostgreSQL database. Hand it to
/// [`HeraldBuilder::archive`](crate::HeraldBuilder::archive); one archive serves one
/// active store.
///
/// ```
/// # use herald_doc_fixtures::*; // links the fixtures' registrations
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use herald::store::Archive;
/// let archive = Archive::connect("sqlite::memory:").await?.discard(true);
/// let herald = herald::Herald::builder()
///     .modules(["herald_doc_fixtures"])
///     .archive(archive)
///     .build()
///     .await?;
/// let report = herald.consumers().archive().await?;
/// println!("archived {}, discarded {}", report.archived, report.discarded);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Archive {
    events: Arc<dyn Archived>,
    discard: bool,
}

impl Archive {
    fn new(events: impl Archived) -> Self {
        Archive {
            events: Arc::new(events),
            discard: false,
        }
    }

    /// An archive in memory, lost when the process ends: for tests.
    pub fn memory() -> Self {
        Self::new(MemoryArchive::default())
    }

    /// Opens the archive a URL names: `sqlite://archive.db`, `sqlite::memory:`,
    /// `postgres://…` or `memory:` ([`Archive::memory`]); anything else is the path of a
    /// SQLite file. Its table is created or upgraded.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        match scheme {
            Some("memory") => Ok(Self::memory()),
            #[cfg(feature = "postgres")]
            Some("postgres" | "postgresql") => {
                use std::str::FromStr;
                let options =
                    PgConnectOptions::from_str(url).map_err(crate::store::contract::backend)?;
                Self::connect_postgres_with(options).await
            }
            #[cfg(feature = "sqlite")]
            Some("sqlite") => {
                use std::str::FromStr;
                let options =
                    SqliteConnectOptions::from_str(url).map_err(crate::store::contract::backend)?;
                Self::connect_sqlite_with(options).await
            }
            #[cfg(not(feature = "postgres"))]
            Some("postgres" | "postgresql") => Err(StoreError::Unsupported(
                "a `postgres:` archive needs herald's `postgres` feature".into(),
            )),
            #[cfg(feature = "sqlite")]
            _ => Self::connect_sqlite_with(SqliteConnectOptions::new().filename(url)).await,
            #[cfg(not(feature = "sqlite"))]
            _ => Err(StoreError::Unsupported(format!(
                "`{url}` names no archive herald was built with (a SQLite archive needs herald's \
                 `sqlite` feature)"
            ))),
        }
    }

    /// Opens a SQLite archive with your own options (WAL and `synchronous=FULL` are set).
    #[cfg(feature = "sqlite")]
    pub async fn connect_sqlite_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        Ok(Self::new(super::sql::sqlite_archive(options).await?))
    }

    /// Opens a PostgreSQL archive with your own options (a `search_path`, say).
    #[cfg(feature = "postgres")]
    pub async fn connect_postgres_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        Ok(Self::new(super::sql::postgres_archive(options).await?))
    }

    /// Whether archiving also deletes the archived events from the active store (default:
    /// no, they are copied). The last event of each stream stays, so that the stream's
    /// version goes on from it, and so do events a consumer parked.
    pub fn discard(mut self, discard: bool) -> Self {
        self.discard = discard;
        self
    }

    /// Whether archiving deletes what it archived from the active store.
    pub fn discards(&self) -> bool {
        self.discard
    }

    /// What kind of database holds it: `memory`, `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.events.kind()
    }

    /// The position of the newest archived event ([`Position::START`] when there is none).
    pub async fn head(&self) -> Result<Position, StoreError> {
        self.events.head().await
    }

    /// At most `limit` archived events after `after`, in global order.
    pub async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.events.read_all(after, limit).await
    }

    /// The archived events of `stream` with a version above `after_version`, in order.
    pub async fn read_stream(
        &self,
        stream: &StreamKey,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.events.read_stream(stream, after_version).await
    }

    /// The archived event with this id.
    pub(crate) async fn event(&self, event_id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        self.events.event(event_id).await
    }

    /// Stores `events`, in one transaction. An event archived before is left as it is,
    /// so a pass that stopped halfway can simply run again, and two passes at once both
    /// succeed.
    pub(crate) async fn put(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        // All of them, unless another event took the place of one (the archive serves
        // another store too).
        let held = self.events.put(events).await?;
        if held != events.len() as u64 {
            let missing = events.len() as u64 - held;
            return Err(StoreError::Backend(
                format!(
                    "the archive holds other events where {missing} of these belong \
                     (positions {} to {}): an archive serves one store",
                    first.position, last.position
                )
                .into(),
            ));
        }
        Ok(())
    }
}

/// An archive in memory, for tests: lost when the process ends.
#[derive(Debug, Default)]
struct MemoryArchive {
    events: Mutex<BTreeMap<Position, RecordedEvent>>,
}

impl MemoryArchive {
    fn events(&self) -> MutexGuard<'_, BTreeMap<Position, RecordedEvent>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Archived for MemoryArchive {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        let last = self.events().last_key_value().map(|(p, _)| *p);
        Box::pin(async move { Ok(last.unwrap_or(Position::START)) })
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        let events = self.events();
        let later = events.range(after..).filter(|(p, _)| **p > after);
        let page = later.take(limit).map(|(_, e)| e.clone()).collect();
        Box::pin(async move { Ok(page) })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        // By position, which is version order within a stream.
        let events = self
            .events()
            .values()
            .filter(|e| &e.stream == stream && e.version > after_version)
            .cloned()
            .collect();
        Box::pin(async move { Ok(events) })
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        let found = self
            .events()
            .values()
            .find(|e| e.event_id == event_id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut archived = self.events();
        let mut held = 0;
        for event in events {
            let kept = archived
                .entry(event.position)
                .or_insert_with(|| event.clone());
            held += u64::from(kept.event_id == event.event_id);
        }
        Box::pin(async move { Ok(held) })
    }
}
