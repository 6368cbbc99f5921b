use herald::prelude::*;

#[command(id = user_id)]
struct CreateUser {
    user_id: u64,
}

fn main() {}
