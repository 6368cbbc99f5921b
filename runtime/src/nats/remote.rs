//! Eventual handlers run on another machine, from durable JetStream consumers.

use std::time::SystemTime;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Nats, nats_error, subject::filters};
use crate::consumer::Hub;
use crate::consumer::{
    Layout, consumer_store_error, handle, letter, letter_behind, ordered, retired, retired_error,
    settle_failed_commit,
};
use crate::facade::runtime::Herald;
use crate::outcome::error::Error;
use crate::store::RecordedEvent;

/// Runs a runtime's eventual projectors and processors from JetStream, one durable
/// consumer per handler (named `herald-<handler>`), on the runtime's own store: each
/// event is handled in a transaction that also moves the handler's checkpoint there, then
/// acknowledged, so an event delivered again after a crash is recognised and not applied
/// twice. Events come one at a time, in order. A failing one is delivered again after
/// the runtime's backoff ([`HeraldBuilder::consumer_retry`](crate::HeraldBuilder::consumer_retry)),
/// then parked in the runtime's dead letters (listed by [`Consumers`](crate::consumer::Consumers);
/// those of an ordered handler hold back the later events of their stream). Build the
/// runtime with [`run_consumers(false)`](crate::HeraldBuilder::run_consumers): its events
/// come from NATS, not from its store. Dropping the value stops the workers too.
///
/// ```no_run
/// # async fn run() -> Result<(), herald::Error> {
/// use herald::Herald;
/// use herald::nats::{Nats, RemoteWorkers};
///
/// let herald = Herald::builder()
///     .modules(["my_app::read_models"])
///     .url("read-models.db") // this machine's own store
///     .run_consumers(false)
///     .build()
///     .await?;
/// let nats = Nats::connect("127.0.0.1:4222", "APP", "app").await?;
/// let workers = RemoteWorkers::start(&herald, &nats).await?;
/// // … until it is time to stop:
/// workers.stop().await;
/// # Ok(()) }
/// ```
///
/// A dead letter such a worker parked can be listed, and skipped when no later event of
/// its stream waits behind it, but not retried through
/// [`Consumers::retry`](crate::Consumers::retry) (the event is not in this runtime's
/// store). A handler's subject filters are set when its durable consumer is created; a
/// changed pattern needs the consumer deleted first. A handler split into `partitions`
/// takes its events from its one durable consumer here, in order, and moves the
/// checkpoint of each event's partition, as this runtime's workers would.
#[must_use = "the workers stop when this is dropped"]
pub struct RemoteWorkers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RemoteWorkers {
    /// Creates (or finds) the stream and a durable consumer per eventual handler of
    /// `herald`, and starts consuming.
    pub async fn start(herald: &Herald, nats: &Nats) -> Result<RemoteWorkers, Error> {
        let hub = herald.hub();
        let stream = nats.stream().await?;
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();
        for handler in hub.registry().eventual_handlers() {
            let name = handler.name();
            let durable = durable_name(name);
            let config = pull::Config {
                durable_name: Some(durable.clone()),
                filter_subjects: filters(&nats.prefix, handler.pattern()),
                ack_policy: AckPolicy::Explicit,
                // One at a time, so a failing event is delivered again before the next.
                max_ack_pending: 1,
                ..Default::default()
            };
            let consumer: PullConsumer = stream
                .get_or_create_consumer(&durable, config)
                .await
                .map_err(|e| nats_error(&durable, e))?;
            let remote = Remote {
                hub: hub.downgrade(),
                name,
            };
            tasks.push(tokio::spawn(remote.run(consumer, stop.subscribe())));
        }
        Ok(RemoteWorkers { stop, tasks })
    }

    /// Stops after the events in flight are handled (or rolled back, to be delivered
    /// again).
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// A durable consumer name for a handler: NATS allows no `.`, `*`, `>` or whitespace.
fn durable_name(handler: &str) -> String {
    let name: String = handler
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => c,
            _ => '_',
        })
        .collect();
    format!("herald-{name}")
}

struct Remote {
    hub: std::sync::Weak<Hub>,
    name: &'static str,
}

impl Remote {
    async fn run(self, consumer: PullConsumer, mut stop: watch::Receiver<bool>) {
        loop {
            let mut messages = match consumer.messages().await {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::error!(consumer = self.name, %error, "could not consume from NATS; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = stop.changed() => return,
                    }
                }
            };
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = stop.changed() => return,
                };
                let Some(hub) = self.hub.upgrade() else {
                    return;
                };
                match message {
                    Some(Ok(message)) => {
                        if let Err(error) = self.handle_message(&hub, &message).await {
                            tracing::error!(consumer = self.name, %error, "handling an event from NATS failed");
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(consumer = self.name, %error, "NATS delivery failed");
                    }
                    None => break, // the subscription ended: open it again
                }
            }
        }
    }

    /// Handles the event `message` carries, in a transaction that moves the handler's
    /// checkpoint, then acknowledges it.
    async fn handle_message(&self, hub: &Hub, message: &Message) -> Result<(), Error> {
        let name = self.name;
        let event = event_of(name, message).await?;
        let handler = hub
            .registry()
            .eventual_named(name)
            .expect("remote workers run registered consumers");
        if !handler.takes(&event) {
            return ack(name, message, AckKind::Ack).await; // the subject filter is broader than the pattern
        }
        let store = hub.store();
        let fail_store = consumer_store_error(name, &format!("event {}", event.event_id));
        // The checkpoint of the event's partition when the handler is split, so that
        // `Consumers` reads this store as it reads one its workers run.
        let layout = Layout::of(handler);
        layout.verify(hub).await?; // not acknowledged: it comes again once put right
        let key = &layout.key_of(&event.stream);
        let mut tx = store.begin().await.map_err(&fail_store)?;
        let at = tx.claim_consumer(key).await.map_err(&fail_store)?;
        if retired(at) {
            return Err(retired_error(name, key));
        }
        if event.position <= at {
            return ack(name, message, AckKind::Ack).await; // handled before the last acknowledgement was lost
        }
        let letters = tx.dead_letters(name).await.map_err(&fail_store)?;
        let ordered = ordered(handler);
        let head = letters.iter().find(|l| ordered && l.stream == event.stream);
        if let Some(head) = head {
            let letter = letter_behind(name, &event, head.event_id);
            tx.park(&letter).await.map_err(&fail_store)?;
            tx.save_checkpoint(key, event.position)
                .await
                .map_err(&fail_store)?;
            tx.commit().await.map_err(&fail_store)?;
            return ack(name, message, AckKind::Ack).await;
        }
        match handle(hub.kernel(), &mut *tx, handler, &event).await {
            Ok(saga) => {
                tx.save_checkpoint(key, event.position)
                    .await
                    .map_err(&fail_store)?;
                let mut sagas = vec![saga];
                if let Err(source) = tx.commit().await
                    && !settle_failed_commit(hub, name, &mut sagas).await
                {
                    return Err(fail_store(source)); // not acknowledged: it comes again
                }
                for saga in sagas {
                    saga.settle_done(store).await;
                }
                ack(name, message, AckKind::Ack).await
            }
            Err(error) => {
                drop(tx);
                self.failed(hub, message, &event, key, error).await
            }
        }
    }

    /// After handling `event` failed with `error`: delivered again after the runtime's
    /// backoff while it has tries left, else parked (its checkpoint moved past it) and
    /// acknowledged.
    async fn failed(
        &self,
        hub: &Hub,
        message: &Message,
        event: &RecordedEvent,
        key: &str,
        error: Error,
    ) -> Result<(), Error> {
        let name = self.name;
        let tries = message
            .info()
            .map_or(1, |info| info.delivered.max(1) as u32);
        let policy = hub.consumer_settings().retry;
        if tries < policy.attempts.max(1) {
            tracing::warn!(consumer = name, %error, tries, "event from NATS failed; it comes again");
            return ack(name, message, AckKind::Nak(Some(policy.wait(tries)))).await;
        }
        tracing::error!(consumer = name, %error, tries, "event from NATS failed its last try; parked");
        let fail_store = consumer_store_error(name, &format!("event {}", event.event_id));
        let mut tx = hub.store().begin().await.map_err(&fail_store)?;
        tx.claim_consumer(key).await.map_err(&fail_store)?;
        let letter = letter(
            name,
            event,
            error.to_string(),
            tries,
            None,
            SystemTime::now(),
        );
        tx.park(&letter).await.map_err(&fail_store)?;
        tx.save_checkpoint(key, event.position)
            .await
            .map_err(&fail_store)?;
        tx.commit().await.map_err(&fail_store)?;
        ack(name, message, AckKind::Ack).await
    }
}

/// The event `message` carries. A message that is not one of Herald's events is never
/// delivered again (terminated), and is an error that says so.
async fn event_of(name: &str, message: &Message) -> Result<RecordedEvent, Error> {
    match serde_json::from_slice(&message.payload) {
        Ok(event) => Ok(event),
        Err(error) => {
            ack(name, message, AckKind::Term).await?;
            Err(nats_error(
                name,
                format!(
                    "a message on `{}` is not an event: {error}",
                    message.subject
                ),
            ))
        }
    }
}

/// Acknowledges `message` (or asks for it again, or terminates it) as `kind` says.
async fn ack(name: &str, message: &Message, kind: AckKind) -> Result<(), Error> {
    message
        .ack_with(kind)
        .await
        .map_err(|e| nats_error(name, e))
}
