use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[hook("create.user.:id")]
async fn check(_cmd: &mut CreateUser, _cx: &mut Cx<'_>) {}

fn main() {}
