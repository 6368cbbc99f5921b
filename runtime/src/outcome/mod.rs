//! What an operation came to: its errors (every error type above the store's, with a
//! stable code each) and its trace (every step, timed). Above the store and the model;
//! the registry, the engine and everything above report through it.

pub(crate) mod error;
pub(crate) mod report;
pub mod trace;
