//! [`Cx`]: what a handler sees of the command it runs for.

use serde::de::DeserializeOwned;

use crate::actor::Actor;
use crate::handler::saga::Saga;
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
    pub fn sqlite(&mut self) -> Result<&mut sqlx::SqliteConnection, crate::Error> {
        self.tx.sql().into_sqlite(self.store)
    }

    /// The PostgreSQL connection of the command's transaction, or an error naming the
    /// store when it is another.
    #[cfg(feature = "postgres")]
    pub fn postgres(&mut self) -> Result<&mut sqlx::PgConnection, crate::Error> {
        self.tx.sql().into_postgres(self.store)
    }
}

impl std::fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx")
            .field("actor", &self.actor.id())
            .field("route", &self.route)
            .field("pattern", &self.pattern)
            .field("store", &self.store)
            .finish()
    }
}
