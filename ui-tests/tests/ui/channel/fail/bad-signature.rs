use herald::channels::{Forbidden, Join};
use herald::prelude::*;

#[event("account.:account_id.opened")]
struct Opened {
    account_id: u64,
}

#[channel("account.*")]
async fn by_value(_join: Join, _reader: &Reader) -> Result<(), Forbidden> {
    Ok(())
}

#[channel("account.*")]
async fn swapped(_reader: &mut Reader, _join: &Join) -> Result<(), Forbidden> {
    Ok(())
}

#[channel("account.*")]
async fn one_parameter(_join: &Join) -> Result<(), Forbidden> {
    Ok(())
}

fn main() {}
