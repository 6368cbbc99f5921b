use herald::prelude::*;

#[event("robot.:path.walked")]
struct Walked {
    path: Vec<u32>,
}

fn main() {}
