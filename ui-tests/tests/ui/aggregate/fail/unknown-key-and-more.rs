use herald::prelude::*;

// An unknown key does not hide the item's other errors.
#[aggregate(bogus = 1, snapshot_every = 0, name = "")]
#[derive(Default)]
struct Account<T> {
    balance: T,
}

fn main() {}
