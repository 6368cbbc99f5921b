use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// An unknown key does not hide the processor's other errors.
#[processor("user..created", bogus = 1, ordered = true)]
async fn welcome(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
