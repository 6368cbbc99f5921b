use herald::prelude::*;

#[event("user.:user_id.created")]
struct UserCreated {
    user_id: u64,
}

#[event("mail.:user_id.queued")]
struct MailQueued {
    user_id: u64,
}

#[dispatcher("user.:id.created")]
async fn mail(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<u64, String> {
    Ok(e.user_id)
}

fn main() {}
