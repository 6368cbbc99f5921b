use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// No partitions at all would leave every stream unhandled.
#[projector("user.:id.created", consistency = eventual, partitions = 0)]
async fn none(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

// A count in a string is not a count.
#[projector("user.:id.created", consistency = eventual, partitions = "4")]
async fn quoted(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

// Every partition's worker reads the whole global order.
#[projector("user.:id.created", consistency = eventual, partitions = 1000)]
async fn too_many(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
