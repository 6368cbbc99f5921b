//! What the store keeps of remote consumers (futoin's registered reliable consumers): a
//! registration each, by tenant and name, with its route patterns, and a checkpoint in
//! the consumers' checkpoints (so that archiving counts it like any consumer's).

use std::time::SystemTime;

use crate::BoxFuture;
use crate::model::record::Position;
use crate::store::contract::StoreError;

/// The prefix of a remote consumer's checkpoint key: `remote:<tenant>:<name>`. A name
/// has no `:`, so the last `:` of a key splits its tenant from its name.
const PREFIX: &str = "remote:";

/// The key of the checkpoint of remote consumer `name` of `tenant` in the consumers'
/// checkpoints: `remote:<tenant>:<name>`. A handler's checkpoint is its name, and no
/// handler's name starts with `remote:` (the registry refuses it), so the two never
/// collide, nor do two tenants' consumers of one name.
///
/// ```
/// assert_eq!(herald::store::remote_checkpoint("acme", "billing"), "remote:acme:billing");
/// ```
pub fn remote_checkpoint(tenant: &str, name: &str) -> String {
    format!("{PREFIX}{tenant}:{name}")
}

/// The tenant and name of a remote consumer's checkpoint key, when `key` is one.
pub(crate) fn remote_of_checkpoint(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(PREFIX)?.rsplit_once(':')
}

/// Whether a handler's name would be taken for a remote consumer's checkpoint key.
pub(crate) fn is_reserved(handler: &str) -> bool {
    handler.starts_with(PREFIX)
}

/// A remote consumer as the store keeps it (see
/// [`RemoteConsumers`](crate::consumer::RemoteConsumers) for the runtime's view).
///
/// ```
/// use herald::store::{EventStore, MemoryStore, Position};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = MemoryStore::new();
/// let patterns = ["invoice.*".to_owned()];
/// let remote = store.remote_consumers();
/// let (billing, new) = remote.register("acme", "billing", &patterns, Position::START).await?;
/// assert!(new);
/// assert_eq!((billing.position, billing.acked_at), (Position::START, None));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteRegistration {
    /// The tenant whose events it reads.
    pub tenant: String,
    /// Its name, unique in its tenant.
    pub name: String,
    /// The route patterns it reads, as registered (empty: every route).
    pub patterns: Vec<String>,
    /// When it was registered.
    pub registered_at: SystemTime,
    /// Its checkpoint: the last position it acknowledged (where it started, before the
    /// first acknowledgement).
    pub position: Position,
    /// When it last acknowledged a position that moved its checkpoint.
    pub acked_at: Option<SystemTime>,
}

impl RemoteRegistration {
    /// A registration made now, at `position`: what a store returns for a new one.
    pub fn new(tenant: &str, name: &str, patterns: &[String], position: Position) -> Self {
        RemoteRegistration {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            patterns: patterns.to_vec(),
            registered_at: SystemTime::now(),
            position,
            acked_at: None,
        }
    }
}

/// What [`RemoteConsumerLog::acknowledge`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acknowledged {
    /// The checkpoint now.
    pub position: Position,
    /// Whether it moved: `false` when the position acknowledged was not after it (an
    /// older acknowledgement, or the same one again), which changes nothing.
    pub moved: bool,
}

impl Acknowledged {
    /// The checkpoint `position`, which `moved` there or stayed.
    pub fn new(position: Position, moved: bool) -> Self {
        Acknowledged { position, moved }
    }
}

/// The store's registrations of remote consumers, each with its checkpoint. Every call is
/// one transaction of its own. Stores that keep none say so (the default).
///
/// ```
/// use herald::store::{EventStore, MemoryStore, Position};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = MemoryStore::new();
/// let remote = store.remote_consumers();
/// remote.register("acme", "billing", &[], Position::START).await?;
/// assert_eq!(remote.registrations("acme").await?.len(), 1);
/// assert!(remote.registrations("other").await?.is_empty());
/// assert!(remote.unregister("acme", "billing").await?);
/// assert!(remote.registration("acme", "billing").await?.is_none());
/// # Ok(()) }
/// ```
pub trait RemoteConsumerLog: Send + Sync {
    /// Registers consumer `name` of `tenant` with `patterns` and its checkpoint at
    /// `start`, unless it is registered: then returns the registration as it is (and
    /// `false`), whatever its patterns. The checkpoint is written with the registration,
    /// under [`remote_checkpoint`].
    fn register<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        patterns: &'a [String],
        start: Position,
    ) -> BoxFuture<'a, Result<(RemoteRegistration, bool), StoreError>> {
        let _ = (tenant, name, patterns, start);
        unsupported()
    }

    /// The registration of consumer `name` of `tenant`, with its checkpoint.
    fn registration<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<RemoteRegistration>, StoreError>> {
        let _ = (tenant, name);
        unsupported()
    }

    /// The registrations of `tenant`, by name.
    fn registrations<'a>(
        &'a self,
        tenant: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RemoteRegistration>, StoreError>> {
        let _ = tenant;
        unsupported()
    }

    /// Moves the checkpoint of consumer `name` of `tenant` on to `position`, and
    /// records when, unless it is there or past it already. `None` when no such consumer
    /// is registered.
    fn acknowledge<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        position: Position,
    ) -> BoxFuture<'a, Result<Option<Acknowledged>, StoreError>> {
        let _ = (tenant, name, position);
        unsupported()
    }

    /// Removes the registration of consumer `name` of `tenant` and its checkpoint;
    /// whether it was registered.
    fn unregister<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let _ = (tenant, name);
        unsupported()
    }
}

fn unsupported<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(async {
        Err(StoreError::Unsupported(
            "this store keeps no remote consumers".into(),
        ))
    })
}

/// A store that keeps no remote consumers: every call says so.
pub(crate) struct NoRemoteConsumers;

impl RemoteConsumerLog for NoRemoteConsumers {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_key_splits_back_into_tenant_and_name() {
        for (tenant, name) in [("acme", "billing"), ("a:b", "c"), ("t", "x.y-z_1")] {
            let key = remote_checkpoint(tenant, name);
            assert_eq!(remote_of_checkpoint(&key), Some((tenant, name)));
        }
        assert_eq!(remote_of_checkpoint("statements"), None);
        assert_eq!(remote_of_checkpoint("herald:archive"), None);
        assert!(is_reserved("remote:x") && !is_reserved("remotes"));
    }
}
