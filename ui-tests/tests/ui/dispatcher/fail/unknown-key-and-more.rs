use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

// An unknown key does not hide the dispatcher's other errors.
#[dispatcher("user.:user_id.created", bogus = 1, priority = "first")]
async fn mail(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {}

fn main() {}
