//! A bank account: open it, deposit, withdraw and write checks; a withdrawal or a check
//! larger than the balance is an overdraft and is rejected, leaving nothing stored.
//! Closing an account takes a manager.

use std::collections::BTreeSet;

use herald::prelude::*;

/// Amounts are in cents.
pub type Cents = u64;

#[event("account.:account_id.opened")]
pub struct AccountOpened {
    pub account_id: u64,
    pub owner: String,
}

#[event("account.:account_id.deposited")]
pub struct Deposited {
    pub account_id: u64,
    pub amount: Cents,
}

#[event("account.:account_id.withdrawn")]
pub struct Withdrawn {
    pub account_id: u64,
    pub amount: Cents,
}

#[event("account.:account_id.check.:check_number.written")]
pub struct CheckWritten {
    pub account_id: u64,
    pub check_number: u32,
    pub payee: String,
    pub amount: Cents,
}

#[event("account.:account_id.closed")]
pub struct AccountClosed {
    pub account_id: u64,
}

#[command("open.account.:account_id")]
pub struct OpenAccount {
    pub account_id: u64,
    pub owner: String,
}

#[command("deposit.:account_id")]
pub struct Deposit {
    pub account_id: u64,
    pub amount: Cents,
}

#[command("withdraw.:account_id")]
pub struct Withdraw {
    pub account_id: u64,
    pub amount: Cents,
}

#[command("write.check.:account_id", id = account_id)]
pub struct WriteCheck {
    pub account_id: u64,
    pub check_number: u32,
    pub payee: String,
    pub amount: Cents,
}

#[command("close.account.:account_id", roles = ["manager"])]
pub struct CloseAccount {
    pub account_id: u64,
}

/// Why the bank refuses a command.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    #[error("account is already open")]
    AlreadyOpen,
    #[error("account is not open")]
    NotOpen,
    #[error("amounts must be more than zero")]
    ZeroAmount,
    #[error("overdraft: the balance is {balance} cents, {amount} cents were asked for")]
    Overdraft { balance: Cents, amount: Cents },
    #[error("check {0} was already written")]
    CheckReused(u32),
    #[error("the balance is {0} cents; empty the account before closing it")]
    NotEmpty(Cents),
}

#[aggregate(name = "account", snapshot_every = 50)]
#[derive(Debug, Default)]
pub struct Account {
    pub owner: Option<String>,
    pub closed: bool,
    pub balance: Cents,
    pub checks: BTreeSet<u32>,
}

impl Account {
    fn open(&self) -> Result<(), BankError> {
        match (&self.owner, self.closed) {
            (Some(_), false) => Ok(()),
            _ => Err(BankError::NotOpen),
        }
    }

    /// Checks that `amount` can leave the account.
    fn debit(&self, amount: Cents) -> Result<(), BankError> {
        self.open()?;
        match amount {
            0 => Err(BankError::ZeroAmount),
            _ if amount > self.balance => Err(BankError::Overdraft {
                balance: self.balance,
                amount,
            }),
            _ => Ok(()),
        }
    }
}

#[aggregate]
impl Account {
    #[handle]
    fn open_account(&self, cmd: &OpenAccount) -> Result<AccountOpened, BankError> {
        if self.owner.is_some() {
            return Err(BankError::AlreadyOpen);
        }
        Ok(AccountOpened {
            account_id: cmd.account_id,
            owner: cmd.owner.clone(),
        })
    }

    #[handle]
    fn deposit(&self, cmd: &Deposit) -> Result<Deposited, BankError> {
        self.open()?;
        if cmd.amount == 0 {
            return Err(BankError::ZeroAmount);
        }
        Ok(Deposited {
            account_id: cmd.account_id,
            amount: cmd.amount,
        })
    }

    #[handle]
    fn withdraw(&self, cmd: &Withdraw) -> Result<Withdrawn, BankError> {
        self.debit(cmd.amount)?;
        Ok(Withdrawn {
            account_id: cmd.account_id,
            amount: cmd.amount,
        })
    }

    #[handle]
    fn write_check(&self, cmd: &WriteCheck) -> Result<CheckWritten, BankError> {
        if self.checks.contains(&cmd.check_number) {
            return Err(BankError::CheckReused(cmd.check_number));
        }
        self.debit(cmd.amount)?;
        Ok(CheckWritten {
            account_id: cmd.account_id,
            check_number: cmd.check_number,
            payee: cmd.payee.clone(),
            amount: cmd.amount,
        })
    }

    #[handle]
    fn close(&self, cmd: &CloseAccount) -> Result<AccountClosed, BankError> {
        self.open()?;
        if self.balance > 0 {
            return Err(BankError::NotEmpty(self.balance));
        }
        Ok(AccountClosed {
            account_id: cmd.account_id,
        })
    }

    #[apply]
    fn opened(&mut self, e: &AccountOpened) {
        self.owner = Some(e.owner.clone());
    }

    #[apply]
    fn deposited(&mut self, e: &Deposited) {
        self.balance += e.amount;
    }

    #[apply]
    fn withdrawn(&mut self, e: &Withdrawn) {
        self.balance -= e.amount;
    }

    #[apply]
    fn check_written(&mut self, e: &CheckWritten) {
        self.balance -= e.amount;
        self.checks.insert(e.check_number);
    }

    #[apply]
    fn account_closed(&mut self, _: &AccountClosed) {
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use herald::testing::AggregateTest;

    use super::*;

    fn opened() -> (AccountOpened, Deposited) {
        (
            AccountOpened {
                account_id: 1,
                owner: "Ada".into(),
            },
            Deposited {
                account_id: 1,
                amount: 100,
            },
        )
    }

    #[test]
    fn withdraw_within_the_balance() {
        AggregateTest::<Account>::given(opened())
            .when(Withdraw {
                account_id: 1,
                amount: 100,
            })
            .then_expect_events(Withdrawn {
                account_id: 1,
                amount: 100,
            })
            .then_state(|account| assert_eq!(account.balance, 0));
    }

    #[test]
    fn overdrafts_are_rejected() {
        AggregateTest::<Account>::given(opened())
            .when(Withdraw {
                account_id: 1,
                amount: 101,
            })
            .then_expect_error(BankError::Overdraft {
                balance: 100,
                amount: 101,
            });
        let check = WriteCheck {
            account_id: 1,
            check_number: 7,
            payee: "Bob".into(),
            amount: 500,
        };
        AggregateTest::<Account>::given(opened())
            .when(check)
            .then_expect_error(BankError::Overdraft {
                balance: 100,
                amount: 500,
            });
    }

    #[test]
    fn checks_are_numbered_once() {
        let check = |amount| WriteCheck {
            account_id: 1,
            check_number: 7,
            payee: "Bob".into(),
            amount,
        };
        let written = CheckWritten {
            account_id: 1,
            check_number: 7,
            payee: "Bob".into(),
            amount: 10,
        };
        AggregateTest::<Account>::given(opened())
            .when(check(10))
            .then_expect_events(written);
        let (open, deposit) = opened();
        let written = CheckWritten {
            account_id: 1,
            check_number: 7,
            payee: "Bob".into(),
            amount: 10,
        };
        AggregateTest::<Account>::given((open, deposit, written))
            .when(check(10))
            .then_expect_error(BankError::CheckReused(7));
    }

    #[test]
    fn a_closed_or_unopened_account_takes_nothing() {
        AggregateTest::<Account>::given_no_events()
            .when(Deposit {
                account_id: 1,
                amount: 5,
            })
            .then_expect_error(BankError::NotOpen);
        AggregateTest::<Account>::given((
            AccountOpened {
                account_id: 1,
                owner: "Ada".into(),
            },
            AccountClosed { account_id: 1 },
        ))
        .when(Deposit {
            account_id: 1,
            amount: 5,
        })
        .then_expect_error(BankError::NotOpen);
    }

    #[tokio::test]
    async fn an_overdraft_stores_nothing_and_closing_takes_a_manager() -> Result<(), herald::Error>
    {
        let herald = Herald::builder()
            .modules(["herald_examples::bank"])
            .build()
            .await?;
        herald
            .dispatch(OpenAccount {
                account_id: 3,
                owner: "Ada".into(),
            })
            .await?;
        herald
            .dispatch(Deposit {
                account_id: 3,
                amount: 40,
            })
            .await?;
        let overdraft = herald
            .dispatch(Withdraw {
                account_id: 3,
                amount: 41,
            })
            .await
            .unwrap_err();
        assert_eq!(
            overdraft.rejection(),
            Some(&BankError::Overdraft {
                balance: 40,
                amount: 41
            })
        );
        assert_eq!(
            herald.load::<Account>(3).await?.version(),
            2,
            "the overdraft stored nothing"
        );

        herald
            .dispatch(Withdraw {
                account_id: 3,
                amount: 40,
            })
            .await?;
        let teller = Actor::new("tom", Actor::DEFAULT_TENANT).with_role("teller");
        let forbidden = herald
            .dispatch(CloseAccount { account_id: 3 })
            .actor(teller)
            .await
            .unwrap_err();
        assert!(
            matches!(forbidden.kind(), herald::ErrorKind::Forbidden { .. }),
            "{forbidden}"
        );
        let manager = Actor::new("mia", Actor::DEFAULT_TENANT).with_role("manager");
        herald
            .dispatch(CloseAccount { account_id: 3 })
            .actor(manager)
            .await?;
        assert!(herald.load::<Account>(3).await?.state().closed);
        Ok(())
    }
}
