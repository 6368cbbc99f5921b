use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

struct Other;

#[projector("user.:id.created")]
async fn project(_e: &Recorded<Other>, _cx: &mut Cx<'_>) {}

fn main() {}
