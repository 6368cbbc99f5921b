use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("welcome.:user_id")]
struct Welcome {
    user_id: u64,
}

#[processor("user.:id.deleted")]
async fn never(_e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<(), String> {
    Ok(())
}

fn main() {}
