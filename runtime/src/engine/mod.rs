//! The engine: the registry of what the application declared, and the loop that runs one
//! command through it (the step, hooks, saga steps, strong reactions, the aggregate
//! cache), over one crate-private context, the [`Kernel`](kernel::Kernel). Above the
//! outcome layer; dispatch's facade, the consumers and the doors build on it.

pub(crate) mod cache;
pub(crate) mod dispatch;
pub(crate) mod group;
pub(crate) mod handler;
pub(crate) mod kernel;
pub(crate) mod load;
pub(crate) mod queue;
pub(crate) mod record;
pub(crate) mod registry;
pub(crate) mod step;
