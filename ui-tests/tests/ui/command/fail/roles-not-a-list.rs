use herald::prelude::*;

#[command("close.account.:id", roles = "manager")]
struct Close {
    id: u64,
}

fn main() {}
