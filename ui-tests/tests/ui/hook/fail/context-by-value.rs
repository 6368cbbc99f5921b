use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[hook(before, "create.user.:user_id")]
async fn check(_cmd: &mut CreateUser, _cx: Cx<'_>) {}

fn main() {}
