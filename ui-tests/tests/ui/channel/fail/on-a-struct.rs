use herald::prelude::*;

#[event("account.:account_id.opened")]
struct Opened {
    account_id: u64,
}

#[channel("account.*")]
struct Accounts;

fn main() {}
