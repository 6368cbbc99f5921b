//! Recently used aggregates, kept as typed values with their stream version, so that
//! loading one reads only the events after it and deserializes nothing. A command takes
//! its aggregate out to decide on (aggregates need not be `Clone`), and the state after
//! its events goes back in once it commits; a command that was refused puts back what it
//! took.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::StreamKey;

/// An aggregate's state, of the type its stream's aggregate has.
pub(crate) type State = Box<dyn Any + Send + Sync>;

/// Where a step looks for an aggregate: first what its own transaction left (not
/// committed yet), then what is committed.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'a> {
    pub(crate) own: Option<&'a AggregateCache>,
    pub(crate) committed: &'a AggregateCache,
}

impl<'a> Lookup<'a> {
    /// Takes `stream`'s aggregate out: its version, its state, and the cache it came
    /// from (where a refused command puts it back).
    pub(crate) fn take<A: Any>(&self, stream: &StreamKey) -> Option<(u64, A, &'a AggregateCache)> {
        let own = self.own.and_then(|own| Some((own.take::<A>(stream)?, own)));
        let (taken, from) =
            own.or_else(|| Some((self.committed.take::<A>(stream)?, self.committed)))?;
        Some((taken.0, taken.1, from))
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.committed.is_enabled()
    }
}

pub(crate) struct AggregateCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<StreamKey, Entry>,
    clock: u64,
}

struct Entry {
    version: u64,
    state: State,
    used: u64,
}

impl AggregateCache {
    /// A cache of at most `capacity` aggregates; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        AggregateCache {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// How many aggregates it keeps at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether it keeps anything.
    pub(crate) fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves every entry into `other` (a transaction's, once it committed).
    pub(crate) fn move_into(self, other: &AggregateCache) {
        let inner = self
            .inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        for (stream, entry) in inner.entries {
            other.put(&stream, entry.version, entry.state);
        }
    }

    /// Takes the state of `stream` out, with its version, if it is cached (as an `A`).
    pub(crate) fn take<A: Any>(&self, stream: &StreamKey) -> Option<(u64, A)> {
        let entry = self.lock().entries.remove(stream)?;
        let state = entry.state.downcast::<A>().ok()?;
        Some((entry.version, *state))
    }

    /// A copy of the state of `stream`, with its version, if it is cached (as an `A`),
    /// leaving it there: for a read, made through the state's serde form since
    /// aggregates need not be `Clone`.
    pub(crate) fn copy<A>(&self, stream: &StreamKey) -> Option<(u64, A)>
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        let (version, json) = {
            let mut inner = self.lock();
            inner.clock += 1;
            let clock = inner.clock;
            let entry = inner.entries.get_mut(stream)?;
            entry.used = clock;
            let state = entry.state.downcast_ref::<A>()?;
            (entry.version, serde_json::to_value(state).ok()?)
        };
        Some((version, A::deserialize(json).ok()?))
    }

    /// Keeps the state of `stream` at `version` (committed), unless a later one is kept.
    pub(crate) fn put(&self, stream: &StreamKey, version: u64, state: State) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        match inner.entries.get_mut(stream) {
            Some(entry) if entry.version >= version => return,
            Some(entry) => {
                *entry = Entry {
                    version,
                    state,
                    used,
                }
            }
            None => {
                inner.entries.insert(
                    stream.clone(),
                    Entry {
                        version,
                        state,
                        used,
                    },
                );
            }
        }
        if inner.entries.len() > self.capacity {
            // Forget the least recently used eighth at once, so that eviction stays cheap.
            let mut uses: Vec<u64> = inner.entries.values().map(|e| e.used).collect();
            let cut = (inner.entries.len() - self.capacity)
                .max(self.capacity / 8)
                .min(uses.len() - 1);
            let (_, &mut threshold, _) = uses.select_nth_unstable(cut);
            inner.entries.retain(|_, e| e.used > threshold);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> StreamKey {
        StreamKey::new("t", "a", id.to_string()).unwrap()
    }

    #[test]
    fn keeps_the_latest_version_and_forgets_the_least_recently_used() {
        let cache = AggregateCache::new(8);
        cache.put(&key(0), 2, Box::new(2_u64));
        cache.put(&key(0), 1, Box::new(1_u64));
        assert_eq!(cache.copy::<u64>(&key(0)), Some((2, 2)));
        for id in 1..20 {
            cache.put(&key(id), 1, Box::new(u64::from(id)));
            cache.copy::<u64>(&key(0)); // keep 0 in use
        }
        assert!(cache.copy::<u64>(&key(0)).is_some(), "recently used");
        assert!(cache.copy::<u64>(&key(1)).is_none(), "least recently used");
        assert!(cache.copy::<u64>(&key(19)).is_some());
        let size = cache.lock().entries.len();
        assert!(size <= 8, "{size}");
    }

    #[test]
    fn a_taken_state_is_gone_until_put_back() {
        let cache = AggregateCache::new(8);
        cache.put(&key(0), 3, Box::new(String::from("state")));
        assert_eq!(cache.take::<String>(&key(0)), Some((3, "state".into())));
        assert_eq!(cache.take::<String>(&key(0)), None, "taken");
        cache.put(&key(0), 3, Box::new(String::from("state")));
        assert_eq!(cache.take::<u64>(&key(0)), None, "another type is a miss");
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let cache = AggregateCache::new(0);
        cache.put(&key(0), 1, Box::new(1_u64));
        assert!(cache.copy::<u64>(&key(0)).is_none());
    }
}
