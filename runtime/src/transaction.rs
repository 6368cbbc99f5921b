//! The caller's own transaction: dispatch commands in it and write your own tables in it,
//! so that the events and your rows commit together, or not at all.

use crate::command::Command;
use crate::dispatch::{Dispatch, Target};
use crate::error::{Error, ErrorKind};
use crate::runtime::Herald;
use crate::step::Stepped;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::store::StoreError;
use crate::store::{Sql, StoreTransaction, StreamKey};

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
    /// Aggregates to cache once the transaction commits.
    remembered: Vec<(StreamKey, u64, serde_json::Value)>,
}

impl HeraldTransaction {
    pub(crate) fn new(herald: Herald, tx: Box<dyn StoreTransaction>) -> Self {
        HeraldTransaction {
            herald,
            tx,
            remembered: Vec::new(),
        }
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
        let HeraldTransaction {
            herald,
            tx,
            remembered,
        } = self;
        tx.commit().await.map_err(|source| ErrorKind::Store {
            context: "committing a transaction".into(),
            source,
        })?;
        for (stream, version, state) in remembered {
            herald.cache().put(&stream, version, state);
        }
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

    pub(crate) fn store_transaction(&mut self) -> &mut dyn StoreTransaction {
        &mut *self.tx
    }

    pub(crate) fn remember(&mut self, stream: &StreamKey, stepped: &Stepped) {
        if let Some(state) = &stepped.state {
            self.remembered
                .push((stream.clone(), stepped.version, state.clone()));
        }
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
fn no_sql(store: &str, wanted: &str) -> Error {
    let message = format!("this runtime's store is `{store}`, not `{wanted}`");
    ErrorKind::Store {
        context: "getting the transaction's connection".into(),
        source: StoreError::Unsupported(message),
    }
    .into()
}
