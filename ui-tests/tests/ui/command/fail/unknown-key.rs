use herald::prelude::*;

#[command("create.user.:user_id", role = "admin")]
struct CreateUser {
    user_id: u64,
}

fn main() {}
