//! Without the `metrics` feature, the loop's metrics are nothing at all.

#![allow(dead_code, reason = "the same calls as with the feature")]

pub(crate) fn command(_command: &'static str, _outcome: &'static str, _took: std::time::Duration) {}
pub(crate) fn conflict(_command: &'static str) {}
pub(crate) fn consumer_lag(_consumer: &'static str, _events: u64, _seconds: f64) {}
pub(crate) fn parked(_consumer: &'static str) {}
pub(crate) fn lease_taken(_consumer: &'static str) {}
pub(crate) fn relay_lag(_events: u64) {}
pub(crate) fn relay_published(_events: u64) {}
pub(crate) fn channel_subscribers(_delta: i64) {}
