//! [`sql!`](crate::sql!): one piece of `sqlx` code for whichever SQL store a transaction
//! is on. The macros are defined here according to the stores this build of herald has,
//! so that the code a user writes compiles with any of them.

/// Runs the same `sqlx` code on a transaction's connection, whichever SQL store it is on:
/// `herald::sql!(cx.sql(), |conn| …)` evaluates to `Some(…)` on SQLite and PostgreSQL
/// (the body is compiled once for each connection type) and `None` on a store without
/// SQL (the in-memory store). Write the SQL so that both databases read it alike:
/// `$1`, `$2`, … placeholders (SQLite reads them too), `BIGINT` for integers (an `i64` on
/// both), `TEXT`, `ON CONFLICT … DO UPDATE`. Both arms give one type: end an `execute`
/// with `.map(|done| done.rows_affected())`.
///
/// ```
/// # async fn run(herald: herald::Herald) -> Result<(), herald::BoxError> {
/// let mut tx = herald.begin().await?;
/// let email = "ada@example.com";
/// herald::sql!(tx.sql(), |conn| {
///     sqlx::query("INSERT INTO profiles (user_id, email) VALUES ($1, $2)")
///         .bind(7_i64)
///         .bind(email)
///         .execute(conn)
///         .await
///         .map(|done| done.rows_affected())
/// })
/// .transpose()?;
/// let found: Option<i64> = herald::sql!(tx.sql(), |conn| {
///     sqlx::query_scalar("SELECT user_id FROM profiles WHERE email = $1")
///         .bind(email)
///         .fetch_optional(conn)
///         .await
/// })
/// .transpose()?
/// .flatten();
/// tx.commit().await?;
/// # Ok(()) }
/// # use herald::sqlx;
/// ```
///
/// In a handler, `cx.sql()` gives the connection the same way; `sqlx` is
/// `herald::sqlx`, so no dependency of your own is needed.
#[macro_export]
macro_rules! sql {
    ($sql:expr, |$conn:ident| $body:expr) => {
        '__herald_sql: {
            let __herald_sql = $sql;
            $crate::__sql_on_sqlite!('__herald_sql, __herald_sql, $conn, $body);
            $crate::__sql_on_postgres!('__herald_sql, __herald_sql, $conn, $body);
            let _ = __herald_sql;
            ::core::option::Option::None
        }
    };
}

/// The SQLite arm of [`sql!`]. Not public API.
#[cfg(feature = "sqlite")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_on_sqlite {
    ($label:lifetime, $sql:ident, $conn:ident, $body:expr) => {
        #[allow(unused_variables)]
        let $sql = match $sql {
            $crate::store::Sql::Sqlite($conn) => break $label::core::option::Option::Some($body),
            other => other,
        };
    };
}

/// The SQLite arm of [`sql!`], in a build without SQLite: nothing. Not public API.
#[cfg(not(feature = "sqlite"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_on_sqlite {
    ($label:lifetime, $sql:ident, $conn:ident, $body:expr) => {};
}

/// The PostgreSQL arm of [`sql!`]. Not public API.
#[cfg(feature = "postgres")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_on_postgres {
    ($label:lifetime, $sql:ident, $conn:ident, $body:expr) => {
        #[allow(unused_variables)]
        let $sql = match $sql {
            $crate::store::Sql::Postgres($conn) => break $label::core::option::Option::Some($body),
            other => other,
        };
    };
}

/// The PostgreSQL arm of [`sql!`], in a build without PostgreSQL: nothing. Not public
/// API.
#[cfg(not(feature = "postgres"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_on_postgres {
    ($label:lifetime, $sql:ident, $conn:ident, $body:expr) => {};
}
