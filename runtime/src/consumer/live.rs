//! Live consumers, for dashboards: the events committed from now on, as they come, with
//! no checkpoint. One that falls behind skips what it missed and is told how many.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;

use super::hub::{Hub, WeakHub};
use crate::outcome::error::{Error, ErrorKind};
use crate::route::Pattern;
use crate::store::{Position, RecordedEvent};

/// How many events a live subscriber may fall behind before it skips.
const LIVE_BUFFER: usize = 1024;

/// The runtime's tail of the global order, shared by its live subscribers.
#[derive(Default)]
pub(crate) struct Tail {
    sender: Mutex<Option<broadcast::Sender<Arc<RecordedEvent>>>>,
}

impl Tail {
    /// A receiver of the events committed from now on, starting the tail if it is not
    /// running.
    async fn subscribe(
        &self,
        hub: &Arc<Hub>,
    ) -> Result<broadcast::Receiver<Arc<RecordedEvent>>, Error> {
        // A tail with no subscriber left stops; a new subscriber starts another.
        let running = |slot: &Option<broadcast::Sender<_>>| {
            slot.as_ref()
                .filter(|sender| sender.receiver_count() > 0)
                .map(broadcast::Sender::subscribe)
        };
        if let Some(receiver) = running(&self.sender.lock().unwrap_or_else(PoisonError::into_inner))
        {
            return Ok(receiver);
        }
        let head = hub
            .store()
            .consumers()
            .head()
            .await
            .map_err(|source| ErrorKind::Store {
                context: "starting the live tail".into(),
                source,
            })?;
        let mut slot = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(receiver) = running(&slot) {
            return Ok(receiver); // started meanwhile
        }
        let (sender, receiver) = broadcast::channel(LIVE_BUFFER);
        tokio::spawn(tail(hub.downgrade(), sender.clone(), head));
        *slot = Some(sender);
        Ok(receiver)
    }
}

/// Reads the global order after `at` and hands each event to the subscribers, for as long
/// as the runtime lives.
async fn tail(hub: WeakHub, sender: broadcast::Sender<Arc<RecordedEvent>>, mut at: Position) {
    let mut commits = match hub.upgrade() {
        Some(hub) => hub.store().consumers().commits(),
        None => return,
    };
    loop {
        if sender.receiver_count() == 0 {
            return; // nobody listens any more
        }
        let Some(runtime) = hub.upgrade() else {
            return;
        };
        let read = runtime.store().read_all(at, 500).await;
        drop(runtime);
        match read {
            Ok(events) if !events.is_empty() => {
                for event in events {
                    at = event.position;
                    // No subscriber right now is fine: live events are not kept.
                    let _ = sender.send(Arc::new(event));
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the live tail could not read; trying again"),
        }
        // A missed notice costs a second at most.
        let _ = tokio::time::timeout(Duration::from_secs(1), commits.changed()).await;
    }
}

/// What a [`LiveEvents`] subscriber gets next.
///
/// ```
/// use herald::consumer::Live;
/// fn show(next: Live) -> String {
///     match next {
///         Live::Event(event) => format!("{}", event.route),
///         Live::Skipped(missed) => format!("fell behind: {missed} events skipped, reloading"),
///     }
/// }
/// assert_eq!(show(Live::Skipped(3)), "fell behind: 3 events skipped, reloading");
/// ```
#[derive(Clone, Debug)]
pub enum Live {
    /// An event whose route matches the subscription.
    Event(Arc<RecordedEvent>),
    /// The subscriber fell this many events behind (of every route) and they were
    /// skipped: a live view should reload what it shows.
    Skipped(u64),
}

/// The events committed from now on whose routes match a pattern, as they come. Get one
/// with [`Herald::live`](crate::Herald::live). Reliable processing needs an eventual projector or processor;
/// this is for showing what happens.
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::consumer::Live;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let mut live = herald.live("account.*").await?;
/// herald.dispatch(OpenAccount { account_id: 5 }).await?;
/// match live.next().await {
///     Some(Live::Event(event)) => assert_eq!(event.route.as_str(), "account.5.opened"),
///     other => panic!("{other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LiveEvents {
    receiver: broadcast::Receiver<Arc<RecordedEvent>>,
    pattern: Pattern,
    skipped: u64,
}

impl LiveEvents {
    /// The next matching event, or how many events were skipped; `None` once the
    /// runtime is gone.
    pub async fn next(&mut self) -> Option<Live> {
        loop {
            match self.receiver.recv().await {
                Ok(event) if self.pattern.matches(event.route.as_str()) => {
                    return Some(Live::Event(event));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.skipped += missed;
                    return Some(Live::Skipped(missed));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// How many events this subscriber skipped in all.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// How many events (of every route) came for this subscriber and wait to be taken:
    /// past 1,024, [`next`](Self::next) skips them. A dashboard can show it as its lag.
    pub fn behind(&self) -> usize {
        self.receiver.len()
    }
}

/// The events committed from now on whose routes match `pattern`; see
/// [`Herald::live`](crate::Herald::live).
pub(crate) async fn subscribe(hub: &Arc<Hub>, pattern: &str) -> Result<LiveEvents, Error> {
    let pattern = Pattern::parse(pattern).map_err(|source| ErrorKind::Pattern {
        pattern: pattern.to_owned(),
        source,
    })?;
    let receiver = hub.tail().subscribe(hub).await?;
    Ok(LiveEvents {
        receiver,
        pattern,
        skipped: 0,
    })
}
