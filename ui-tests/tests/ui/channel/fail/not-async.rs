use herald::channels::{Forbidden, Join};
use herald::prelude::*;

#[event("account.:account_id.opened")]
struct Opened {
    account_id: u64,
}

#[channel("account.*")]
fn accounts(_join: &Join, _reader: &mut Reader) -> Result<(), Forbidden> {
    Ok(())
}

fn main() {}
