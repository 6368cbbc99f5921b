use herald::prelude::*;

// `#[serde(crate = "…")]` says serde's derives are written by hand (above `#[event]`,
// where it cannot see them), but there are none.
#[event("user.:user_id.created")]
#[serde(crate = "herald::serde")]
struct UserCreated {
    user_id: u64,
}

fn main() {}
