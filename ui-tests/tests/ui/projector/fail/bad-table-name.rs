use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[projector("user.:id.created", consistency = eventual, tables = ["user profiles", "emails", "emails"])]
async fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
