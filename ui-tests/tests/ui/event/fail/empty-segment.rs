use herald::prelude::*;

#[event("user..created")]
struct UserCreated {
    user_id: u64,
}

fn main() {}
