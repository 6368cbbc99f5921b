//! One hub per runtime: a task follows the store's commits, reads the global order after
//! its position once per wake-up (not once per subscriber), writes each event's JSON once
//! and hands it to every subscription through a bounded buffer. A subscription that falls
//! behind the buffer reads what it missed from the store (see `socket.rs`).

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::protocol;
use crate::facade::runtime::Herald;
use crate::store::{EventStore, Position, RecordedEvent};

/// An event as every subscription receives it from the hub: what they filter on, and
/// its part of their frames, written once.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) position: Position,
    pub(crate) tenant: String,
    pub(crate) route: String,
    pub(crate) name: String,
    /// `"position":…,"route":…,…}`: the frame after its head.
    pub(crate) body: String,
}

impl Shared {
    pub(crate) fn of(event: &RecordedEvent) -> Self {
        Shared {
            position: event.position,
            tenant: event.stream.tenant().to_owned(),
            route: event.route.as_str().to_owned(),
            name: event.name.clone(),
            body: protocol::event_body(event),
        }
    }
}

/// The runtime's channel hub.
pub(crate) struct ChannelHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    sender: broadcast::Sender<Arc<Shared>>,
    /// Whether the task that follows the commits runs.
    started: Mutex<bool>,
    /// How many times a server of the runtime shut down: every socket open then closes
    /// (one opened later, by a server started again, does not).
    closing: watch::Sender<u64>,
    /// How many sockets are open.
    open: watch::Sender<usize>,
}

/// A socket's place among the hub's open ones; it leaves when dropped.
pub(crate) struct Open(Arc<Inner>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.send_modify(|open| *open -= 1);
        crate::telemetry::metrics::channel_subscribers(-1);
    }
}

/// How many events a read of the global order takes at most.
const READ: usize = 500;

impl ChannelHub {
    /// The hub of `herald`, made with a buffer of `buffer` events the first time.
    pub(crate) fn of(herald: &Herald, buffer: usize) -> Arc<ChannelHub> {
        herald.door(|| {
            let (sender, _) = broadcast::channel(buffer.max(1));
            ChannelHub {
                inner: Arc::new(Inner {
                    store: herald.shared_store(),
                    sender,
                    started: Mutex::new(false),
                    closing: watch::channel(0).0,
                    open: watch::channel(0).0,
                }),
            }
        })
    }

    /// A receiver of the events the hub hands out from now on, starting its task if it
    /// is not running.
    pub(crate) async fn subscribe(
        &self,
    ) -> Result<broadcast::Receiver<Arc<Shared>>, crate::store::StoreError> {
        let receiver = self.inner.sender.subscribe();
        let started = *self
            .inner
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !started {
            let head = self.inner.store.consumers().head().await?;
            let mut started = self
                .inner
                .started
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !*started {
                *started = true;
                tokio::spawn(follow(Arc::downgrade(&self.inner), head));
            }
        }
        Ok(receiver)
    }

    /// A socket opens; it counts as open while the guard lives.
    pub(crate) fn open(&self) -> (Open, watch::Receiver<u64>) {
        self.inner.open.send_modify(|open| *open += 1);
        crate::telemetry::metrics::channel_subscribers(1);
        (Open(self.inner.clone()), self.inner.closing.subscribe())
    }

    /// Asks every socket to close (with 1001 and where each subscription stopped) and
    /// waits for them, at most `grace`.
    pub(crate) async fn close_all(&self, grace: Duration) {
        self.inner.closing.send_modify(|shutdowns| *shutdowns += 1);
        let mut open = self.inner.open.subscribe();
        let closed = open.wait_for(|open| *open == 0);
        if tokio::time::timeout(grace, closed).await.is_err() {
            tracing::warn!(
                ?grace,
                "channel sockets were still open when the grace period ended"
            );
        }
    }
}

/// Reads the global order after `at` on every commit and hands each event to the
/// subscriptions, for as long as the hub lives.
async fn follow(hub: Weak<Inner>, mut at: Position) {
    let mut commits = match hub.upgrade() {
        Some(hub) => hub.store.consumers().commits(),
        None => return,
    };
    loop {
        let Some(inner) = hub.upgrade() else {
            return;
        };
        if inner.sender.receiver_count() == 0 {
            // Nobody listens: no need to read what nobody would get. A subscription
            // reads from the store up to the live point anyway, so the hub may jump.
            match inner.store.consumers().head().await {
                Ok(head) => at = at.max(head),
                Err(error) => tracing::warn!(%error, "the channel hub could not read the head"),
            }
        } else {
            match inner.store.read_all(at, READ).await {
                Ok(events) => {
                    let full = events.len() == READ;
                    for event in &events {
                        at = event.position;
                        // No subscriber right now is fine: they read the store.
                        let _ = inner.sender.send(Arc::new(Shared::of(event)));
                    }
                    if full {
                        continue; // more to read before waiting
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the channel hub could not read; trying again")
                }
            }
        }
        drop(inner);
        // A missed notice costs a second at most.
        let _ = tokio::time::timeout(Duration::from_secs(1), commits.changed()).await;
    }
}
