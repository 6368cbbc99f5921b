use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

// An unknown key does not hide the step's other errors.
#[saga_step("create.user.:user_id", bogus = 1, name = "")]
async fn register(cmd: &mut CreateUser, _cx: &SagaCx<'_>) -> Result<(), String> {
    Ok(())
}

fn main() {}
