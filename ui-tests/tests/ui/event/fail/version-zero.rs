use herald::prelude::*;

#[event("user.:user_id.created", version = 0)]
struct UserCreated {
    user_id: u64,
}

fn main() {}
