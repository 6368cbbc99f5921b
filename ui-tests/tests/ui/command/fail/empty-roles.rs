use herald::prelude::*;

#[command("create.user.:user_id", roles = [])]
struct CreateUser {
    user_id: u64,
}

fn main() {}
