use herald::channels::{Forbidden, Join};
use herald::prelude::*;

#[event("account.:account_id.opened")]
struct Opened {
    account_id: u64,
}

#[event("account.:account_id.deposited")]
struct Deposited {
    account_id: u64,
}

/// Any event of an account; one's own only.
#[channel("account.:account_id.*", "audit.account.:account_id")]
async fn accounts(join: &Join, _reader: &mut Reader) -> Result<(), Forbidden> {
    match join.param("account_id") {
        Some(id) if id == join.actor().id() => Ok(()),
        _ => Err(Forbidden::new("your own account only")),
    }
}

/// Typed, named, deciding with a `bool`.
#[channel("account.*", "*.deposited", name = "deposits", event = Deposited)]
async fn deposits(join: &Join, _reader: &mut Reader) -> bool {
    join.actor().has_role("manager")
}

fn main() {
    let registry = herald::Registry::modules([module_path!()]);
    let names: Vec<_> = registry.channel_names().collect();
    assert_eq!(names, ["accounts", "deposits"]);
    let _ = Opened { account_id: 1 };
}
