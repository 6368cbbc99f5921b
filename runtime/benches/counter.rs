//! The counter both the dispatch and the instructions benches dispatch to: one event a
//! command, its state the running total.

use herald::prelude::*;

#[event("counter.:id.added")]
pub(crate) struct Added {
    pub(crate) id: u64,
    pub(crate) by: i64,
    pub(crate) total: i64,
}

#[command("add.:id")]
pub(crate) struct Add {
    pub(crate) id: u64,
    pub(crate) by: i64,
}

#[aggregate(name = "counter")]
#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) total: i64,
}

#[aggregate]
impl Counter {
    #[handle]
    fn add(&self, cmd: &Add) -> Result<Added, std::convert::Infallible> {
        Ok(Added {
            id: cmd.id,
            by: cmd.by,
            total: self.total + cmd.by,
        })
    }

    #[apply]
    fn added(&mut self, e: &Added) {
        self.total = e.total;
    }
}
