//! A day at the bank, on a SQLite file kept between runs (`bank.db`), or on the store
//! `--url` (or `HERALD_URL`) names, PostgreSQL with `postgres://…`: the account is opened once, money comes and goes, a
//! check bounces as an overdraft (and nothing of it is stored), and a teller may not
//! close the account. Run it again: the account remembers.
//!
//! ```text
//! cargo run -p herald-examples --bin bank
//! cargo run -p herald-examples --bin bank -- --url postgres://postgres@127.0.0.1:5432/test
//! ```

use herald::{Actor, ErrorKind, Herald};
use herald_examples::bank::{
    Account, BankError, CloseAccount, Deposit, OpenAccount, Withdraw, WriteCheck,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = herald_examples::store_url("bank.db");
    let herald = Herald::builder()
        .modules(["herald_examples::bank"])
        .url(&url)
        .build()
        .await?;
    println!("store: {url} ({})\n", herald.store().kind());
    let account_id = 1;
    let teller = Actor::new("tom", Actor::DEFAULT_TENANT).with_role("teller");

    match herald
        .dispatch(OpenAccount {
            account_id,
            owner: "Ada".into(),
        })
        .await
    {
        Err(e) if e.rejection() == Some(&BankError::AlreadyOpen) => {
            println!("account {account_id} is open since an earlier run")
        }
        result => report("open the account", result),
    }
    report(
        "deposit 100.00",
        herald
            .dispatch(Deposit {
                account_id,
                amount: 10_000,
            })
            .await,
    );
    report(
        "withdraw 30.00",
        herald
            .dispatch(Withdraw {
                account_id,
                amount: 3_000,
            })
            .await,
    );
    let next_check = herald
        .load::<Account>(account_id)
        .await?
        .state()
        .checks
        .last()
        .map_or(101, |n| n + 1);
    let rent = WriteCheck {
        account_id,
        check_number: next_check,
        payee: "Landlord".into(),
        amount: 5_000,
    };
    report(
        &format!("check {next_check}: 50.00 to Landlord"),
        herald.dispatch(rent).await,
    );
    let balance = herald.load::<Account>(account_id).await?.state().balance;
    let bounce = WriteCheck {
        account_id,
        check_number: next_check + 1,
        payee: "Car dealer".into(),
        amount: balance + 1,
    };
    report(
        &format!(
            "check {}: {} to Car dealer",
            next_check + 1,
            money(balance + 1)
        ),
        herald.dispatch(bounce).await,
    );
    let refused = herald
        .dispatch(CloseAccount { account_id })
        .actor(teller)
        .await;
    if let Err(e) = &refused {
        assert!(matches!(e.kind(), ErrorKind::Forbidden { .. }));
    }
    report("a teller closes the account", refused);

    let account = herald.load::<Account>(account_id).await?;
    let state = account.state();
    println!(
        "\naccount {account_id} of {}: balance {}, checks written {:?}, {} events so far",
        state.owner.as_deref().unwrap_or("nobody"),
        money(state.balance),
        state.checks,
        account.version()
    );
    Ok(())
}

fn report(what: &str, result: Result<herald::Dispatched, herald::Error>) {
    match result {
        Ok(done) => {
            let routes: Vec<&str> = done.events().iter().map(|e| e.route.as_str()).collect();
            println!("ok       {what:<34} → {}", routes.join(", "));
        }
        Err(error) => println!("refused  {what:<34} → {error}"),
    }
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}
