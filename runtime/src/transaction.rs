//! The caller's own transaction: dispatch commands in it and write your own tables in it,
//! so that the events and your rows commit together, or not at all.

use crate::cache::AggregateCache;
use crate::command::Command;
use crate::dispatch::{Dispatch, Target};
use crate::error::{Error, ErrorKind};
use crate::runtime::Herald;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::store::StoreError;
use crate::store::{Sql, StoreTransaction};

/// A transaction of the event store that you commit: the events of the commands
/// dispatched in it and whatever you write through [`sql`](Self::sql) commit together.
///
/// | store | what [`sql`](Self::sql) gives |
/// |---|---|
/// | [`SqliteStore`](crate::store::SqliteStore) | `Sql::Sqlite(&mut SqliteConnection)`, also [`sqlite`](Self::sqlite) |
/// | [`PostgresStore`](crate::store::PostgresStore) | `Sql::Postgres(&mut PgConnection)`, also [`postgres`](Self::postgres) |
/// | [`MemoryStore`](crate::store::MemoryStore) | `Sql::None`: there is no database (use `sqlite::memory:` for tests that need one) |
///
/// A dispatch that fails inside the transaction is undone back to where it started (a
/// savepoint); the transaction stays usable and the error is yours to act on. Dropping
/// the transaction without [`commit`](Self::commit) rolls it all back.
///
/// ```
/// # use herald::doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let herald = herald::Herald::builder()
///     .modules(["herald::doc_fixtures"])
///     .url("sqlite::memory:")
///     .build()
///     .await?;
/// let mut tx = herald.begin().await?;
/// # sqlx::query("CREATE TABLE audit (note TEXT)").execute(tx.sqlite()?).await?;
/// tx.dispatch(OpenAccount { account_id: 1 }).await?;
/// sqlx::query("INSERT INTO audit (note) VALUES ('opened 1')").execute(tx.sqlite()?).await?;
/// tx.commit().await?; // the event and the audit row, together
/// # Ok(()) }
/// ```
pub struct HeraldTransaction {
    herald: Herald,
    tx: Box<dyn StoreTransaction>,
    /// The aggregates its dispatches left, for the next dispatch in it, and for the
    /// runtime's cache once it commits.
    own: AggregateCache,
}

impl HeraldTransaction {
    pub(crate) fn new(herald: Herald, tx: Box<dyn StoreTransaction>) -> Self {
        let own = AggregateCache::new(herald.cache().capacity());
        HeraldTransaction { herald, tx, own }
    }

    /// Dispatches `command` in this transaction; configure and `.await` it as
    /// [`Herald::dispatch`].
    pub fn dispatch<C: Command>(&mut self, command: C) -> Dispatch<'_, C> {
        Dispatch::new(Target::Transaction(self), command)
    }

    /// The database connection, for your own tables.
    pub fn sql(&mut self) -> Sql<'_> {
        self.tx.sql()
    }

    /// The SQLite connection, or an error naming the store when it is another.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&mut self) -> Result<&mut sqlx::SqliteConnection, Error> {
        let kind = self.herald.store().kind();
        match self.tx.sql() {
            Sql::Sqlite(conn) => Ok(conn),
            _ => Err(no_sql(kind, "sqlite")),
        }
    }

    /// The PostgreSQL connection, or an error naming the store when it is another.
    #[cfg(feature = "postgres")]
    pub fn postgres(&mut self) -> Result<&mut sqlx::PgConnection, Error> {
        let kind = self.herald.store().kind();
        match self.tx.sql() {
            Sql::Postgres(conn) => Ok(conn),
            _ => Err(no_sql(kind, "postgres")),
        }
    }

    /// Commits the events and your writes together.
    pub async fn commit(self) -> Result<(), Error> {
        let HeraldTransaction { herald, tx, own } = self;
        tx.commit().await.map_err(|source| ErrorKind::Store {
            context: "committing a transaction".into(),
            source,
        })?;
        own.move_into(herald.cache());
        Ok(())
    }

    /// Undoes everything done in the transaction.
    pub async fn rollback(self) -> Result<(), Error> {
        let context = "rolling back a transaction".into();
        self.tx
            .rollback()
            .await
            .map_err(|source| ErrorKind::Store { context, source }.into())
    }

    pub(crate) fn herald(&self) -> &Herald {
        &self.herald
    }

    /// The store's transaction and the aggregates its dispatches left.
    pub(crate) fn parts(&mut self) -> (&mut dyn StoreTransaction, &AggregateCache) {
        (&mut *self.tx, &self.own)
    }
}

impl std::fmt::Debug for HeraldTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeraldTransaction")
            .field("store", &self.herald.store().kind())
            .finish_non_exhaustive()
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn no_sql(store: &str, wanted: &str) -> Error {
    let message = format!("this runtime's store is `{store}`, not `{wanted}`");
    ErrorKind::Store {
        context: "getting the transaction's connection".into(),
        source: StoreError::Unsupported(message),
    }
    .into()
}
