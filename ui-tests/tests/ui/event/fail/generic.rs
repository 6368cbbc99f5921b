use herald::prelude::*;

#[event("box.:id.packed")]
struct Packed<T> {
    id: u64,
    item: T,
}

fn main() {}
