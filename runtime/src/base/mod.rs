//! The shared base: who is calling ([`Actor`](crate::Actor)), how failures are tried
//! again ([`RetryPolicy`](crate::RetryPolicy)), panics caught as failures, and values
//! kept as JSON without loss (and the one document each command writes, written
//! by hand). Every layer may use it; it uses none. (`BoxError` and
//! `BoxFuture` sit at the crate root.)

pub(crate) mod actor;
pub(crate) mod json_text;
pub(crate) mod json_value;
pub(crate) mod retry;
pub(crate) mod schema;
#[cfg_attr(not(any(feature = "http", feature = "cli")), allow(dead_code))]
pub(crate) mod time;
pub(crate) mod unwind;
