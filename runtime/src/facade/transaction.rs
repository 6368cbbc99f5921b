//! The caller's own transaction: dispatch commands in it and write your own tables in it,
//! so that the events and your rows commit together, or not at all.

use crate::engine::cache::AggregateCache;
use crate::engine::handler::saga::Saga;
use crate::facade::dispatch::{Dispatch, Target};
use crate::facade::record::Record;
use crate::facade::runtime::Herald;
use crate::model::command::Command;
use crate::model::event::Event;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::outcome::error::connection_error;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Operation, Tracer};
use crate::store::{ResultJson, Sql, StoreError, StoreTransaction};
use uuid::Uuid;

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
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let herald = herald::Herald::builder()
///     .modules(["herald_doc_fixtures"])
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
    /// `None` once it ended (committed or rolled back).
    tx: Option<Box<dyn StoreTransaction>>,
    /// The aggregates its dispatches left, for the next dispatch in it, and for the
    /// runtime's cache once it commits.
    own: AggregateCache,
    /// The saga steps its dispatches completed: done on commit, reversed otherwise.
    saga: Saga,
    /// Why it must not commit: a failed dispatch's writes could not be undone.
    poisoned: Option<String>,
    /// A command row it wrote, which says after a failed commit whether it committed.
    witness: Option<Uuid>,
}

/// The payload hash of the row a transaction that dispatched no command writes, to read
/// back if its commit reports an error. No command hashes to it.
const TRANSACTION_MARK: &[u8] = b"herald:transaction";

/// Reverses `saga`; what could not be reversed.
async fn reverse(herald: &Herald, saga: Saga) -> Vec<String> {
    if saga.is_empty() {
        return Vec::new();
    }
    let mut tracer = Tracer::new(Operation::Rollback, "transaction");
    saga.reverse(herald.store(), herald.kernel().saga_retry(), &mut tracer)
        .await
}

impl HeraldTransaction {
    pub(crate) fn new(herald: Herald, tx: Box<dyn StoreTransaction>) -> Self {
        let own = AggregateCache::new(herald.cache().capacity());
        HeraldTransaction {
            herald,
            tx: Some(tx),
            own,
            saga: Saga::default(),
            poisoned: None,
            witness: None,
        }
    }

    /// Dispatches `command` in this transaction; configure and `.await` it as
    /// [`Herald::dispatch`].
    pub fn dispatch<C: Command>(&mut self, command: C) -> Dispatch<'_, C> {
        Dispatch::new(Target::Transaction(self), command)
    }

    /// Records `event` in this transaction, without an aggregate (see
    /// [`Herald::record`]); it commits with the transaction, or not at all.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let mut tx = herald.begin().await?;
    /// tx.record(NoteAdded { note_id: 2, text: "in a transaction".into() }).await?;
    /// tx.dispatch(OpenAccount { account_id: 2 }).await?;
    /// tx.commit().await?; // the note and the account, together
    /// # Ok(()) }
    /// ```
    pub fn record<E: Event>(&mut self, event: E) -> Record<'_, E> {
        Record::new(Target::Transaction(self), event)
    }

    /// The database connection, for your own tables.
    pub fn sql(&mut self) -> Sql<'_> {
        self.store_transaction().sql()
    }

    /// The SQLite connection, or an error naming the store when it is another.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&mut self) -> Result<&mut sqlx::SqliteConnection, Error> {
        let kind = self.herald.store().kind();
        self.store_transaction()
            .sql()
            .into_sqlite(kind)
            .map_err(connection_error)
    }

    /// The PostgreSQL connection, or an error naming the store when it is another.
    #[cfg(feature = "postgres")]
    pub fn postgres(&mut self) -> Result<&mut sqlx::PgConnection, Error> {
        let kind = self.herald.store().kind();
        self.store_transaction()
            .sql()
            .into_postgres(kind)
            .map_err(connection_error)
    }

    /// Commits the events and your writes together. The saga steps of its dispatches
    /// are done; if the commit fails, they are reversed, last first.
    ///
    /// A commit can report an error although the database committed (the connection
    /// dropped after the commit record was written): the transaction then reads back a
    /// row it wrote (a command it dispatched, or a row of its own when it dispatched
    /// none) and returns `Ok` if it is there. When that read fails too, the error is
    /// [`ErrorKind::CommitUnknown`] and the saga steps are settled once the store
    /// answers.
    pub async fn commit(mut self) -> Result<(), Error> {
        let mut saga = std::mem::take(&mut self.saga);
        let mut tx = self.tx.take().expect("a transaction ends once");
        let herald = self.herald.clone();
        let fail = |source| {
            Error::from(ErrorKind::Store {
                context: "committing a transaction".into(),
                source,
            })
        };
        if let Some(why) = self.poisoned.take() {
            let _ = tx.rollback().await;
            let unreversed = reverse(&herald, saga).await;
            let error = StoreError::Unsupported(format!("it was rolled back instead: {why}"));
            return Err(fail(error).with_unreversed(unreversed));
        }
        let witness = match self.witness {
            Some(id) => id,
            None => {
                // Nothing it dispatched wrote a command row: a row of its own tells.
                let id = Uuid::now_v7();
                let mark = serde_json::json!({ "transaction": id }).to_string();
                let marked = tx
                    .finish_command(id, TRANSACTION_MARK, ResultJson::written(&mark))
                    .await;
                if let Err(source) = marked {
                    let _ = tx.rollback().await;
                    let unreversed = reverse(&herald, saga).await;
                    return Err(fail(source).with_unreversed(unreversed));
                }
                id
            }
        };
        if let Err(source) = tx.commit().await {
            let context = || "committing a transaction".to_owned();
            let mut tracer = Tracer::new(Operation::Rollback, "transaction");
            saga = saga
                .after_failed_commit(herald.kernel(), witness, source, context, fail, &mut tracer)
                .await?;
        }
        saga.settle_done(herald.store()).await;
        let own = std::mem::replace(&mut self.own, AggregateCache::new(0));
        own.move_into(herald.cache());
        Ok(())
    }

    /// Undoes everything done in the transaction, and reverses the saga steps of its
    /// dispatches, last first.
    pub async fn rollback(mut self) -> Result<(), Error> {
        let saga = std::mem::take(&mut self.saga);
        let tx = self.tx.take().expect("a transaction ends once");
        let context = "rolling back a transaction".into();
        let rolled_back = tx
            .rollback()
            .await
            .map_err(|source| Error::from(ErrorKind::Store { context, source }));
        let unreversed = reverse(&self.herald, saga).await;
        match (rolled_back, unreversed.is_empty()) {
            (Err(error), _) => Err(error.with_unreversed(unreversed)),
            (Ok(()), true) => Ok(()),
            (Ok(()), false) => Err(ErrorKind::Unreversed { steps: unreversed }.into()),
        }
    }

    /// A dispatch in it wrote command `id`'s row: the row that says whether it committed.
    pub(crate) fn finished(&mut self, id: Uuid) {
        self.witness.get_or_insert(id);
    }

    pub(crate) fn poison(&mut self, why: String) {
        self.poisoned.get_or_insert(why);
    }

    /// What the engine runs on, owned (a dispatch in the transaction borrows it while the
    /// transaction lends its parts).
    pub(crate) fn kernel(&self) -> std::sync::Arc<crate::engine::kernel::Kernel> {
        self.herald.kernel().shared()
    }

    fn store_transaction(&mut self) -> &mut dyn StoreTransaction {
        self.tx
            .as_deref_mut()
            .expect("a transaction is used until it ends")
    }

    /// The store's transaction, the aggregates its dispatches left and their saga.
    pub(crate) fn parts(&mut self) -> (&mut dyn StoreTransaction, &AggregateCache, &mut Saga) {
        let tx = self
            .tx
            .as_deref_mut()
            .expect("a transaction is used until it ends");
        (tx, &self.own, &mut self.saga)
    }
}

/// Dropped without a commit: the transaction rolls back, and its saga steps are reversed
/// in the background (or, without a Tokio runtime, when the next runtime starts).
impl Drop for HeraldTransaction {
    fn drop(&mut self) {
        let saga = std::mem::take(&mut self.saga);
        if saga.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let herald = self.herald.clone();
        handle.spawn(async move {
            let mut tracer = Tracer::new(Operation::Rollback, "transaction");
            let unreversed = saga
                .reverse(herald.store(), herald.kernel().saga_retry(), &mut tracer)
                .await;
            for problem in unreversed {
                tracing::error!("{problem}");
            }
        });
    }
}

impl std::fmt::Debug for HeraldTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeraldTransaction")
            .field("store", &self.herald.store().kind())
            .finish_non_exhaustive()
    }
}
