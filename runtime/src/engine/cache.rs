//! Recently used aggregates, kept with their stream version so that loading one reads
//! only the events after it. The state is kept serialized: a command gets its own copy to
//! decide on, without aggregates having to be `Clone`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::StreamKey;

/// Where a step looks for an aggregate: first what its own transaction left (not
/// committed yet), then what is committed.
#[derive(Clone, Copy)]
pub(crate) struct Lookup<'a> {
    pub(crate) own: Option<&'a AggregateCache>,
    pub(crate) committed: &'a AggregateCache,
}

impl Lookup<'_> {
    pub(crate) fn get(&self, stream: &StreamKey) -> Option<(u64, Arc<serde_json::Value>)> {
        self.own
            .and_then(|own| own.get(stream))
            .or_else(|| self.committed.get(stream))
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
    state: Arc<serde_json::Value>,
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

    /// Moves every entry into `other` (a transaction's, once it committed).
    pub(crate) fn move_into(self, other: &AggregateCache) {
        let inner = self
            .inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        for (stream, entry) in inner.entries {
            let state = Arc::unwrap_or_clone(entry.state);
            other.put(&stream, entry.version, state);
        }
    }

    /// The state of `stream` at some version, if cached.
    pub(crate) fn get(&self, stream: &StreamKey) -> Option<(u64, Arc<serde_json::Value>)> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.entries.get_mut(stream)?;
        entry.used = clock;
        Some((entry.version, entry.state.clone()))
    }

    /// Keeps the state of `stream` at `version` (committed), unless a later one is kept.
    pub(crate) fn put(&self, stream: &StreamKey, version: u64, state: serde_json::Value) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let used = inner.clock;
        match inner.entries.get_mut(stream) {
            Some(entry) if entry.version >= version => return,
            Some(entry) => {
                *entry = Entry {
                    version,
                    state: Arc::new(state),
                    used,
                }
            }
            None => {
                inner.entries.insert(
                    stream.clone(),
                    Entry {
                        version,
                        state: Arc::new(state),
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
        cache.put(&key(0), 2, serde_json::json!(2));
        cache.put(&key(0), 1, serde_json::json!(1));
        assert_eq!(
            cache.get(&key(0)).map(|(v, s)| (v, (*s).clone())),
            Some((2, serde_json::json!(2)))
        );
        for id in 1..20 {
            cache.put(&key(id), 1, serde_json::json!(id));
            cache.get(&key(0)); // keep 0 in use
        }
        assert!(cache.get(&key(0)).is_some(), "recently used");
        assert!(cache.get(&key(1)).is_none(), "least recently used");
        assert!(cache.get(&key(19)).is_some());
        let size = cache.inner.lock().unwrap().entries.len();
        assert!(size <= 8, "{size}");
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let cache = AggregateCache::new(0);
        cache.put(&key(0), 1, serde_json::json!(1));
        assert!(cache.get(&key(0)).is_none());
    }
}
