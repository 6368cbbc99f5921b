use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// A strong projector runs in the command's transaction, in the process that dispatched
// it: there is nothing to split between processes.
#[projector("user.:id.created", partitions = 4)]
async fn project(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
