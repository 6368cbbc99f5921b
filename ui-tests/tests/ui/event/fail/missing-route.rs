use herald::prelude::*;

#[event]
struct UserCreated {
    user_id: u64,
}

fn main() {}
