//! The facade: what an application holds and calls. [`Herald`](crate::Herald) and its
//! builder, dispatching, loading, pipelines and the caller's transactions, over the
//! engine and the consumers, which it owns and lends.

pub(crate) mod dispatch;
pub(crate) mod pipeline;
pub(crate) mod reader;
pub(crate) mod record;
pub(crate) mod runtime;
pub(crate) mod transaction;
