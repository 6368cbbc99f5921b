use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[saga_step("create.user.:id")]
async fn register(_cmd: &CreateUser, _cx: &SagaCx<'_>) -> Result<u64, String> {
    Ok(1)
}

fn main() {}
