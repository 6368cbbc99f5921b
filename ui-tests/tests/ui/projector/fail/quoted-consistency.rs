use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[projector("user.:user_id.created", consistency = "eventual")]
async fn profile(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
