use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// An unknown key does not hide the projector's other errors.
#[projector("user.:user_id.created", bogus = 1, partitions = 0, name = "")]
async fn profile(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
