use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[saga_step("delete.user.:id", reverse = cancel)]
async fn register(_cmd: &CreateUser, _cx: &SagaCx<'_>) -> Result<u64, String> {
    Ok(1)
}

async fn cancel(_cmd: &CreateUser, _out: Option<u64>, _cx: &SagaCx<'_>) {}

fn main() {}
