use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[projector("user.:id.created")]
struct Profiles;

fn main() {}
