//! What the fixtures' handlers did, by key (a user, a parcel, a book), in order: the
//! "third parties" of the suites, shared by every test of a binary.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A log of calls by key; `static` in a fixture module.
pub struct Calls(Mutex<Option<HashMap<String, Vec<String>>>>);

impl Calls {
    /// An empty log.
    pub const fn new() -> Self {
        Calls(Mutex::new(None))
    }

    /// Records `what` under `key`.
    pub fn record(&self, key: &str, what: impl Into<String>) {
        let mut calls = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        calls
            .get_or_insert_with(HashMap::new)
            .entry(key.to_owned())
            .or_default()
            .push(what.into());
    }

    /// What was recorded under `key`, in order.
    pub fn of(&self, key: &str) -> Vec<String> {
        let calls = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        calls
            .as_ref()
            .and_then(|c| c.get(key).cloned())
            .unwrap_or_default()
    }
}

impl Default for Calls {
    fn default() -> Self {
        Calls::new()
    }
}
