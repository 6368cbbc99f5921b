use herald::prelude::*;

#[command("move.:id.to.:id")]
struct Move {
    id: u64,
}

fn main() {}
