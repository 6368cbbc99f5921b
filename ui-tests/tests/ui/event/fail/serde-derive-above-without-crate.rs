use herald::prelude::*;

// The crate's own `serde`, derived above `#[event]`: the attribute cannot see the derive,
// and nothing on the item says it is there.
#[derive(serde::Serialize, serde::Deserialize)]
#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

fn main() {}
