//! A small bank for herald's documentation examples: a dev-dependency of herald, so that
//! its registrations are never linked into a user's binary.
#![allow(missing_docs, reason = "fixtures for doctests only")]

use herald::{Cx, Herald, Recorded, aggregate, command, event, hook, processor, projector};

#[event("account.:account_id.opened")]
pub struct AccountOpened {
    pub account_id: u64,
}

#[event("account.:account_id.deposited")]
pub struct Deposited {
    pub account_id: u64,
    pub amount: u64,
}

#[event("account.:account_id.withdrawn")]
pub struct Withdrawn {
    pub account_id: u64,
    pub amount: u64,
}

#[command("open.account.:account_id")]
pub struct OpenAccount {
    pub account_id: u64,
}

#[command("deposit.:account_id")]
pub struct Deposit {
    pub account_id: u64,
    pub amount: u64,
}

#[command("withdraw.:account_id")]
pub struct Withdraw {
    pub account_id: u64,
    pub amount: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    #[error("the account is already open")]
    AlreadyOpen,
    #[error("the account is not open")]
    NotOpen,
    #[error("insufficient funds: the balance is {balance}")]
    InsufficientFunds { balance: u64 },
}

#[aggregate]
#[derive(Default)]
pub struct Account {
    pub open: bool,
    pub balance: u64,
}

#[aggregate]
impl Account {
    #[handle]
    fn open(&self, cmd: &OpenAccount) -> Result<AccountOpened, BankError> {
        if self.open {
            return Err(BankError::AlreadyOpen);
        }
        Ok(AccountOpened {
            account_id: cmd.account_id,
        })
    }

    #[handle]
    fn deposit(&self, cmd: &Deposit) -> Result<Deposited, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        Ok(Deposited {
            account_id: cmd.account_id,
            amount: cmd.amount,
        })
    }

    #[handle]
    fn withdraw(&self, cmd: &Withdraw) -> Result<Withdrawn, BankError> {
        if !self.open {
            return Err(BankError::NotOpen);
        }
        if cmd.amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
            });
        }
        Ok(Withdrawn {
            account_id: cmd.account_id,
            amount: cmd.amount,
        })
    }

    #[apply]
    fn opened(&mut self, _: &AccountOpened) {
        self.open = true;
    }

    #[apply]
    fn deposited(&mut self, e: &Deposited) {
        self.balance += e.amount;
    }

    #[apply]
    fn withdrawn(&mut self, e: &Withdrawn) {
        self.balance -= e.amount;
    }
}

#[event("account.:account_id.closed")]
pub struct AccountClosed {
    pub account_id: u64,
}

#[hook(before, "deposit.:account_id")]
async fn positive_deposits(cmd: &mut Deposit, _cx: &mut Cx<'_>) -> Result<(), String> {
    match cmd.amount {
        0 => Err("a deposit must be positive".into()),
        _ => Ok(()),
    }
}

/// Eventual: registered, and not run in the fixtures' dispatches.
#[processor("account.:account_id.closed", consistency = eventual)]
async fn reopen(e: &Recorded<AccountClosed>, _cx: &mut Cx<'_>) -> Result<OpenAccount, String> {
    Ok(OpenAccount {
        account_id: e.account_id,
    })
}

/// Eventual: a statement line for every account event, written after its command commits
/// (on a store with SQL it would insert a row through `cx`).
#[projector("account.*", consistency = eventual)]
async fn statements(e: &herald::store::RecordedEvent, _cx: &mut Cx<'_>) {
    let _line = e.route.as_str();
}

/// A runtime over the fixtures, in memory.
pub async fn herald() -> Herald {
    Herald::builder()
        .modules(["herald_doc_fixtures"])
        .build()
        .await
        .expect("the fixtures are consistent")
}

/// Recorded without an aggregate, in the streams `notes`.
#[event("note.:note_id.added", stream = "notes")]
#[derive(Clone)]
pub struct NoteAdded {
    pub note_id: u64,
    pub text: String,
}

/// Mapped straight to [`NoteAdded`]: no aggregate decides it.
#[command("add.note.:note_id", event = NoteAdded)]
#[derive(Clone)]
pub struct AddNote {
    pub note_id: u64,
    pub text: String,
}

impl From<AddNote> for NoteAdded {
    fn from(cmd: AddNote) -> Self {
        NoteAdded {
            note_id: cmd.note_id,
            text: cmd.text,
        }
    }
}
