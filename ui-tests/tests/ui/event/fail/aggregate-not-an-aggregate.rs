use herald::prelude::*;

struct Door;

#[event("door.:id.opened", aggregate = Door)]
struct Opened {
    id: u64,
}

fn main() {}
