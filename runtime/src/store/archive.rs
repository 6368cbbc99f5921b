//! The second store old events move to: another SQLite file or PostgreSQL database.
//!
//! [`Consumers::archive`](crate::Consumers::archive) copies the events every consumer has
//! passed into it and, when it [discards](Archive::discard), deletes them from the active
//! store. A runtime built with an archive reads through to it wherever old events are
//! read (loading a stream, replaying a consumer, answering a repeated command id), so
//! nothing is lost. Each event keeps its place in the global order: the archive followed
//! by the active store is the global order unchanged.

#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Position, RecordedEvent, StoreError, StreamKey};

#[cfg(feature = "sqlite")]
macro_rules! sqlite_select {
    ($rest:literal) => {
        concat!(
            "SELECT tx_order, position, event_id, tenant, stream_type, stream_id, version, route, name, \
             schema_version, payload, metadata, recorded_at FROM herald_archive ",
            $rest
        )
    };
}

#[cfg(feature = "postgres")]
macro_rules! postgres_select {
    ($rest:literal) => {
        concat!(
            "SELECT tx_order, position, event_id, tenant, stream_type, stream_id, version, route, name, \
             schema_version, payload, metadata, (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_us \
             FROM herald_archive ",
            $rest
        )
    };
}

/// An archive of events: another SQLite file or PostgreSQL database. Hand it to
/// [`HeraldBuilder::archive`](crate::HeraldBuilder::archive); one archive serves one
/// active store.
///
/// ```
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
    backend: Backend,
    discard: bool,
}

#[derive(Clone, Debug)]
enum Backend {
    /// For tests: lost when the process ends.
    Memory(Arc<Mutex<BTreeMap<Position, RecordedEvent>>>),
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
}

impl Archive {
    /// An archive in memory, lost when the process ends: for tests.
    pub fn memory() -> Self {
        Archive {
            backend: Backend::Memory(Arc::default()),
            discard: false,
        }
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
                let options = PgConnectOptions::from_str(url).map_err(super::backend)?;
                Self::connect_postgres_with(options).await
            }
            #[cfg(feature = "sqlite")]
            Some("sqlite") => {
                use std::str::FromStr;
                let options = SqliteConnectOptions::from_str(url).map_err(super::backend)?;
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
        use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        let filename = options.get_filename().to_string_lossy().into_owned();
        let in_memory = filename == ":memory:" || filename.starts_with("file:sqlx-in-memory-");
        let options = options
            .create_if_missing(true)
            .journal_mode(match in_memory {
                true => SqliteJournalMode::Memory,
                false => SqliteJournalMode::Wal,
            })
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in its one connection.
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(u32::from(in_memory))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(super::backend)?;
        let mut migrator = sqlx::migrate!("./migrations/archive-sqlite");
        migrator.dangerous_set_table_name("_herald_archive_migrations");
        migrator.run(&pool).await.map_err(super::backend)?;
        Ok(Archive {
            backend: Backend::Sqlite(pool),
            discard: false,
        })
    }

    /// Opens a PostgreSQL archive with your own options (a `search_path`, say).
    #[cfg(feature = "postgres")]
    pub async fn connect_postgres_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(super::backend)?;
        let mut migrator = sqlx::migrate!("./migrations/archive-postgres");
        migrator.dangerous_set_table_name("_herald_archive_migrations");
        migrator.run(&pool).await.map_err(super::backend)?;
        Ok(Archive {
            backend: Backend::Postgres(pool),
            discard: false,
        })
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
        match self.backend {
            Backend::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The position of the newest archived event ([`Position::START`] when there is none).
    pub async fn head(&self) -> Result<Position, StoreError> {
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        let select = "SELECT tx_order, position FROM herald_archive \
                      ORDER BY tx_order DESC, position DESC LIMIT 1";
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        let found = |last: Result<Option<(i64, i64)>, sqlx::Error>| {
            let last = last.map_err(super::backend)?;
            Ok(last.map_or(Position::START, |(tx, seq)| {
                Position::from_parts(tx as u64, seq as u64)
            }))
        };
        match &self.backend {
            Backend::Memory(events) => {
                let last = lock(events).last_key_value().map(|(p, _)| *p);
                Ok(last.unwrap_or(Position::START))
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => found(sqlx::query_as(select).fetch_optional(pool).await),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => found(sqlx::query_as(select).fetch_optional(pool).await),
        }
    }

    /// At most `limit` archived events after `after`, in global order.
    pub async fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.backend {
            Backend::Memory(events) => {
                let events = lock(events);
                let later = events.range(after..).filter(|(p, _)| **p > after);
                Ok(later.take(limit).map(|(_, e)| e.clone()).collect())
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                let rows = sqlx::query(sqlite_select!(
                    "WHERE (tx_order, position) > (?1, ?2) ORDER BY tx_order, position LIMIT ?3"
                ))
                .bind(after.parts().0 as i64)
                .bind(after.parts().1 as i64)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
                .map_err(super::backend)?;
                rows.iter().map(sqlite_event).collect()
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => {
                let rows = sqlx::query(postgres_select!(
                    "WHERE (tx_order, position) > ($1, $2) ORDER BY tx_order, position LIMIT $3"
                ))
                .bind(after.parts().0 as i64)
                .bind(after.parts().1 as i64)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
                .map_err(super::backend)?;
                rows.iter().map(super::postgres::event_from_row).collect()
            }
        }
    }

    /// The archived events of `stream` with a version above `after_version`, in order.
    pub async fn read_stream(
        &self,
        stream: &StreamKey,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.backend {
            // By position, which is version order within a stream.
            Backend::Memory(events) => Ok(lock(events)
                .values()
                .filter(|e| &e.stream == stream && e.version > after_version)
                .cloned()
                .collect()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                let rows = sqlx::query(sqlite_select!(
                    "WHERE tenant = ?1 AND stream_type = ?2 AND stream_id = ?3 \
                     AND version > ?4 ORDER BY version"
                ))
                .bind(stream.tenant())
                .bind(stream.stream_type())
                .bind(stream.stream_id())
                .bind(after_version as i64)
                .fetch_all(pool)
                .await
                .map_err(super::backend)?;
                rows.iter().map(sqlite_event).collect()
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => {
                let rows = sqlx::query(postgres_select!(
                    "WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 \
                     AND version > $4 ORDER BY version"
                ))
                .bind(stream.tenant())
                .bind(stream.stream_type())
                .bind(stream.stream_id())
                .bind(after_version as i64)
                .fetch_all(pool)
                .await
                .map_err(super::backend)?;
                rows.iter().map(super::postgres::event_from_row).collect()
            }
        }
    }

    /// The archived event with this id.
    pub(crate) async fn event(
        &self,
        event_id: uuid::Uuid,
    ) -> Result<Option<RecordedEvent>, StoreError> {
        match &self.backend {
            Backend::Memory(events) => {
                let events = lock(events);
                Ok(events.values().find(|e| e.event_id == event_id).cloned())
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                let row = sqlx::query(sqlite_select!("WHERE event_id = ?"))
                    .bind(event_id)
                    .fetch_optional(pool)
                    .await
                    .map_err(super::backend)?;
                row.as_ref().map(sqlite_event).transpose()
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => {
                let row = sqlx::query(postgres_select!("WHERE event_id = $1"))
                    .bind(event_id)
                    .fetch_optional(pool)
                    .await
                    .map_err(super::backend)?;
                row.as_ref()
                    .map(super::postgres::event_from_row)
                    .transpose()
            }
        }
    }

    /// Stores `events`, in one transaction. An event archived before is left as it is,
    /// so a pass that stopped halfway can simply run again, and two passes at once both
    /// succeed.
    pub(crate) async fn put(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        // How many of `events` the archive holds afterwards: all of them, unless another
        // event took the place of one (the archive serves another store too).
        let held = match &self.backend {
            Backend::Memory(archived) => {
                let mut archived = lock(archived);
                let mut held = 0;
                for event in events {
                    let kept = archived
                        .entry(event.position)
                        .or_insert_with(|| event.clone());
                    held += u64::from(kept.event_id == event.event_id);
                }
                held
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                use sqlx::types::Json;
                let mut tx = pool.begin().await.map_err(super::backend)?;
                // 13 parameters an event; SQLite takes at most 32,766 in a statement.
                for chunk in events.chunks(1000) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO herald_archive (tx_order, position, event_id, tenant, stream_type, \
                         stream_id, version, route, name, schema_version, payload, metadata, recorded_at) ",
                    );
                    insert.push_values(chunk, |mut row, e| {
                        let (tx, seq) = e.position.parts();
                        row.push_bind(tx as i64)
                            .push_bind(seq as i64)
                            .push_bind(e.event_id)
                            .push_bind(e.stream.tenant().to_owned())
                            .push_bind(e.stream.stream_type().to_owned())
                            .push_bind(e.stream.stream_id().to_owned())
                            .push_bind(e.version as i64)
                            .push_bind(e.route.as_str().to_owned())
                            .push_bind(e.name.clone())
                            .push_bind(i64::from(e.schema_version))
                            .push_bind(Json(e.payload.clone()))
                            .push_bind(Json(e.metadata.clone()))
                            .push_bind(super::sqlite::micros(e.recorded_at));
                    });
                    insert.push(" ON CONFLICT DO NOTHING");
                    insert
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(super::backend)?;
                }
                let mut held = 0;
                for chunk in events.chunks(1000) {
                    let mut count = sqlx::QueryBuilder::new(
                        "SELECT COUNT(*) FROM herald_archive WHERE event_id IN (",
                    );
                    let mut ids = count.separated(", ");
                    for event in chunk {
                        ids.push_bind(event.event_id);
                    }
                    count.push(")");
                    let found: i64 = count
                        .build_query_scalar()
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(super::backend)?;
                    held += found as u64;
                }
                tx.commit().await.map_err(super::backend)?;
                held
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => {
                use sqlx::types::Json;
                // One statement for the whole page: a column array each.
                let column =
                    |f: fn(&RecordedEvent) -> i64| events.iter().map(f).collect::<Vec<_>>();
                let text = |f: fn(&RecordedEvent) -> &str| {
                    events.iter().map(|e| f(e).to_owned()).collect::<Vec<_>>()
                };
                sqlx::query(
                    "INSERT INTO herald_archive (tx_order, position, event_id, tenant, stream_type, \
                     stream_id, version, route, name, schema_version, payload, metadata, recorded_at) \
                     SELECT tx, seq, id, tenant, stream_type, stream_id, version, route, name, \
                     schema_version::integer, payload, metadata, \
                     timestamptz 'epoch' + recorded_us * interval '1 microsecond' \
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], \
                     $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::jsonb[], \
                     $12::jsonb[], $13::bigint[]) AS e(tx, seq, id, tenant, stream_type, stream_id, \
                     version, route, name, schema_version, payload, metadata, recorded_us) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(column(|e| e.position.parts().0 as i64))
                .bind(column(|e| e.position.parts().1 as i64))
                .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
                .bind(text(|e| e.stream.tenant()))
                .bind(text(|e| e.stream.stream_type()))
                .bind(text(|e| e.stream.stream_id()))
                .bind(column(|e| e.version as i64))
                .bind(text(|e| e.route.as_str()))
                .bind(text(|e| &e.name))
                .bind(column(|e| i64::from(e.schema_version)))
                .bind(events.iter().map(|e| Json(&e.payload)).collect::<Vec<_>>())
                .bind(events.iter().map(|e| Json(&e.metadata)).collect::<Vec<_>>())
                .bind(column(|e| micros(e.recorded_at)))
                .execute(pool)
                .await
                .map_err(super::backend)?;
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
                let found: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM herald_archive WHERE event_id = ANY($1)",
                )
                .bind(ids)
                .fetch_one(pool)
                .await
                .map_err(super::backend)?;
                found as u64
            }
        };
        if held != events.len() as u64 {
            let missing = events.len() as u64 - held;
            return Err(StoreError::Backend(
                format!(
                    "the archive holds other events where {missing} of these belong \
                     (positions {} to {}): an archive serves one store",
                    events[0].position,
                    events[events.len() - 1].position
                )
                .into(),
            ));
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(feature = "postgres")]
fn micros(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// An archived event read from SQLite: the store's row, with the first part of its
/// position as it was in the active store.
#[cfg(feature = "sqlite")]
fn sqlite_event(row: &sqlx::sqlite::SqliteRow) -> Result<RecordedEvent, StoreError> {
    use sqlx::Row;
    let mut event = super::sqlite::event_from_row(row)?;
    let tx: i64 = row.try_get("tx_order").map_err(super::backend)?;
    event.position = Position::from_parts(tx as u64, event.position.parts().1);
    Ok(event)
}
