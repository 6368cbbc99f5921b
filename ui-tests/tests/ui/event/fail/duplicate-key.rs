use herald::prelude::*;

#[event("user.:user_id.created", name = "user-created", name = "created")]
struct UserCreated {
    user_id: u64,
}

fn main() {}
