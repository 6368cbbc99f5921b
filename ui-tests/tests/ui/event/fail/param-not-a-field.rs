use herald::prelude::*;

#[event("user.:id.created")]
struct UserCreated {
    user_id: u64,
    email: String,
}

fn main() {}
