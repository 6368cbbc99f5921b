//! One event store over SQL databases: [`SqlStore`], generic over a [`Dialect`] that says
//! what differs (SQLite and PostgreSQL; see each dialect's module for how it keeps the
//! global order and its writers apart).

mod archive;
mod consumer;
mod db;
mod dialect;
#[cfg(feature = "postgres")]
mod postgres;
mod remote;
mod rows;
mod saga;
#[cfg(feature = "sqlite")]
mod sqlite;
mod statements;
mod store;

#[cfg(feature = "postgres")]
pub(crate) use postgres::archive as postgres_archive;
#[cfg(feature = "postgres")]
pub use postgres::{Postgres, PostgresStore};
#[cfg(feature = "sqlite")]
pub(crate) use sqlite::archive as sqlite_archive;
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, Sqlite, SqliteStore};
pub use store::SqlStore;
