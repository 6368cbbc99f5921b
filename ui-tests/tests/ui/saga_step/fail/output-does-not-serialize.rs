use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

struct Handle;

#[saga_step("create.user.:id", reverse = cancel)]
async fn register(_cmd: &CreateUser, _cx: &SagaCx<'_>) -> Result<Handle, String> {
    Ok(Handle)
}

async fn cancel(_cmd: &CreateUser, _out: Option<Handle>, _cx: &SagaCx<'_>) {}

fn main() {}
