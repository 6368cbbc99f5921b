use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// `version` versions the declared tables, for their snapshots: without tables there is
// nothing to version.
#[projector("user.:user_id.created", consistency = eventual, version = 2)]
async fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

// Versions start at 1.
#[projector("user.:user_id.created", consistency = eventual, tables = ["profiles"], version = 0)]
async fn zero(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
