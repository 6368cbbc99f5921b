use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[event("mail.:user_id.queued")]
struct MailQueued {
    user_id: u64,
}

#[dispatcher("user.:id.created", consistency = eventual)]
async fn mail(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<MailQueued, String> {
    Ok(MailQueued { user_id: e.user_id })
}

fn main() {}
