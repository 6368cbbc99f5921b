//! A small ledger for the suites: commands, events and an aggregate that snapshots.
#![allow(missing_docs, reason = "test fixtures")]

use herald::json;
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

/// At version 3. Version 1 stored `{"ledger_id", "title"}` with the owner's name in the
/// title (`"Ada: groceries"`); version 2 split it out as `{"ledger_id", "owner", "title"}`;
/// version 3 added `tags`.
#[event("ledger.:ledger_id.renamed", version = 3)]
#[derive(Debug, PartialEq)]
pub struct Renamed {
    pub ledger_id: String,
    pub owner: String,
    pub title: String,
    pub tags: Vec<String>,
}

#[upcast(Renamed, from = 1)]
fn owner_out_of_title(mut payload: json::Value) -> json::Value {
    let title = payload["title"].take();
    let (owner, title) = title
        .as_str()
        .and_then(|t| t.split_once(": "))
        .unwrap_or(("", ""));
    payload["owner"] = owner.into();
    payload["title"] = title.into();
    payload
}

#[upcast(Renamed, from = 2)]
fn no_tags_yet(mut payload: json::Value) -> json::Value {
    payload["tags"] = json::json!([]);
    payload
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

#[command("rename.:ledger_id")]
pub struct Rename {
    pub ledger_id: String,
    pub owner: String,
    pub title: String,
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
    /// The owner and title, as the last `Renamed` left them.
    pub name: Option<(String, String)>,
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

    #[handle]
    fn rename(&self, cmd: &Rename) -> Result<Renamed, LedgerError> {
        Ok(Renamed {
            ledger_id: cmd.ledger_id.clone(),
            owner: cmd.owner.clone(),
            title: cmd.title.clone(),
            tags: Vec::new(),
        })
    }

    #[apply]
    fn renamed(&mut self, e: &Renamed) {
        self.name = Some((e.owner.clone(), e.title.clone()));
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
