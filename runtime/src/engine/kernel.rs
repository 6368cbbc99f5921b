//! The engine's context: what running a command needs (the registry, the store, the
//! aggregate cache, the settings, the runtime's identity), lent by the facade's
//! [`Herald`](crate::Herald), which owns one.

use std::sync::{Arc, Weak};

use uuid::Uuid;

use super::cache::AggregateCache;
use super::group::GroupCommit;
use super::handler::Recovery;
use super::queue::StreamQueues;
use super::registry::Registry;
use crate::base::retry::RetryPolicy;
use crate::store::EventStore;

/// What the engine runs on. Built once, behind an `Arc`; what outlives a call (a saga
/// settled in the background) holds it weakly.
pub(crate) struct Kernel {
    /// The store, reading through to the archive when there is one.
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) registry: Registry,
    pub(crate) cache: AggregateCache,
    pub(crate) conflict_retries: u32,
    pub(crate) max_nesting: usize,
    pub(crate) saga_retry: RetryPolicy,
    /// Where top-level commands wait for their stream's turn.
    pub(crate) streams: StreamQueues,
    /// Where top-level commands share transactions, when the store groups commits.
    pub(crate) group: Option<Arc<GroupCommit>>,
    /// This runtime, as the owner of the sagas it runs and of the leases it holds.
    pub(crate) owner: Uuid,
    /// What starting found in the saga log.
    pub(crate) recovery: Recovery,
    /// Itself, for what must hold it beyond a borrow.
    this: Weak<Kernel>,
}

/// How the engine runs commands: what the builder configured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) conflict_retries: u32,
    pub(crate) max_nesting: usize,
    pub(crate) saga_retry: RetryPolicy,
    /// How long a top-level command waits for the commands ahead of it on its stream.
    pub(crate) stream_wait: std::time::Duration,
    /// The most commands one group commit holds; `None`: each commits alone.
    pub(crate) group_commit: Option<usize>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("store", &self.store.kind())
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Kernel {
    pub(crate) fn new(
        store: Arc<dyn EventStore>,
        registry: Registry,
        cache: AggregateCache,
        settings: Settings,
        owner: Uuid,
        recovery: Recovery,
    ) -> Arc<Kernel> {
        Arc::new_cyclic(|this| Kernel {
            store,
            registry,
            cache,
            conflict_retries: settings.conflict_retries,
            max_nesting: settings.max_nesting,
            saga_retry: settings.saga_retry,
            streams: StreamQueues::new(settings.stream_wait),
            group: settings
                .group_commit
                .map(|limit| Arc::new(GroupCommit::new(limit))),
            owner,
            recovery,
            this: this.clone(),
        })
    }

    pub(crate) fn store(&self) -> &dyn EventStore {
        &*self.store
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn cache(&self) -> &AggregateCache {
        &self.cache
    }

    pub(crate) fn conflict_retries(&self) -> u32 {
        self.conflict_retries
    }

    pub(crate) fn max_nesting(&self) -> usize {
        self.max_nesting
    }

    pub(crate) fn saga_retry(&self) -> RetryPolicy {
        self.saga_retry
    }

    /// The queues of the streams this runtime's top-level commands are writing.
    pub(crate) fn streams(&self) -> &StreamQueues {
        &self.streams
    }

    /// The group commit of top-level commands, if the runtime groups them.
    pub(crate) fn group(&self) -> Option<&Arc<GroupCommit>> {
        self.group.as_ref()
    }

    pub(crate) fn owner(&self) -> Uuid {
        self.owner
    }

    /// This kernel, owned: for a task that outlives the call.
    pub(crate) fn shared(&self) -> Arc<Kernel> {
        self.this
            .upgrade()
            .expect("a kernel is borrowed from its Arc")
    }

    /// This kernel, weakly: for a task that must not keep the runtime alive.
    pub(crate) fn weak(&self) -> Weak<Kernel> {
        self.this.clone()
    }
}
