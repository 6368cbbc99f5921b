use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[saga_step("create.user.:user_id", reverse = cancel)]
async fn register(_cmd: &CreateUser, _cx: &mut Cx<'_>) -> Result<(), String> {
    Ok(())
}

async fn cancel(_cmd: &CreateUser, _out: Option<()>, _cx: &SagaCx<'_>) {}

fn main() {}
