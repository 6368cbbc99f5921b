use herald::prelude::*;

#[command("create.user.:user_id")]
struct CreateUser {
    user_id: u64,
}

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[aggregate]
#[derive(Default)]
struct User;

#[aggregate]
impl User {
    #[handle]
    fn create(&self, cmd: &CreateUser) -> Result<UserCreated, String> {
        Ok(UserCreated { user_id: cmd.user_id })
    }

    #[apply]
    fn created(&mut self, _: &UserCreated) {}
}

#[saga_step("create.user.:id", reverse = cancel, priority = 2, name = "crm")]
async fn register(cmd: &CreateUser, cx: &SagaCx<'_>) -> Result<u64, String> {
    assert_eq!(cx.attempt(), 1);
    Ok(cmd.user_id + 1000)
}

async fn cancel(_cmd: &CreateUser, _out: Option<u64>, _cx: &SagaCx<'_>) -> Result<(), String> {
    Ok(())
}

#[saga_step("create.user.:user_id", reverse = forget, late)]
async fn welcome(_cmd: &CreateUser, cx: &SagaCx<'_>) -> Result<(), String> {
    assert_eq!(cx.events().len(), 1);
    Ok(())
}

async fn forget(_cmd: &CreateUser, _out: Option<()>, _cx: &SagaCx<'_>) {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let herald = Herald::builder().build().await.unwrap();
    let created = herald.dispatch(CreateUser { user_id: 3 }).await.unwrap();
    assert!(created.trace().nodes().any(|n| n.handler.as_deref() == Some("crm")));
    assert!(created.trace().nodes().any(|n| n.handler.as_deref() == Some("welcome")));
}
