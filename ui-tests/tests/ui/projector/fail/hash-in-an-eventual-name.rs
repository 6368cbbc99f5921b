use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// The store keeps partition k of N of consumer `x` as `x#k/N`.
#[projector("user.:id.created", consistency = eventual, name = "profiles#2")]
async fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
