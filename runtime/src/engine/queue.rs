//! Top-level commands for one stream run one after another in this process: each waits
//! for its turn on the stream before its transaction opens, so that two of them never
//! race each other to the append (a conflict with yourself, retried). Conflicts then
//! come only from other processes, and from commands in a caller's transaction, which
//! do not queue (see [`in_own_transaction`](super::dispatch::in_own_transaction)).
//!
//! A stream's queue is a fair async mutex, kept in a map only while a command holds it
//! or waits for it: the last to leave removes it, so the map holds the streams in use,
//! never every stream ever written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use crate::store::StreamKey;

/// The queues of the streams that commands of this runtime are writing.
#[derive(Debug)]
pub(crate) struct StreamQueues {
    queues: Mutex<HashMap<StreamKey, Arc<tokio::sync::Mutex<()>>>>,
    /// How long a command waits for its turn.
    wait: Duration,
}

/// A command's place in its stream's queue; its turn once [`Place::turn`] says so. Leaving
/// (dropping it) lets the next one go, and removes the queue when no one else is in it.
#[derive(Debug)]
pub(crate) struct Place<'a> {
    queues: &'a StreamQueues,
    stream: &'a StreamKey,
    queue: Arc<tokio::sync::Mutex<()>>,
    turn: Option<OwnedMutexGuard<()>>,
}

impl StreamQueues {
    pub(crate) fn new(wait: Duration) -> Self {
        StreamQueues {
            queues: Mutex::default(),
            wait,
        }
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<StreamKey, Arc<tokio::sync::Mutex<()>>>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins `stream`'s queue: the place has its turn already when no one was ahead.
    pub(crate) fn join<'a>(&'a self, stream: &'a StreamKey) -> Place<'a> {
        let queue = {
            let mut queues = self.queues();
            match queues.get(stream) {
                Some(queue) => queue.clone(),
                None => {
                    let queue = Arc::default();
                    queues.insert(stream.clone(), Arc::clone(&queue));
                    queue
                }
            }
        };
        let turn = queue.clone().try_lock_owned().ok();
        Place {
            queues: self,
            stream,
            queue,
            turn,
        }
    }

    /// How many streams have a queue now (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.queues().len()
    }
}

impl Place<'_> {
    /// Whether its turn has come.
    pub(crate) fn has_turn(&self) -> bool {
        self.turn.is_some()
    }

    /// Waits for its turn, in order of arrival, at most the queues' wait: `Err` with the
    /// time waited when the commands ahead took longer.
    pub(crate) async fn turn(mut self) -> Result<Self, Duration> {
        if self.turn.is_none() {
            let wait = self.queues.wait;
            let queue = self.queue.clone();
            match tokio::time::timeout(wait, queue.lock_owned()).await {
                Ok(turn) => self.turn = Some(turn),
                Err(_) => return Err(wait),
            }
        }
        Ok(self)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut queues = self.queues.queues();
        // The map's and this place's: no one else holds or waits for the queue (they
        // take theirs under the map's lock, held here).
        if Arc::strong_count(&self.queue) == 2 {
            queues.remove(self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StreamQueues;
    use crate::store::StreamKey;
    use std::time::Duration;

    fn stream(id: &str) -> StreamKey {
        StreamKey::new("default", "counter", id).unwrap()
    }

    #[tokio::test]
    async fn turns_come_in_order_and_the_last_to_leave_removes_the_queue() {
        let queues = StreamQueues::new(Duration::from_secs(5));
        let (a, b) = (stream("a"), stream("b"));
        let first = queues.join(&a);
        assert!(first.has_turn());
        assert!(queues.join(&b).has_turn(), "another stream does not wait");
        let second = queues.join(&a);
        assert!(!second.has_turn(), "the same stream waits");
        let (_, turn) = tokio::join!(async { drop(first) }, second.turn());
        let second = turn.unwrap();
        assert!(second.has_turn());
        assert_eq!(queues.len(), 1, "b left; a is in use");
        drop(second);
        assert_eq!(queues.len(), 0, "no one is in a queue");
    }

    #[tokio::test]
    async fn a_turn_that_does_not_come_in_time_is_an_error_and_leaves_no_queue() {
        let queues = StreamQueues::new(Duration::from_millis(20));
        let a = stream("a");
        let first = queues.join(&a);
        let waited = queues.join(&a).turn().await.unwrap_err();
        assert_eq!(waited, Duration::from_millis(20));
        assert_eq!(queues.len(), 1, "the first still holds it");
        drop(first);
        assert_eq!(queues.len(), 0);
    }
}
