//! The sqlx databases the SQL store runs on, and the Rust types it binds and reads in
//! them.
//!
//! Code generic over a sqlx database must prove, at every use, that each type it binds
//! encodes there (`i64: Encode<'q, DB>` …), and Rust does not carry such bounds from a
//! trait's `where` clause to its users. So each type is named through an associated
//! type (`<DB as Bind<i64>>::As`, which is `i64`), whose bounds are implied wherever
//! `DB: Db` is: the store states `D::Db: Db` once and binds with [`Args::arg`], reads with
//! [`Columns::col`].

#![allow(
    unreachable_pub,
    reason = "sealed: bounds of the public `SqlStore`, not reachable from outside the crate"
)]

use serde_json::Value;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use uuid::Uuid;

use crate::model::record::Metadata;
use crate::store::contract::{StoreError, backend};

/// A Rust value `T` as the database `Self` binds it (`As` is `T`, or what `T` converts to).
pub trait Bind<T>: Database {
    type As: for<'q> Encode<'q, Self> + Type<Self> + From<T> + Send;
}

/// A column read into `T` in the database `Self`.
pub trait Read<T>: Database {
    type As: for<'r> Decode<'r, Self> + Type<Self> + Into<T>;
}

/// A database the SQL store runs on: every type it binds and reads, and how it runs a
/// query on a connection.
pub trait Db:
    Database<Arguments: IntoArguments<Self>, Connection: Sync>
    + Bind<i64>
    + Bind<i32>
    + Bind<Uuid>
    + Bind<Option<Uuid>>
    + Bind<String>
    + for<'a> Bind<&'a str>
    + for<'a> Bind<&'a [u8]>
    + for<'a> Bind<Json<&'a Value>>
    + for<'a> Bind<Json<&'a Metadata>>
    + Bind<Option<Json<Value>>>
    + Read<i64>
    + Read<Option<i64>>
    + Read<i32>
    + Read<Uuid>
    + Read<Option<Uuid>>
    + Read<String>
    + Read<Vec<u8>>
    + Read<Json<Value>>
    + Read<Json<Metadata>>
    + Read<Option<Json<Value>>>
{
    /// What a query runs on: a connection of this database.
    type Executor<'c>: Executor<'c, Database = Self>;
    fn executor(conn: &mut Self::Connection) -> Self::Executor<'_>;

    /// A column's name as this database's rows are indexed by it.
    type ColumnName: ColumnIndex<Self::Row>;
    fn column(name: &'static str) -> Self::ColumnName;

    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// Implements `Bind` and `Read` for types the database takes as they are.
macro_rules! takes_as_is {
    ($db:ty; bind: $($bind:ty),*; read: $($read:ty),* $(,)?) => {
        $(impl<'a> $crate::store::sql::db::Bind<$bind> for $db { type As = $bind; })*
        $(impl $crate::store::sql::db::Read<$read> for $db { type As = $read; })*
    };
}

/// Implements [`Db`] for a sqlx database whose connections run queries by `&mut`.
macro_rules! sql_database {
    ($db:ty, $conn:ty) => {
        $crate::store::sql::db::takes_as_is!($db;
            bind: i64, i32, ::uuid::Uuid, Option<::uuid::Uuid>, String, &'a str, &'a [u8],
                sqlx::types::Json<&'a serde_json::Value>,
                sqlx::types::Json<&'a $crate::model::record::Metadata>,
                Option<sqlx::types::Json<serde_json::Value>>;
            read: i64, Option<i64>, i32, ::uuid::Uuid, Option<::uuid::Uuid>, String, Vec<u8>,
                sqlx::types::Json<serde_json::Value>,
                sqlx::types::Json<$crate::model::record::Metadata>,
                Option<sqlx::types::Json<serde_json::Value>>,
        );

        impl $crate::store::sql::db::Db for $db {
            type Executor<'c> = &'c mut $conn;
            fn executor(conn: &mut $conn) -> &mut $conn {
                conn
            }
            type ColumnName = &'static str;
            fn column(name: &'static str) -> &'static str {
                name
            }
            fn rows_affected(result: &<$db as sqlx::Database>::QueryResult) -> u64 {
                result.rows_affected()
            }
        }
    };
}
pub(crate) use {sql_database, takes_as_is};

/// `value` as the database `D` binds it, for `QueryBuilder::push_bind`.
pub fn value<D: Bind<T>, T>(value: T) -> <D as Bind<T>>::As {
    value.into()
}

/// Binding through [`Bind`]: `sqlx::query(…).arg(7_i64).arg(stream.tenant())`.
pub trait Args<D: Db>: Sized {
    fn arg<T>(self, value: T) -> Self
    where
        D: Bind<T>;
}

impl<'q, D: Db> Args<D> for Query<'q, D, D::Arguments> {
    fn arg<T>(self, value: T) -> Self
    where
        D: Bind<T>,
    {
        self.bind(<D as Bind<T>>::As::from(value))
    }
}

/// Reading through [`Read`]: `row.col::<i64>("version")?`.
pub trait Columns {
    type Db: Db;
    fn col<T>(&self, name: &'static str) -> Result<T, StoreError>
    where
        Self::Db: Read<T>;
}

impl<R: Row> Columns for R
where
    R::Database: Db,
{
    type Db = R::Database;

    fn col<T>(&self, name: &'static str) -> Result<T, StoreError>
    where
        Self::Db: Read<T>,
    {
        let value: <Self::Db as Read<T>>::As = self
            .try_get(<Self::Db as Db>::column(name))
            .map_err(backend)?;
        Ok(value.into())
    }
}
