use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

// `ordered` says what an eventual consumer does behind a parked event; a strong projector
// parks nothing.
#[projector("user.:id.created", ordered = false)]
async fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
