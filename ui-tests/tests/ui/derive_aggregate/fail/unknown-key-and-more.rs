use herald::prelude::*;
use herald::serde::{Deserialize, Serialize};

// Every error of the derive at once: an unknown key, a zero, an empty name, generics.
#[derive(Default, Aggregate, Serialize, Deserialize)]
#[herald(snapshots = 100, snapshot_every = 0)]
#[herald(name = "")]
#[serde(crate = "herald::serde")]
struct Account<T> {
    balance: T,
}

fn main() {}
