use herald::prelude::*;

#[command("create.user.:user_id", id = "user_id")]
struct CreateUser {
    user_id: u64,
}

fn main() {}
