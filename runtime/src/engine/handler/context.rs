//! [`Cx`]: what a handler sees of the command it runs for.

use serde::de::DeserializeOwned;

use crate::base::actor::Actor;
use crate::engine::handler::saga::Saga;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::outcome::error::{Error, connection_error};
use crate::route::{Pattern, Route};
use crate::store::{Sql, StoreTransaction};

/// What a hook or projector sees while it runs: the actor, the concrete route it was
/// matched on and its pattern's parameters, and the command's transaction, to read and
/// write your own tables in it (they commit with the events, or not at all).
///
/// ```
/// use herald::prelude::*;
/// # #[command("rename.user.:user_id")] struct RenameUser { user_id: u64, name: String }
///
/// #[hook(before, "rename.:what.:id")]
/// async fn trim(cmd: &mut RenameUser, cx: &mut Cx<'_>) {
///     assert_eq!(cx.param("what"), Some("user"));
///     cmd.name = cmd.name.trim().to_owned();
/// }
/// ```
pub struct Cx<'a> {
    tx: &'a mut dyn StoreTransaction,
    /// The saga so far, for the after hooks.
    saga: Option<&'a Saga>,
    actor: &'a Actor,
    route: &'a Route,
    pattern: &'a Pattern,
    store: &'static str,
    /// While an eventual projector is rebuilt: its declared tables, filled aside.
    rebuilding: &'static [&'static str],
}

/// What the copy of a table filled by a rebuild is called, until it replaces the table.
pub(crate) fn rebuild_table(table: &str) -> String {
    format!("{table}__rebuild")
}

impl<'a> Cx<'a> {
    pub(crate) fn new(
        tx: &'a mut dyn StoreTransaction,
        actor: &'a Actor,
        route: &'a Route,
        pattern: &'a Pattern,
        store: &'static str,
    ) -> Self {
        Cx {
            tx,
            saga: None,
            actor,
            route,
            pattern,
            store,
            rebuilding: &[],
        }
    }

    /// Writing a rebuild: `tables` are filled aside.
    pub(crate) fn rebuilding(mut self, tables: &'static [&'static str]) -> Self {
        self.rebuilding = tables;
        self
    }

    /// The name to write table `name` under: `name` itself, except while the eventual
    /// projector that declares it (`tables = ["name"]`) is being rebuilt
    /// ([`Consumers::rebuild`](crate::Consumers::rebuild)), when it is the copy being
    /// filled aside, which then replaces the table at once.
    ///
    /// ```
    /// use herald::prelude::*;
    /// # #[event("user.:user_id.created")] struct UserCreated { user_id: u64, email: String }
    ///
    /// #[projector("user.:user_id.created", consistency = eventual, tables = ["emails"])]
    /// async fn emails(e: &Recorded<UserCreated>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    ///     let insert = format!("INSERT INTO {} (email) VALUES ($1)", cx.table("emails"));
    ///     herald::sqlx::query(herald::sqlx::AssertSqlSafe(insert))
    ///         .bind(&e.email)
    ///         .execute(cx.sqlite()?)
    ///         .await?;
    ///     Ok(())
    /// }
    /// ```
    pub fn table<'n>(&self, name: &'n str) -> std::borrow::Cow<'n, str> {
        match self.rebuilding.contains(&name) {
            true => rebuild_table(name).into(),
            false => name.into(),
        }
    }

    /// With the saga so far, for after hooks.
    pub(crate) fn with_saga(mut self, saga: &'a Saga) -> Self {
        self.saga = Some(saga);
        self
    }

    /// What saga step `step` returned in this dispatch (to an after hook or a handler
    /// that runs after the saga), decoded as `T`; `None` when it did not run.
    pub fn saga_output<T: DeserializeOwned>(
        &self,
        step: &str,
    ) -> Option<Result<T, serde_json::Error>> {
        self.saga?.output(step)
    }

    /// Who sent the command.
    pub fn actor(&self) -> &Actor {
        self.actor
    }

    /// The concrete route the handler was matched on: the command's for a hook, the
    /// event's for a projector.
    pub fn route(&self) -> &Route {
        self.route
    }

    /// What the handler's pattern captured as `:name` or `:name?` (`None` when absent).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.pattern.captures(self.route.as_str())?.get(name)
    }

    /// The command's database connection, for your own tables (`Sql::None` on the
    /// in-memory store).
    pub fn sql(&mut self) -> Sql<'_> {
        self.tx.sql()
    }

    /// The SQLite connection of the command's transaction, or an error naming the store
    /// when it is another.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&mut self) -> Result<&mut sqlx::SqliteConnection, Error> {
        self.tx
            .sql()
            .into_sqlite(self.store)
            .map_err(connection_error)
    }

    /// The PostgreSQL connection of the command's transaction, or an error naming the
    /// store when it is another.
    #[cfg(feature = "postgres")]
    pub fn postgres(&mut self) -> Result<&mut sqlx::PgConnection, Error> {
        self.tx
            .sql()
            .into_postgres(self.store)
            .map_err(connection_error)
    }
}

impl std::fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx")
            .field("actor", &self.actor.id())
            .field("route", &self.route)
            .field("pattern", &self.pattern)
            .field("store", &self.store)
            .field("rebuilding", &!self.rebuilding.is_empty())
            .finish()
    }
}
