use herald::prelude::*;

// Two parameters and no field named `id`: which one addresses the aggregate?
#[command("transfer.:from.:to")]
struct Transfer {
    from: u64,
    to: u64,
    amount: u64,
}

fn main() {}
