use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("create.user.:user_id")]
struct CreateUser {
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

#[hook(before, "create.*", priority = -3, name = "double-id")]
async fn double(cmd: &mut CreateUser, cx: &mut Cx<'_>) -> Result<(), String> {
    assert_eq!(cx.actor().id(), "system");
    if cmd.user_id > 100 {
        return Err("too big".into());
    }
    Ok(())
}

#[hook(after, "create.user.:id?")]
async fn look(cmd: &CreateUser, _cx: &mut Cx<'_>) {
    assert!(cmd.user_id > 0);
}

#[projector("user.:user_id.created")]
async fn typed(e: &Recorded<UserCreated>, cx: &mut Cx<'_>) {
    assert_eq!(cx.param("user_id"), Some(e.user_id.to_string().as_str()));
}

#[projector("*.created", consistency = strong, priority = 2)]
async fn any(e: &herald::store::RecordedEvent, _cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    assert_eq!(e.name, "UserCreated");
    Ok(())
}

#[projector("user.*", consistency = eventual)]
async fn later(_e: &herald::store::RecordedEvent, _cx: &mut Cx<'_>) {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let herald = Herald::builder().build().await.unwrap();
    let created = herald.dispatch(CreateUser { user_id: 7 }).await.unwrap();
    let handlers: Vec<_> = created.trace().nodes().filter_map(|n| n.handler.clone()).collect();
    for name in ["double-id", "look", "typed", "any"] {
        assert!(handlers.iter().any(|h| h == name), "{name} ran: {handlers:?}");
    }
    assert!(herald.dispatch(CreateUser { user_id: 700 }).await.is_err());
}
