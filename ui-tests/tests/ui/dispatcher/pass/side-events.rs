use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[event("mail.:user_id.queued")]
struct MailQueued {
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

#[dispatcher("user.:user_id.created", priority = 1, name = "queue-mail")]
async fn mail(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<Vec<MailQueued>, String> {
    Ok(vec![MailQueued { user_id: e.user_id }])
}

#[dispatcher("user.*")]
async fn nothing(_e: &herald::store::RecordedEvent, _cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let herald = Herald::builder().build().await.unwrap();
    herald.dispatch(CreateUser { user_id: 3 }).await.unwrap();
    let all = herald.store().read_all(herald::store::Position::START, 10).await.unwrap();
    let routes: Vec<_> = all.iter().map(|e| e.route.as_str()).collect();
    assert_eq!(routes, ["user.3.created", "mail.3.queued"]);
    assert_eq!(all[1].stream.stream_type(), "dispatched:queue-mail");
}
