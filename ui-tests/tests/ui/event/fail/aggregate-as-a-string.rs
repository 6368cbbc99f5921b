use herald::prelude::*;

#[event("door.:id.opened", aggregate = "door")]
struct Opened {
    id: u64,
}

fn main() {}
