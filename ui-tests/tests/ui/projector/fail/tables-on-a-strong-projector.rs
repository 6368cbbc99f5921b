use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// A strong projector's tables change with the commands; only an eventual one is rebuilt.
#[projector("user.:id.created", tables = ["profiles"])]
async fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
