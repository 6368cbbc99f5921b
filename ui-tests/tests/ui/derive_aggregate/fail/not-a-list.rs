use herald::prelude::*;
use herald::serde::{Deserialize, Serialize};

#[derive(Default, Aggregate, Serialize, Deserialize)]
#[herald = "account"]
#[serde(crate = "herald::serde")]
struct Account;

fn main() {}
