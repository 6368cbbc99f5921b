//! A connection for reading the application's own tables outside any write transaction.

use crate::store::{Sql, StoreReader};

/// A pooled connection for reading read models, from [`Herald::reader`](crate::Herald::reader): what a query
/// endpoint next to Herald's routes uses. It is no transaction (each statement sees what
/// has committed) and on SQLite takes no writer's lock, so reads neither wait for
/// commands nor hold them up. Write through [`Herald::begin`](crate::Herald::begin) instead.
///
/// ```
/// # extern crate herald_doc_fixtures;
/// # use herald::sqlx;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::BoxError> {
/// # let dir = std::env::temp_dir().join(format!("herald-reader-{}", herald::Uuid::now_v7()));
/// # let url = format!("sqlite://{}", dir.display());
/// let herald = herald::Herald::builder().url(url).modules(["herald_doc_fixtures"]).build().await?;
/// let mut tx = herald.begin().await?;
/// herald::sql!(tx.sql(), |conn| {
///     sqlx::query("CREATE TABLE profiles (user_id BIGINT PRIMARY KEY, name TEXT)")
///         .execute(&mut *conn)
///         .await?;
///     sqlx::query("INSERT INTO profiles VALUES (7, 'Ada')")
///         .execute(conn)
///         .await
///         .map(|done| done.rows_affected())
/// })
/// .transpose()?;
/// tx.commit().await?;
///
/// let mut reader = herald.reader().await?;
/// let name: Option<String> = herald::sql!(reader.sql(), |conn| {
///     sqlx::query_scalar("SELECT name FROM profiles WHERE user_id = $1")
///         .bind(7_i64)
///         .fetch_optional(conn)
///         .await
/// })
/// .transpose()?
/// .flatten();
/// assert_eq!(name.as_deref(), Some("Ada"));
/// # drop(reader); drop(herald); let _ = std::fs::remove_file(&dir);
/// # Ok(()) }
/// ```
pub struct Reader(Box<dyn StoreReader>);

impl Reader {
    pub(crate) fn new(reader: Box<dyn StoreReader>) -> Self {
        Reader(reader)
    }
}

impl Reader {
    /// The connection, for [`sql!`](crate::sql!).
    pub fn sql(&mut self) -> Sql<'_> {
        self.0.sql()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}
