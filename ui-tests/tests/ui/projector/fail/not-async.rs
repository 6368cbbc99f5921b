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
fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
