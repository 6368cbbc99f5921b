use herald::prelude::*;

#[command("create.user.")]
struct CreateUser {
    id: u64,
}

fn main() {}
