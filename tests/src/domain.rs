//! A small ledger for the suites: commands, events and an aggregate that snapshots.
#![allow(missing_docs, reason = "test fixtures")]

use herald::prelude::*;

#[event("ledger.:ledger_id.opened")]
pub struct Opened {
    pub ledger_id: String,
}

#[event("ledger.:ledger_id.posted")]
pub struct Posted {
    pub ledger_id: String,
    pub amount: i64,
    /// The running total: a lost update would show here.
    pub total: i64,
}

#[event("ledger.:ledger_id.attached")]
pub struct Attached {
    pub ledger_id: String,
    pub data: String,
}

#[command("open.ledger.:ledger_id")]
pub struct Open {
    pub ledger_id: String,
}

#[command("post.:ledger_id")]
pub struct Post {
    pub ledger_id: String,
    pub amount: i64,
}

#[command("attach.:ledger_id")]
pub struct Attach {
    pub ledger_id: String,
    pub bytes: usize,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {0} is not open")]
    NotOpen(String),
}

#[aggregate(name = "ledger", snapshot_every = 5)]
#[derive(Debug, Default)]
pub struct Ledger {
    pub open: bool,
    pub total: i64,
    pub postings: u64,
}

#[aggregate]
impl Ledger {
    #[handle]
    fn open(&self, cmd: &Open) -> Result<Opened, LedgerError> {
        Ok(Opened {
            ledger_id: cmd.ledger_id.clone(),
        })
    }

    #[handle]
    fn post(&self, cmd: &Post) -> Result<Posted, LedgerError> {
        if !self.open {
            return Err(LedgerError::NotOpen(cmd.ledger_id.clone()));
        }
        Ok(Posted {
            ledger_id: cmd.ledger_id.clone(),
            amount: cmd.amount,
            total: self.total + cmd.amount,
        })
    }

    #[handle]
    fn attach(&self, cmd: &Attach) -> Result<Attached, LedgerError> {
        Ok(Attached {
            ledger_id: cmd.ledger_id.clone(),
            data: "x".repeat(cmd.bytes),
        })
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {
        self.open = true;
    }

    #[apply]
    fn posted(&mut self, e: &Posted) {
        self.total = e.total;
        self.postings += 1;
    }

    #[apply]
    fn attached(&mut self, _: &Attached) {}
}

/// A runtime over the ledger on `store`.
pub async fn herald(store: &std::sync::Arc<dyn herald::store::EventStore>) -> Herald {
    Herald::builder()
        .modules(["herald_tests::domain"])
        .store(store.clone())
        .build()
        .await
        .expect("the ledger is consistent")
}
