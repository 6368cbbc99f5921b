//! The model: what an application declares (events, commands, aggregates, upcasters)
//! and how its events are kept (stream keys, positions, recorded and replayed events).
//! Above the shared base types only; everything else builds on it.

pub(crate) mod aggregate;
pub(crate) mod command;
pub(crate) mod event;
pub(crate) mod record;
pub(crate) mod upcast;
