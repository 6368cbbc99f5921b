//! What the consumers run on: the engine's kernel and the consumers' own parts (their
//! workers, the live tail, their settings, the archive). The facade's
//! [`Herald`](crate::Herald) owns one and lends it.

use std::sync::{Arc, OnceLock, Weak};

use super::{ConsumerSettings, Consumers, Tail, Workers};
use crate::base::retry::RetryPolicy;
use crate::engine::kernel::Kernel;
use crate::engine::registry::Registry;
use crate::store::{Archive, EventStore};
use uuid::Uuid;

/// The kernel and the consumers' parts of a running runtime.
pub(crate) struct Hub {
    kernel: Arc<Kernel>,
    /// The workers of its eventual consumers (set once, right after it is built).
    workers: OnceLock<Workers>,
    /// The tail of the global order its live subscribers share.
    tail: Tail,
    settings: ConsumerSettings,
    /// Where events every consumer has passed move to, read through by the kernel's store.
    archive: Option<Archive>,
    /// The store itself, without reading through to the archive: what archiving copies.
    active: Arc<dyn EventStore>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("kernel", &self.kernel)
            .finish_non_exhaustive()
    }
}

/// A [`Hub`] that does not keep the runtime alive: what its background tasks hold.
pub(crate) type WeakHub = Weak<Hub>;

impl Hub {
    /// A hub whose workers have not started yet (see [`start`](Self::start)).
    pub(crate) fn new(
        kernel: Arc<Kernel>,
        settings: ConsumerSettings,
        archive: Option<Archive>,
        active: Arc<dyn EventStore>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            kernel,
            workers: OnceLock::new(),
            tail: Tail::default(),
            settings,
            archive,
            active,
        })
    }

    /// Starts a worker for each eventual consumer (unless the settings say not to).
    pub(crate) fn start(self: &Arc<Self>) {
        let _ = self.workers.set(Workers::start(self));
    }

    pub(crate) fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub(crate) fn store(&self) -> &dyn EventStore {
        self.kernel.store()
    }

    pub(crate) fn shared_store(&self) -> Arc<dyn EventStore> {
        self.kernel.store.clone()
    }

    /// The store without reading through to the archive.
    pub(crate) fn active_store(&self) -> &dyn EventStore {
        &*self.active
    }

    /// The store without the archive, shared (for reading it through another archive).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn active_shared(&self) -> Arc<dyn EventStore> {
        self.active.clone()
    }

    pub(crate) fn archive(&self) -> Option<&Archive> {
        self.archive.as_ref()
    }

    pub(crate) fn registry(&self) -> &Registry {
        self.kernel.registry()
    }

    pub(crate) fn owner(&self) -> Uuid {
        self.kernel.owner()
    }

    pub(crate) fn saga_retry(&self) -> RetryPolicy {
        self.kernel.saga_retry()
    }

    pub(crate) fn consumer_settings(&self) -> ConsumerSettings {
        self.settings
    }

    pub(crate) fn tail(&self) -> &Tail {
        &self.tail
    }

    pub(crate) fn workers(&self) -> &Workers {
        self.workers.get_or_init(Workers::default)
    }

    pub(crate) fn consumers(&self) -> Consumers<'_> {
        Consumers::new(self)
    }

    /// The hub, weakly: what its background tasks hold.
    pub(crate) fn downgrade(self: &Arc<Self>) -> WeakHub {
        Arc::downgrade(self)
    }
}
