//! One hub per runtime: a task follows the store's commits, reads the global order after
//! its position once per wake-up (not once per subscriber), writes each event's JSON once
//! and hands every live subscription its frame, straight into the subscription's
//! connection queue: one wake-up per connection and event, none per subscription. It keeps
//! the last events it read: a subscription whose queue is full leaves the live stream and
//! catches up from them (from the store, for those no longer kept; see `follow.rs`), so a
//! slow client never holds up the others, and many that fall behind at once do not each
//! read the store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};

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

/// What a connection's queue carries: frames of its subscriptions, and their ends.
pub(crate) enum Out {
    /// A frame of subscription `key`; `position` is that of the event it carries.
    Frame {
        key: u64,
        position: Option<Position>,
        text: String,
    },
    /// Subscription `key` ended on its own (refused, or the store failed it).
    Gone { key: u64 },
}

/// A subscription as the hub sees it.
pub(crate) trait Subscriber: Send + Sync {
    /// Whether it takes `event` (its tenant, its channel's event type, its pattern).
    fn takes(&self, event: &Shared) -> bool;
    /// Its frame of `event`.
    fn frame(&self, event: &Shared) -> Out;
    /// Its connection's queue.
    fn queue(&self) -> &mpsc::Sender<Out>;
    /// Whether it ended (unsubscribed, or its connection closed).
    fn ended(&self) -> bool;
    /// It left the live stream after the event at `at`: read on from the store.
    fn resume(self: Arc<Self>, at: Position);
}

/// A subscription the hub hands events to, from before it first reads the store until
/// it ends.
struct Listener {
    id: u64,
    subscriber: Arc<dyn Subscriber>,
    /// The last event it has (live) or that it read (catching up).
    at: Position,
    /// It catches up (from the recent events, or the store before them) and takes
    /// nothing live until it asks to go live again.
    reading: bool,
}

/// The subscriptions, and the recent events they catch up from, under one lock.
struct Live {
    listeners: Vec<Listener>,
    /// The last events the hub read, oldest first: every event of the global order
    /// after `floor`, up to the hub's position.
    recent: VecDeque<Arc<Shared>>,
    floor: Position,
    /// How many recent events the hub keeps.
    keep: usize,
    next_id: u64,
}

impl Live {
    /// Keeps `event` among the recent ones and hands it to every live subscription that
    /// takes it, into its connection's queue. One whose queue is full catches up from
    /// the recent events (so the hub never waits for it); one that ended leaves.
    fn hand_out(&mut self, event: &Arc<Shared>) {
        self.recent.push_back(event.clone());
        if self.recent.len() > self.keep
            && let Some(oldest) = self.recent.pop_front()
        {
            self.floor = oldest.position;
        }
        self.listeners.retain_mut(|listener| {
            let subscriber = &listener.subscriber;
            if subscriber.ended() {
                return false;
            }
            if listener.reading || event.position <= listener.at || !subscriber.takes(event) {
                return true;
            }
            match subscriber.queue().try_send(subscriber.frame(event)) {
                Ok(()) => {
                    listener.at = event.position;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    listener.reading = true;
                    subscriber.clone().resume(listener.at);
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }

    /// The recent events after `after`, at most `limit`; `None` when some after it are
    /// no longer kept (the store has them).
    fn recent_after(&self, after: Position, limit: usize) -> Option<Vec<Arc<Shared>>> {
        if after < self.floor {
            return None;
        }
        let from = self.recent.partition_point(|e| e.position <= after);
        Some(self.recent.range(from..).take(limit).cloned().collect())
    }
}

/// The runtime's channel hub.
pub(crate) struct ChannelHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    /// The store's commit signal, watched from when the hub was made.
    commits: watch::Receiver<u64>,
    live: Mutex<Live>,
    /// Whether the task that follows the commits runs.
    started: Mutex<bool>,
    /// How many times a server of the runtime shut down: every socket open then closes
    /// (one opened later, by a server started again, does not).
    closing: watch::Sender<u64>,
    /// How many sockets are open.
    open: watch::Sender<usize>,
}

impl Inner {
    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
    /// The hub of `herald`, made the first time keeping the last `buffer` events for
    /// the subscriptions that catch up. The first call starts the store's commit signal
    /// on the calling runtime, if it does not run: make it on the application's.
    pub(crate) fn of(herald: &Herald, buffer: usize) -> Arc<ChannelHub> {
        herald.door(|| ChannelHub {
            inner: Arc::new(Inner {
                store: herald.shared_store(),
                commits: herald.shared_store().consumers().commits(),
                live: Mutex::new(Live {
                    listeners: Vec::new(),
                    recent: VecDeque::new(),
                    floor: Position::START,
                    keep: buffer.max(1),
                    next_id: 0,
                }),
                started: Mutex::new(false),
                closing: watch::channel(0).0,
                open: watch::channel(0).0,
            }),
        })
    }

    /// Starts the task that follows the commits, if it does not run. A subscription
    /// calls this before it reads the store, so that the hub hands out every event
    /// after what it reads.
    pub(crate) async fn start(&self) -> Result<(), crate::store::StoreError> {
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
                // It keeps what it reads after the head, and nothing before.
                self.inner.live().floor = head;
                tokio::spawn(follow(Arc::downgrade(&self.inner), head));
            }
        }
        Ok(())
    }

    /// `subscriber` listens from now on, catching up: call it after
    /// [`ChannelHub::start`] and before reading the store, then [`ChannelHub::live`]
    /// once it read up to the live point. Returns its id for the hub.
    pub(crate) fn listen(&self, subscriber: Arc<dyn Subscriber>) -> u64 {
        let mut live = self.inner.live();
        let id = live.next_id;
        live.next_id += 1;
        live.listeners.push(Listener {
            id,
            subscriber,
            at: Position::START,
            reading: true,
        });
        id
    }

    /// Listener `id` ended.
    pub(crate) fn leave(&self, id: u64) {
        self.inner.live().listeners.retain(|l| l.id != id);
    }

    /// The recent events after `after` (at most `limit`), for a subscription that
    /// catches up; `None` when the hub no longer keeps some after it: read the store.
    pub(crate) fn recent_after(&self, after: Position, limit: usize) -> Option<Vec<Arc<Shared>>> {
        self.inner.live().recent_after(after, limit)
    }

    /// Listener `id` caught up to `at`: the recent events after `at` that it takes go
    /// to its queue, and from now on every event it takes. `Err` with the position to
    /// catch up from when its queue filled meanwhile, or the hub no longer keeps some
    /// of the events after `at`.
    pub(crate) fn live(&self, id: u64, at: Position) -> Result<(), Position> {
        let mut live = self.inner.live();
        let floor = live.floor;
        let Some(index) = live.listeners.iter().position(|l| l.id == id) else {
            return Ok(()); // it ended
        };
        let Live {
            listeners, recent, ..
        } = &mut *live;
        let listener = &mut listeners[index];
        listener.at = listener.at.max(at);
        if listener.at < floor {
            return Err(listener.at);
        }
        let subscriber = listener.subscriber.clone();
        let from = recent.partition_point(|e| e.position <= listener.at);
        for event in recent.range(from..) {
            if !subscriber.takes(event) {
                continue;
            }
            match subscriber.queue().try_send(subscriber.frame(event)) {
                Ok(()) => listener.at = event.position,
                Err(TrySendError::Full(_)) => return Err(listener.at),
                Err(TrySendError::Closed(_)) => return Ok(()), // its socket is gone
            }
        }
        listener.reading = false;
        Ok(())
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

/// Reads the global order after `at` on every commit and hands each event to the live
/// subscriptions, for as long as the hub lives.
async fn follow(hub: Weak<Inner>, mut at: Position) {
    let mut commits = match hub.upgrade() {
        Some(hub) => hub.commits.clone(),
        None => return,
    };
    loop {
        let Some(inner) = hub.upgrade() else {
            return;
        };
        let nobody = inner.live().listeners.is_empty();
        if nobody {
            // Nobody listens: no need to read what nobody would get. A subscription
            // reads from the store up to the live point anyway, so the hub may skip.
            match inner.store.consumers().head().await {
                Ok(head) => {
                    // Under the lock: one that listens from now on reads the head after.
                    let mut live = inner.live();
                    if live.listeners.is_empty() && head > at {
                        at = head;
                        // What it keeps follows on from what it skipped no longer.
                        live.recent.clear();
                        live.floor = at;
                    }
                }
                Err(error) => tracing::warn!(%error, "the channel hub could not read the head"),
            }
        } else {
            match inner.store.read_all(at, READ).await {
                Ok(events) => {
                    let full = events.len() == READ;
                    let shared: Vec<_> = events.iter().map(|e| Arc::new(Shared::of(e))).collect();
                    let mut live = inner.live();
                    for event in &shared {
                        at = event.position;
                        live.hand_out(event);
                    }
                    drop(live);
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
