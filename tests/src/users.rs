//! Users, with hooks and projectors around them, for the handler suite.
#![allow(missing_docs, reason = "test fixtures")]

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use herald::prelude::*;
use herald::store::{RecordedEvent, Sql};

#[event("user.:user_id.created")]
pub struct UserCreated {
    pub user_id: String,
    pub email: String,
    /// The hooks that saw the command, in order.
    pub trail: Vec<String>,
    /// The CRM's reference, from the saga.
    pub crm: Option<u64>,
}

#[command("create.user.:user_id")]
pub struct CreateUser {
    pub user_id: String,
    pub email: String,
    pub trail: Vec<String>,
    pub crm: Option<u64>,
}

#[aggregate]
#[derive(Default)]
pub struct User {
    pub created: bool,
}

#[aggregate]
impl User {
    #[handle]
    fn create(&self, cmd: &CreateUser) -> Result<UserCreated, String> {
        if self.created {
            return Err("the user exists".into());
        }
        Ok(UserCreated {
            user_id: cmd.user_id.clone(),
            email: cmd.email.clone(),
            trail: cmd.trail.clone(),
            crm: cmd.crm,
        })
    }

    #[apply]
    fn created(&mut self, _: &UserCreated) {
        self.created = true;
    }
}

/// What ran, by user id, for the handlers whose effects are not in a database.
static SEEN: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

pub fn seen(user_id: &str) -> Vec<String> {
    let seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.as_ref()
        .and_then(|s| s.get(user_id).cloned())
        .unwrap_or_default()
}

fn saw(user_id: &str, what: &str) {
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.get_or_insert_with(HashMap::new)
        .entry(user_id.to_owned())
        .or_default()
        .push(what.to_owned());
}

// Hooks, declared out of order: priority decides, then the name.

#[hook(after, "create.user.:user_id")]
async fn after_all(cmd: &mut CreateUser, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    cmd.trail.push("after_all".into());
    cmd.crm = cx.saga_output::<u64>("register_crm").transpose()?;
    if cmd.email.starts_with("slow@") {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    Ok(())
}

/// What the "third parties" of the saga did, by user id.
static SAGA: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

pub fn saga(user_id: &str) -> Vec<String> {
    let saga = SAGA.lock().unwrap_or_else(PoisonError::into_inner);
    saga.as_ref()
        .and_then(|s| s.get(user_id).cloned())
        .unwrap_or_default()
}

fn third_party(user_id: &str, what: String) {
    let mut saga = SAGA.lock().unwrap_or_else(PoisonError::into_inner);
    saga.get_or_insert_with(HashMap::new)
        .entry(user_id.to_owned())
        .or_default()
        .push(what);
}

/// Registers the user with a CRM; its reference comes back.
#[saga_step("create.user.:user_id", reverse = unregister_crm, priority = 1)]
async fn register_crm(cmd: &CreateUser, cx: &SagaCx<'_>) -> Result<u64, String> {
    assert_eq!(cx.param("user_id"), Some(cmd.user_id.as_str()));
    third_party(&cmd.user_id, "register".into());
    Ok(4242)
}

async fn unregister_crm(cmd: &CreateUser, reference: Option<u64>, _cx: &SagaCx<'_>) {
    third_party(&cmd.user_id, format!("unregister {reference:?}"));
}

/// Reserves the e-mail address elsewhere: down for `taken@…`, flaky for `flaky@…`.
#[saga_step("create.*", reverse = release_address, priority = 2)]
async fn reserve_address(cmd: &CreateUser, cx: &SagaCx<'_>) -> Result<(), String> {
    third_party(&cmd.user_id, format!("reserve, attempt {}", cx.attempt()));
    if cmd.email.starts_with("taken@") || (cmd.email.starts_with("flaky@") && cx.attempt() == 1) {
        return Err(format!("{} is taken", cmd.email));
    }
    Ok(())
}

async fn release_address(cmd: &CreateUser, _: Option<()>, _cx: &SagaCx<'_>) {
    third_party(&cmd.user_id, "release".into());
}

#[hook(before, "create.*", priority = 2)]
async fn b_second(cmd: &mut CreateUser, _cx: &mut Cx<'_>) {
    cmd.trail.push("b_second".into());
}

#[hook(before, "create.user.:id", priority = 2)]
async fn a_second(cmd: &mut CreateUser, cx: &mut Cx<'_>) -> Result<(), String> {
    assert_eq!(cx.param("id"), Some(cmd.user_id.as_str()));
    cmd.trail.push("a_second".into());
    if cmd.email.starts_with("reject@") {
        return Err(format!("{} is not welcome", cmd.email));
    }
    if cmd.email.starts_with("move@") {
        cmd.user_id.push_str("-moved");
    }
    Ok(())
}

#[hook(before, "create.user.:user_id", priority = -1, name = "first")]
async fn lowercase(cmd: &mut CreateUser, _cx: &mut Cx<'_>) {
    cmd.email = cmd.email.to_lowercase();
    cmd.trail.push("first".into());
}

/// Writes the profile table in the command's transaction (on the SQL stores).
#[projector("user.:user_id.created")]
async fn profile_row(e: &Recorded<UserCreated>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    // A stream belongs to its tenant: a projector sees its command's tenant's events.
    assert_eq!(cx.actor().tenant(), e.record().stream.tenant());
    saw(&e.user_id, "profile_row");
    match cx.sql() {
        Sql::Sqlite(conn) => {
            sqlx::query("INSERT INTO profiles (user_id, email) VALUES (?, ?)")
                .bind(&e.user_id)
                .bind(&e.email)
                .execute(conn)
                .await?;
        }
        Sql::Postgres(conn) => {
            sqlx::query("INSERT INTO profiles (user_id, email) VALUES ($1, $2)")
                .bind(&e.user_id)
                .bind(&e.email)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Runs after `profile_row` and fails for some addresses: the whole command rolls back.
#[projector("user.:user_id.created", priority = 5)]
async fn mailing_list(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) -> Result<(), String> {
    saw(&e.user_id, "mailing_list");
    let first = seen(&e.user_id)
        .iter()
        .filter(|s| *s == "mailing_list")
        .count()
        == 1;
    match e.email.starts_with("fail@") || (e.email.starts_with("once@") && first) {
        true => Err("the mailing list is down".into()),
        false => Ok(()),
    }
}

/// Any event of a user, untyped.
#[projector("user.*", priority = 9)]
async fn audit(e: &RecordedEvent, _cx: &mut Cx<'_>) {
    let user_id = e.payload["user_id"].as_str().unwrap_or_default().to_owned();
    saw(&user_id, &format!("audit {}", e.route));
}

/// Run by a worker after the command commits, not in its transaction.
#[projector("user.:user_id.created", consistency = eventual)]
async fn later(e: &Recorded<UserCreated>, _cx: &mut Cx<'_>) {
    saw(&e.user_id, "later");
}

#[event("friends.:user_id.listed")]
pub struct FriendsListed {
    pub user_id: String,
}

#[command("list.friends.:user_id")]
pub struct ListFriends {
    pub user_id: String,
    /// Makes the friend list refuse: the user's creation rolls back with it.
    pub refuse: bool,
}

#[aggregate(name = "friends")]
#[derive(Default)]
pub struct FriendList {
    pub listed: bool,
}

#[aggregate]
impl FriendList {
    #[handle]
    fn list(&self, cmd: &ListFriends) -> Result<FriendsListed, String> {
        if cmd.refuse {
            return Err("no friend list today".into());
        }
        Ok(FriendsListed {
            user_id: cmd.user_id.clone(),
        })
    }

    #[apply]
    fn listed(&mut self, _: &FriendsListed) {
        self.listed = true;
    }
}

/// Every new user gets a friend list (a second aggregate), in the same transaction.
#[processor("user.:user_id.created", priority = 3)]
async fn friend_list(
    e: &Recorded<UserCreated>,
    _cx: &mut Cx<'_>,
) -> Result<Option<ListFriends>, String> {
    saw(&e.user_id, "friend_list");
    Ok((!e.email.starts_with("lonely@")).then(|| ListFriends {
        user_id: e.user_id.clone(),
        refuse: e.email.starts_with("refuse@"),
    }))
}

#[event("mail.:user_id.queued")]
pub struct WelcomeQueued {
    pub user_id: String,
    pub to: String,
}

/// A side event for each new user: no command, no aggregate.
#[dispatcher("user.:user_id.created", priority = 4)]
async fn welcome_mail(
    e: &Recorded<UserCreated>,
    _cx: &mut Cx<'_>,
) -> Result<WelcomeQueued, String> {
    saw(&e.user_id, "welcome_mail");
    Ok(WelcomeQueued {
        user_id: e.user_id.clone(),
        to: e.email.clone(),
    })
}

/// Side events reach strong handlers too.
#[projector("mail.:user_id.queued")]
async fn outbox(e: &Recorded<WelcomeQueued>, _cx: &mut Cx<'_>) {
    saw(&e.user_id, "outbox");
}

/// A runtime of the users on `store`, with its profile table.
pub async fn herald(store: &std::sync::Arc<dyn herald::store::EventStore>) -> Herald {
    let herald = Herald::builder()
        .modules(["herald_tests::users"])
        .store(store.clone())
        .saga_retry(
            herald::RetryPolicy::new(3)
                .base(std::time::Duration::from_millis(1))
                .cap(std::time::Duration::from_millis(5)),
        )
        .build()
        .await
        .expect("the users' registrations are consistent");
    let mut tx = herald.begin().await.unwrap();
    let create =
        "CREATE TABLE IF NOT EXISTS profiles (user_id TEXT PRIMARY KEY, email TEXT NOT NULL)";
    match tx.sql() {
        Sql::Sqlite(conn) => drop(sqlx::query(create).execute(conn).await.unwrap()),
        Sql::Postgres(conn) => drop(sqlx::query(create).execute(conn).await.unwrap()),
        _ => {}
    }
    tx.commit().await.unwrap();
    herald
}

/// The e-mail in the profile table, read outside any command; `None` on the memory store.
pub async fn profile(
    store: &dyn herald::store::EventStore,
    user_id: &str,
) -> Option<Option<String>> {
    let mut tx = store.begin().await.unwrap();
    let email = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_scalar("SELECT email FROM profiles WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(conn)
            .await
            .unwrap(),
        Sql::Postgres(conn) => sqlx::query_scalar("SELECT email FROM profiles WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await
            .unwrap(),
        _ => return None,
    };
    Some(email)
}
