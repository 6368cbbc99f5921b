//! Runnable Herald applications, one scenario each. Each lives in its own module, and its
//! binary in `src/bin/` builds a runtime from that module only
//! (`Herald::builder().modules([…])`), so the applications share this crate without
//! running each other's handlers.

#![allow(
    missing_docs,
    reason = "the examples' domain types are explained by their modules' docs"
)]

pub mod bank;
pub mod calculator;
pub mod signup;
