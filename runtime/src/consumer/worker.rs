//! A consumer's worker: reads the global order after the consumer's checkpoint and runs
//! its handler on the events it takes, a batch per transaction, with the checkpoint in
//! that transaction. Wakes on commits, and polls with a growing wait when none come.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use uuid::Uuid;

use super::handle::handle;
use super::{ConsumerSettings, Progress};
use crate::error::{Error, ErrorKind};
use crate::handler::saga::Saga;
use crate::runtime::{Herald, WeakHerald};
use crate::store::{DeadLetter, Position, RecordedEvent, StoreError, StreamKey};

/// What a step found to do next.
enum Next {
    /// More events may be waiting: look again at once.
    Busy,
    /// Nothing after the checkpoint: wait for a commit.
    Idle,
    /// The handler failed on an event and is to try it again after this long.
    Retry(Duration),
}

pub(crate) struct Worker {
    pub(crate) herald: WeakHerald,
    pub(crate) name: &'static str,
    pub(crate) ordered: bool,
    pub(crate) settings: ConsumerSettings,
    pub(crate) progress: Arc<watch::Sender<Progress>>,
    /// Where it is, once read.
    pub(crate) position: Option<Position>,
    /// The event the handler keeps failing on: its id, the tries so far, the first when.
    pub(crate) failing: Option<(Uuid, u32, SystemTime)>,
}

impl Worker {
    /// Runs until `stop` says so or the runtime is dropped. A batch in flight finishes (or
    /// rolls back) before it stops.
    pub(crate) async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut commits: watch::Receiver<u64>,
    ) {
        let mut idle = self.settings.poll_min;
        loop {
            if *stop.borrow() {
                return;
            }
            let Some(herald) = self.herald.upgrade() else {
                return;
            };
            commits.mark_unchanged();
            let next = self.step(&herald).await;
            drop(herald);
            let (wait, wake_on_commit) = match next {
                Ok(Next::Busy) => {
                    idle = self.settings.poll_min;
                    self.progress.send_modify(|p| p.error = None);
                    continue;
                }
                Ok(Next::Idle) => {
                    self.progress.send_modify(|p| p.error = None);
                    let wait = idle;
                    idle = (idle * 2).min(self.settings.poll_max);
                    (wait, true)
                }
                Ok(Next::Retry(wait)) => (wait, false),
                Err(error) => {
                    // Nobody awaits a worker: the error is logged, kept for
                    // `Consumers::list`, and the batch tried again later.
                    tracing::error!(consumer = self.name, %error, "consumer batch failed; trying again");
                    self.progress
                        .send_modify(|p| p.error = Some(error.to_string()));
                    self.position = None; // read it again
                    let wait = idle;
                    idle = (idle * 2).min(self.settings.poll_max);
                    (wait, false)
                }
            };
            tokio::select! {
                changed = commits.changed(), if wake_on_commit => {
                    if changed.is_ok() {
                        idle = self.settings.poll_min;
                    }
                }
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One batch: read, claim, handle, checkpoint, commit.
    async fn step(&mut self, herald: &Herald) -> Result<Next, Error> {
        let store = herald.store();
        let fail_store = |context: &str| {
            let context = format!("consumer `{}`: {context}", self.name);
            move |source: StoreError| Error::from(ErrorKind::Store { context, source })
        };
        let handler = herald
            .registry()
            .eventual_named(self.name)
            .expect("workers run registered consumers");
        let from = match self.position {
            Some(position) => position,
            None => checkpoint_of(herald, self.name).await?,
        };
        let events = store
            .read_all(from, self.settings.batch)
            .await
            .map_err(fail_store("reading events"))?;
        if events.is_empty() {
            self.position = Some(from);
            return Ok(Next::Idle);
        }
        let mut tx = store.begin().await.map_err(fail_store("beginning"))?;
        let claimed = tx
            .claim_consumer(self.name)
            .await
            .map_err(fail_store("claiming its checkpoint"))?;
        if claimed != from {
            // Another worker (a dead-letter retry, another process) moved it meanwhile.
            self.position = Some(claimed);
            return Ok(Next::Busy);
        }
        let mut parked = match self.ordered {
            true => parked_streams(herald, self.name).await?,
            false => HashMap::new(),
        };
        let mut done = from;
        let mut sagas: Vec<Saga> = Vec::new();
        let mut next = Next::Busy;
        for event in &events {
            if !handler.takes(event) {
                done = event.position;
                continue;
            }
            if let Some(&head) = parked.get(&event.stream) {
                let letter = letter(
                    self.name,
                    event,
                    format!("waits behind event {head} of its stream, which is parked"),
                    0,
                    Some(head),
                    SystemTime::now(),
                );
                tx.park(&letter)
                    .await
                    .map_err(fail_store("parking an event"))?;
                done = event.position;
                continue;
            }
            let savepoint = tx.savepoint().await.map_err(fail_store("savepoint"))?;
            match handle(herald, &mut *tx, handler, event).await {
                Ok(saga) => {
                    tx.release(savepoint)
                        .await
                        .map_err(fail_store("releasing a savepoint"))?;
                    sagas.push(saga);
                    self.failing = None;
                    done = event.position;
                }
                Err(error) => {
                    tx.rollback_to(savepoint)
                        .await
                        .map_err(fail_store("rolling back a failed event"))?;
                    let (attempts, first) = match self.failing {
                        Some((id, n, first)) if id == event.event_id => (n + 1, first),
                        _ => (1, SystemTime::now()),
                    };
                    let policy = self.settings.retry;
                    if attempts < policy.attempts.max(1) {
                        tracing::warn!(consumer = self.name, %error, attempts, "event failed; trying again");
                        self.failing = Some((event.event_id, attempts, first));
                        next = Next::Retry(policy.wait(attempts));
                        break;
                    }
                    tracing::error!(consumer = self.name, %error, attempts, "event failed its last try; parked");
                    self.failing = None;
                    let letter = letter(self.name, event, error.to_string(), attempts, None, first);
                    tx.park(&letter)
                        .await
                        .map_err(fail_store("parking an event"))?;
                    if self.ordered {
                        parked.insert(event.stream.clone(), event.event_id);
                    }
                    done = event.position;
                }
            }
        }
        if done != from {
            tx.save_checkpoint(self.name, done)
                .await
                .map_err(fail_store("saving its checkpoint"))?;
        }
        if let Err(source) = tx.commit().await {
            for saga in sagas {
                let mut tracer =
                    crate::trace::Tracer::new(crate::trace::Operation::Rollback, self.name);
                for problem in saga.reverse(store, herald.saga_retry(), &mut tracer).await {
                    tracing::error!(consumer = self.name, "{problem}");
                }
            }
            return Err(fail_store("committing")(source));
        }
        for saga in sagas {
            saga.settle_done(store).await;
        }
        self.position = Some(done);
        self.progress.send_modify(|p| p.position = done);
        Ok(next)
    }
}

/// The consumer's committed checkpoint.
pub(crate) async fn checkpoint_of(herald: &Herald, name: &str) -> Result<Position, Error> {
    let checkpoints = herald
        .store()
        .consumers()
        .checkpoints()
        .await
        .map_err(|source| ErrorKind::Store {
            context: format!("consumer `{name}`: reading its checkpoint"),
            source,
        })?;
    Ok(checkpoints
        .into_iter()
        .find(|c| c.consumer == name)
        .map_or(Position::START, |c| c.position))
}

/// The first parked event of each stream the consumer has parked events of.
async fn parked_streams(herald: &Herald, name: &str) -> Result<HashMap<StreamKey, Uuid>, Error> {
    let letters = herald
        .store()
        .consumers()
        .dead_letters(name)
        .await
        .map_err(|source| ErrorKind::Store {
            context: format!("consumer `{name}`: reading its dead letters"),
            source,
        })?;
    let mut heads = HashMap::new();
    for letter in letters {
        heads.entry(letter.stream).or_insert(letter.event_id);
    }
    Ok(heads)
}

/// A dead letter for `event`.
pub(crate) fn letter(
    consumer: &str,
    event: &RecordedEvent,
    error: String,
    attempts: u32,
    behind: Option<Uuid>,
    first_failed_at: SystemTime,
) -> DeadLetter {
    DeadLetter {
        consumer: consumer.to_owned(),
        event_id: event.event_id,
        position: event.position,
        stream: event.stream.clone(),
        route: event.route.to_string(),
        error,
        attempts,
        behind,
        first_failed_at,
        last_failed_at: SystemTime::now(),
    }
}
