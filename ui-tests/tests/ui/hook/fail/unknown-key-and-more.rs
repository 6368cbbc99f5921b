use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

// An unknown key does not hide the hook's other errors.
#[hook(before, "create..user", bogus = 1, priority = "high")]
async fn check(cmd: CreateUser, _cx: &mut Cx<'_>) {}

fn main() {}
