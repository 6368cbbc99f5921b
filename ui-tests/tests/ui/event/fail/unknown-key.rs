use herald::prelude::*;

#[event("user.:user_id.created", schema = 2)]
struct UserCreated {
    user_id: u64,
}

fn main() {}
