use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[command("welcome.:user_id")]
struct Welcome {
    user_id: u64,
}

#[event("mail.:user_id.sent")]
struct MailSent {
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

#[aggregate]
#[derive(Default)]
struct Mailbox;

#[aggregate]
impl Mailbox {
    #[handle]
    fn welcome(&self, cmd: &Welcome) -> Result<MailSent, String> {
        Ok(MailSent { user_id: cmd.user_id })
    }

    #[apply]
    fn sent(&mut self, _: &MailSent) {}
}

#[processor("user.:user_id.created", priority = 1)]
async fn welcome(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<Vec<Welcome>, String> {
    Ok(vec![Welcome { user_id: e.user_id }])
}

#[processor("*.sent", consistency = eventual, ordered = false, partitions = 4)]
async fn later(_e: &herald::store::RecordedEvent, _cx: &mut Cx<'_>) -> Result<Option<Welcome>, herald::BoxError> {
    Ok(None)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let herald = Herald::builder().build().await.unwrap();
    herald.dispatch(CreateUser { user_id: 3 }).await.unwrap();
    let all = herald.store().read_all(herald::store::Position::START, 10).await.unwrap();
    let routes: Vec<_> = all.iter().map(|e| e.route.as_str()).collect();
    assert_eq!(routes, ["user.3.created", "mail.3.sent"]);
}
