//! The outbox relay: every committed event, in the global order, published to a
//! JetStream stream, its checkpoint in the event store.

use std::time::Duration;

use async_nats::jetstream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Nats, nats_error, subject::subject};
use crate::base::unwind::caught;
use crate::consumer::Hub;
use crate::consumer::checkpoint_of;
use crate::facade::runtime::Herald;
use crate::outcome::error::{Error, ErrorKind};
use crate::store::Position;

/// Publishes every committed event of a runtime's store to JetStream, in the global
/// order, on the subject `prefix.route`, with the event id as `Nats-Msg-Id` so that an
/// event published again (after a crash between publishing and moving the checkpoint)
/// is dropped by the server as a duplicate within the stream's duplicate window. Its
/// checkpoint is kept in the event store (as consumer `relay:<stream>`), so it resumes
/// where it stopped.
///
/// ```no_run
/// # async fn run(herald: herald::Herald) -> Result<(), herald::Error> {
/// use herald::nats::{Nats, Relay};
///
/// let nats = Nats::connect("127.0.0.1:4222", "SIGNUP", "signup").await?;
/// let relay = Relay::start(&herald, &nats).await?;
/// // … dispatch commands: their events reach `signup.<route>` …
/// relay.stop().await;
/// # Ok(()) }
/// ```
///
/// Dropping the value stops the relay too; keep it for as long as it is to run.
#[must_use = "the relay stops when this is dropped"]
pub struct Relay {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Makes sure the stream exists (see [`Nats::stream`]), then relays in the background
    /// until [`stop`](Self::stop)ped or the runtime is dropped.
    pub async fn start(herald: &Herald, nats: &Nats) -> Result<Relay, Error> {
        let hub = herald.hub();
        nats.stream().await?;
        let (stop, stopped) = watch::channel(false);
        let relay = Relaying {
            hub: hub.downgrade(),
            nats: nats.clone(),
            name: format!("relay:{}", nats.stream_name),
            position: None,
        };
        let task = tokio::spawn(relay.run(stopped, hub.store().consumers().commits()));
        Ok(Relay { stop, task })
    }

    /// Stops after the batch in flight: its events are published and its checkpoint
    /// saved, or the checkpoint stays where it was.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

struct Relaying {
    hub: std::sync::Weak<Hub>,
    nats: Nats,
    name: String,
    position: Option<Position>,
}

impl Relaying {
    async fn run(mut self, mut stop: watch::Receiver<bool>, mut commits: watch::Receiver<u64>) {
        let mut wait = Duration::from_millis(10);
        loop {
            if *stop.borrow() {
                return;
            }
            let Some(hub) = self.hub.upgrade() else {
                return;
            };
            commits.mark_unchanged();
            let relayed = caught(|| self.batch(&hub)).await;
            let relayed = relayed.unwrap_or_else(|panic| Err(nats_error(&self.name, panic)));
            drop(hub);
            let wake_on_commit = match relayed {
                Ok(0) => true,
                Ok(_) => {
                    wait = Duration::from_millis(10);
                    continue;
                }
                Err(error) => {
                    tracing::error!(relay = self.name, %error, "relaying to NATS failed; trying again");
                    self.position = None;
                    false
                }
            };
            tokio::select! {
                _ = commits.changed(), if wake_on_commit => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    /// Publishes the next batch and moves the checkpoint past it; how many it published.
    async fn batch(&mut self, hub: &Hub) -> Result<usize, Error> {
        let store = hub.store();
        let fail_store = |source| {
            Error::from(ErrorKind::Store {
                context: format!("{}: the event store", self.name),
                source,
            })
        };
        let from = match self.position {
            Some(position) => position,
            None => checkpoint_of(hub, &self.name).await?,
        };
        let events = store.read_all(from, 100).await.map_err(fail_store)?;
        let Some(last) = events.last().map(|e| e.position) else {
            self.position = Some(from);
            crate::telemetry::metrics::relay_lag(0);
            return Ok(0);
        };
        if cfg!(feature = "metrics") {
            let lag = match events.len() {
                ..100 => events.len() as u64,
                // A full batch: more may wait (a bounded count).
                _ => crate::consumer::lag(store.consumers(), from)
                    .await
                    .map_or(events.len() as u64, |(lag, _)| lag),
            };
            crate::telemetry::metrics::relay_lag(lag);
        }
        // Published first, outside any transaction (on SQLite one would hold the write
        // lock while waiting for the server), each acknowledged before the next is sent,
        // so that a failed publish can never let a later event into the stream before it;
        // and all before the checkpoint moves: a crash in between publishes them again,
        // and the server drops them as duplicates.
        for event in &events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.event_id.to_string().as_str());
            let payload = serde_json::to_vec(event).map_err(|e| nats_error(&self.name, e))?;
            let subject = subject(&self.nats.prefix, event.route.as_str());
            let ack = self
                .nats
                .jetstream
                .publish_with_headers(subject, headers, payload.into())
                .await
                .map_err(|e| nats_error(&self.name, e))?;
            ack.await.map_err(|e| nats_error(&self.name, e))?;
        }
        let mut tx = store.begin().await.map_err(fail_store)?;
        if tx.claim_consumer(&self.name).await.map_err(fail_store)? != from {
            // Another relay moved it meanwhile: what this one sent again was dropped.
            self.position = None;
            return Ok(events.len());
        }
        tx.save_checkpoint(&self.name, last)
            .await
            .map_err(fail_store)?;
        tx.commit().await.map_err(fail_store)?;
        crate::telemetry::metrics::relay_published(events.len() as u64);
        self.position = Some(last);
        Ok(events.len())
    }
}

impl Nats {
    /// Creates the stream if it does not exist: every subject under the prefix, with the
    /// duplicate window set explicitly (JetStream's default is two minutes).
    pub async fn stream(&self) -> Result<jetstream::stream::Stream, Error> {
        let config = jetstream::stream::Config {
            name: self.stream_name.clone(),
            subjects: vec![format!("{}.>", self.prefix)],
            duplicate_window: self.duplicate_window,
            ..Default::default()
        };
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|e| nats_error(&self.stream_name, e))
    }
}
