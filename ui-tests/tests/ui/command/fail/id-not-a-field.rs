use herald::prelude::*;

#[command("update.user.:user_id", id = account)]
struct UpdateUser {
    user_id: u64,
    email: String,
}

fn main() {}
