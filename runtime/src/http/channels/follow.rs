//! One subscription: it authorizes the join, reads the store from where the client asked
//! (or from the head), then joins the hub's live stream. Whenever it falls behind (its
//! connection's queue was full when the hub had an event for it) it reads on from the
//! store and joins again: never missing or repeating an event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{Semaphore, mpsc};

use super::hub::{ChannelHub, Out, Shared, Subscriber};
use super::protocol::{self, Id, Refused};
use crate::engine::handler::{ChannelRow, Join};
use crate::facade::runtime::Herald;
use crate::http::wire;
use crate::route::Pattern;
use crate::store::Position;

/// How many events a catch-up reads from the store at once. A page waits in memory while
/// its frames go out, so it is small, and a connection reads one page at a time.
const PAGE: usize = 100;

/// One subscription of a connection.
pub(super) struct Follow {
    pub(super) herald: Herald,
    pub(super) hub: Arc<ChannelHub>,
    pub(super) row: &'static ChannelRow,
    pub(super) key: u64,
    pub(super) id: Id,
    /// Its frames' head.
    pub(super) head: String,
    pub(super) pattern: Pattern,
    /// The subscriber's tenant: the only one whose events it hears.
    pub(super) tenant: String,
    pub(super) tx: mpsc::Sender<Out>,
    /// Held by the subscription reading a page from the store: one page of the
    /// connection in memory at a time, however many subscriptions catch up.
    pub(super) reading: Arc<Semaphore>,
    /// Set when it is unsubscribed, its connection ends or it ends on its own.
    pub(super) ended: AtomicBool,
    /// Its id for the hub, once it listens.
    pub(super) listener: OnceLock<u64>,
}

impl Follow {
    /// Ends it: it leaves the hub (which holds it, and it the runtime) and a catch-up
    /// under way stops.
    pub(super) fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        if let Some(&id) = self.listener.get() {
            self.hub.leave(id);
        }
    }

    /// Authorizes `join`, confirms, reads the store after `after` (or from the head) and
    /// joins the live stream.
    pub(super) async fn run(self: Arc<Self>, join: Join, after: Option<Position>) {
        if self.start(join, after).await.is_none() {
            let _ = self.tx.send(Out::Gone { key: self.key }).await;
        }
    }

    /// `None` when it ended on its own (the socket's end simply drops it).
    async fn start(self: &Arc<Self>, join: Join, after: Option<Position>) -> Option<()> {
        let decision = match self.herald.reader().await {
            Ok(mut reader) => (self.row.authorize)(&join, &mut reader).await,
            Err(error) => {
                tracing::warn!(%error, channel = self.row.name, "no reader to decide a join with");
                return self
                    .refuse(
                        "unavailable",
                        "the server cannot decide this join now; try again",
                    )
                    .await;
            }
        };
        if let Err(forbidden) = decision {
            return self.refuse("forbidden", forbidden.reason()).await;
        }
        // It listens before the store is read: the hub keeps every event after what the
        // read finds.
        if let Err(error) = self.hub.start().await {
            tracing::warn!(%error, "the channel hub could not start");
            return self.cannot_read().await;
        }
        let subscriber: Arc<dyn Subscriber> = self.clone();
        let id = self.hub.listen(subscriber);
        let _ = self.listener.set(id);
        if self.ended() {
            self.hub.leave(id); // ended while it started: `end` found no id to leave with
            return None;
        }
        let start = match after {
            Some(after) => after,
            None => match self.herald.store().consumers().head().await {
                Ok(head) => head,
                Err(error) => {
                    tracing::warn!(%error, "could not read the head of the global order");
                    return self.cannot_read().await;
                }
            },
        };
        self.send(Some(start), protocol::subscribed(&self.id, start))
            .await?;
        self.follow_from(start).await
    }

    /// Reads the store after `at` and goes live, as often as the hub finds it behind.
    async fn follow_from(self: &Arc<Self>, mut at: Position) -> Option<()> {
        loop {
            self.catch_up(&mut at).await?;
            let Some(&id) = self.listener.get() else {
                return None; // never: it listens before it reads
            };
            match self.hub.live(id, at) {
                Ok(()) => return Some(()),
                Err(behind) => at = behind,
            }
        }
    }

    /// Sends every matching event of the store after `at`, moving `at` past every event
    /// looked at, until the store has nothing more.
    async fn catch_up(&self, at: &mut Position) -> Option<()> {
        let patterns = [self.pattern.as_str()];
        loop {
            let Ok(_reading) = self.reading.acquire().await else {
                return None; // never closed
            };
            if self.ended() {
                return None;
            }
            let page = match self
                .herald
                .read_events(&self.tenant, *at, patterns, PAGE)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "a subscription could not read the store");
                    return self.refuse("unavailable", format!("the server could not read the events after {}; subscribe again with that `after`", wire::position(*at))).await;
                }
            };
            for event in &page.events {
                if self.row.event.is_none_or(|name| name == event.name) {
                    let frame = protocol::splice(&self.head, &protocol::event_body(event));
                    self.send(Some(event.position), frame).await?;
                }
            }
            if page.next == *at {
                return Some(());
            }
            *at = page.next;
        }
    }

    async fn send(&self, position: Option<Position>, text: String) -> Option<()> {
        let frame = Out::Frame {
            key: self.key,
            position,
            text,
        };
        self.tx.send(frame).await.ok()
    }

    async fn cannot_read(&self) -> Option<()> {
        self.refuse(
            "unavailable",
            "the server cannot read the events now; try again",
        )
        .await
    }

    async fn refuse(&self, code: &'static str, message: impl Into<String>) -> Option<()> {
        self.end();
        let refused = Refused::new(Some(self.id.clone()), code, message);
        let _ = self.send(None, protocol::error(&refused)).await;
        None
    }
}

impl Subscriber for Follow {
    fn takes(&self, event: &Shared) -> bool {
        event.tenant == self.tenant
            && self.row.event.is_none_or(|name| name == event.name)
            && self.pattern.matches(&event.route)
    }

    fn frame(&self, event: &Shared) -> Out {
        Out::Frame {
            key: self.key,
            position: Some(event.position),
            text: protocol::splice(&self.head, &event.body),
        }
    }

    fn queue(&self) -> &mpsc::Sender<Out> {
        &self.tx
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    fn resume(self: Arc<Self>, at: Position) {
        tokio::spawn(async move {
            if self.follow_from(at).await.is_none() {
                let _ = self.tx.send(Out::Gone { key: self.key }).await;
            }
        });
    }
}
