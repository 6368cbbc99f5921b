//! One hub per runtime: a task follows the store's commits, reads the global order after
//! its position once per wake-up (not once per subscriber), writes each event's JSON once
//! and hands every live subscription its frame, straight into the subscription's
//! connection queue: one wake-up per connection and event, none per subscription. A
//! subscription whose queue is full leaves the live stream and reads what it missed from
//! the store (see `follow.rs`), so a slow client never holds up the others.

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
    /// The last event it has (live) or that it read from the store (reading).
    at: Position,
    /// While it reads the store: the events the hub had for it meanwhile, which go out
    /// once it has read up to the live point.
    reading: Option<Kept>,
}

/// What the hub keeps for a subscription that reads the store.
#[derive(Default)]
struct Kept {
    events: Vec<Arc<Shared>>,
    /// It missed events up to this one, over the limit: the store has them.
    dropped: Option<Position>,
}

/// The subscriptions, under one lock.
struct Live {
    listeners: Vec<Listener>,
    /// How many events the hub keeps for each subscription that reads the store.
    keep: usize,
    next_id: u64,
}

impl Live {
    /// Hands `event` to every subscription that takes it: into its connection's queue,
    /// or kept while it reads the store. One whose queue is full reads on from the store
    /// (the hub keeping its events meanwhile); one that ended leaves.
    fn hand_out(&mut self, event: &Arc<Shared>) {
        let keep = self.keep;
        self.listeners.retain_mut(|listener| {
            let subscriber = &listener.subscriber;
            if subscriber.ended() {
                return false;
            }
            if event.position <= listener.at || !subscriber.takes(event) {
                return true;
            }
            if let Some(kept) = &mut listener.reading {
                if kept.events.len() < keep {
                    kept.events.push(event.clone());
                } else {
                    kept.events.clear();
                    kept.dropped = Some(event.position);
                }
                return true;
            }
            match subscriber.queue().try_send(subscriber.frame(event)) {
                Ok(()) => {
                    listener.at = event.position;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    listener.reading = Some(Kept {
                        events: vec![event.clone()],
                        dropped: None,
                    });
                    subscriber.clone().resume(listener.at);
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }
}

/// The runtime's channel hub.
pub(crate) struct ChannelHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
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
    /// The hub of `herald`, made the first time keeping at most `buffer` events for each
    /// subscription that reads the store.
    pub(crate) fn of(herald: &Herald, buffer: usize) -> Arc<ChannelHub> {
        herald.door(|| ChannelHub {
            inner: Arc::new(Inner {
                store: herald.shared_store(),
                live: Mutex::new(Live {
                    listeners: Vec::new(),
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
                tokio::spawn(follow(Arc::downgrade(&self.inner), head));
            }
        }
        Ok(())
    }

    /// `subscriber` listens from now on: the hub keeps the events it takes until it
    /// has read the store ([`ChannelHub::live`]). Call it after [`ChannelHub::start`]
    /// and before reading the store. Returns its id for the hub.
    pub(crate) fn listen(&self, subscriber: Arc<dyn Subscriber>) -> u64 {
        let mut live = self.inner.live();
        let id = live.next_id;
        live.next_id += 1;
        live.listeners.push(Listener {
            id,
            subscriber,
            at: Position::START,
            reading: Some(Kept::default()),
        });
        id
    }

    /// Listener `id` ended.
    pub(crate) fn leave(&self, id: u64) {
        self.inner.live().listeners.retain(|l| l.id != id);
    }

    /// Listener `id` read the store up to `at`: what the hub kept for it after `at`
    /// goes to its queue, and from now on every event it takes. `Err` with the position
    /// to read on from when the hub dropped some of what it kept (the store has them)
    /// or its queue filled meanwhile.
    pub(crate) fn live(&self, id: u64, at: Position) -> Result<(), Position> {
        let mut live = self.inner.live();
        let Some(listener) = live.listeners.iter_mut().find(|l| l.id == id) else {
            return Ok(()); // it ended
        };
        let subscriber = listener.subscriber.clone();
        listener.at = listener.at.max(at);
        let Some(kept) = listener.reading.as_mut() else {
            return Ok(());
        };
        if kept
            .dropped
            .take()
            .is_some_and(|dropped| dropped > listener.at)
        {
            kept.events.clear();
            return Err(listener.at);
        }
        let mut events = std::mem::take(&mut kept.events).into_iter();
        for event in events.by_ref() {
            if event.position <= listener.at {
                continue; // it read this one from the store
            }
            match subscriber.queue().try_send(subscriber.frame(&event)) {
                Ok(()) => listener.at = event.position,
                Err(TrySendError::Full(_)) => {
                    let rest = std::iter::once(event).chain(events).collect();
                    listener.reading = Some(Kept {
                        events: rest,
                        dropped: None,
                    });
                    return Err(listener.at);
                }
                Err(TrySendError::Closed(_)) => return Ok(()), // its socket is gone
            }
        }
        listener.reading = None;
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
        Some(hub) => hub.store.consumers().commits(),
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
                    if inner.live().listeners.is_empty() {
                        at = at.max(head);
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
