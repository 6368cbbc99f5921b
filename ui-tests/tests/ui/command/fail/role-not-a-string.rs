use herald::prelude::*;

#[command("create.user.:user_id", roles = [admin, "manager", "manager"])]
struct CreateUser {
    user_id: u64,
}

fn main() {}
