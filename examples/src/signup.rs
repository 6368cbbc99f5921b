//! Signing up a user, the application Herald is built around. One `create.user` command
//! runs the whole broadcast loop:
//!
//! 1. a before hook checks the e-mail address is unique, against the `profiles` read
//!    model, in the command's transaction;
//! 2. a saga step registers the user with a (simulated) CRM, outside the transaction, and
//!    cancels the registration if anything later fails;
//! 3. an after hook puts the CRM's reference on the command;
//! 4. the `user` aggregate decides `user.:user_id.created`;
//! 5. a strong projector writes the profile row, a processor creates the user's friend
//!    list (a second aggregate, nested in the same transaction), and a dispatcher derives
//!    a `mail.:user_id.queued` side event.
//!
//! Everything commits together, or nothing does and the CRM registration is cancelled.
//!
//! 6. After the commit, an eventual projector counts sign-ups per e-mail domain, from
//!    a checkpointed subscription of its own: it catches up with every committed user,
//!    and its failures never undo a sign-up.

use std::sync::Mutex;

use herald::prelude::*;

/// Makes the profile projector fail, to watch the compensation.
pub static FAIL_PROJECTION: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The simulated CRM: who is registered there.
pub static CRM: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[event("user.:user_id.created")]
pub struct UserCreated {
    pub user_id: String,
    pub email: String,
    pub crm_reference: String,
}

#[command("create.user.:user_id")]
pub struct CreateUser {
    pub user_id: String,
    pub email: String,
    /// Filled in by the after hook, from the saga.
    pub crm_reference: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("`{0}` is already signed up")]
    Taken(String),
    #[error("the user exists")]
    Exists,
    #[error("the CRM gave no reference")]
    NoReference,
}

#[aggregate(name = "user")]
#[derive(Default)]
pub struct User {
    pub email: Option<String>,
}

#[aggregate]
impl User {
    #[handle]
    fn create(&self, cmd: &CreateUser) -> Result<UserCreated, SignupError> {
        if self.email.is_some() {
            return Err(SignupError::Exists);
        }
        Ok(UserCreated {
            user_id: cmd.user_id.clone(),
            email: cmd.email.clone(),
            crm_reference: cmd.crm_reference.clone().ok_or(SignupError::NoReference)?,
        })
    }

    #[apply]
    fn created(&mut self, e: &UserCreated) {
        self.email = Some(e.email.clone());
    }
}

#[event("friends.:user_id.listed")]
pub struct FriendListCreated {
    pub user_id: String,
}

#[command("create.friends.:user_id")]
pub struct CreateFriendList {
    pub user_id: String,
}

#[aggregate(name = "friends")]
#[derive(Default)]
pub struct FriendList {
    pub friends: Vec<String>,
}

#[aggregate]
impl FriendList {
    #[handle]
    fn create(&self, cmd: &CreateFriendList) -> Result<FriendListCreated, String> {
        Ok(FriendListCreated {
            user_id: cmd.user_id.clone(),
        })
    }

    #[apply]
    fn created(&mut self, _: &FriendListCreated) {}
}

#[event("mail.:user_id.queued")]
pub struct WelcomeMailQueued {
    pub user_id: String,
    pub to: String,
}

/// 1. The address is not taken yet (the profiles read model, in the transaction).
#[hook(before, "create.user.:user_id", priority = 1)]
async fn email_is_unique(cmd: &mut CreateUser, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    cmd.email = cmd.email.trim().to_lowercase();
    // One piece of SQL for SQLite and PostgreSQL (`$1` placeholders read on both).
    let taken: Option<String> = herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query_scalar("SELECT user_id FROM profiles WHERE email = $1")
            .bind(&cmd.email)
            .fetch_optional(conn)
            .await
    })
    .transpose()?
    .flatten();
    match taken {
        Some(_) => Err(SignupError::Taken(cmd.email.clone()).into()),
        None => Ok(()),
    }
}

/// 2. The CRM learns of the user; its reference comes back.
#[saga_step("create.user.:user_id", reverse = cancel_crm_registration)]
async fn register_with_crm(cmd: &CreateUser, _cx: &SagaCx<'_>) -> Result<String, String> {
    CRM.lock()
        .map_err(|e| e.to_string())?
        .push(cmd.user_id.clone());
    Ok(format!("crm-{}", cmd.user_id))
}

async fn cancel_crm_registration(cmd: &CreateUser, reference: Option<String>, _cx: &SagaCx<'_>) {
    if let Ok(mut crm) = CRM.lock() {
        crm.retain(|id| *id != cmd.user_id);
    }
    println!(
        "  compensation: CRM registration {} of {} cancelled",
        reference.as_deref().unwrap_or("(none)"),
        cmd.user_id
    );
}

/// 3. The command carries the CRM's reference into the event.
#[hook(after, "create.user.:user_id")]
async fn keep_crm_reference(cmd: &mut CreateUser, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    cmd.crm_reference = cx.saga_output("register_with_crm").transpose()?;
    Ok(())
}

/// 5a. The profile row, written with the event.
#[projector("user.:user_id.created")]
async fn profile_row(e: &Recorded<UserCreated>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    if FAIL_PROJECTION.load(std::sync::atomic::Ordering::Relaxed) {
        return Err("the profile table is full (as --fail asked)".into());
    }
    herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query(
            "INSERT INTO profiles (user_id, email, crm_reference) VALUES ($1, $2, $3)",
        )
        .bind(&e.user_id)
        .bind(&e.email)
        .bind(&e.crm_reference)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
    })
    .transpose()?;
    Ok(())
}

/// 5b. Every user gets a friend list: a second aggregate, in the same transaction.
#[processor("user.:user_id.created", priority = 1)]
async fn create_friend_list(
    e: &Recorded<UserCreated>,
    _cx: &mut Cx<'_>,
) -> Result<CreateFriendList, String> {
    Ok(CreateFriendList {
        user_id: e.user_id.clone(),
    })
}

/// 5c. A welcome mail, as a side event: no command, no aggregate.
#[dispatcher("user.:user_id.created", priority = 2)]
async fn welcome_mail(
    e: &Recorded<UserCreated>,
    _cx: &mut Cx<'_>,
) -> Result<WelcomeMailQueued, String> {
    Ok(WelcomeMailQueued {
        user_id: e.user_id.clone(),
        to: e.email.clone(),
    })
}

/// 6. Sign-ups per domain, after the commit: written with the projector's checkpoint, so
/// each user counts once even if the process stops half-way.
/// It declares its table and writes it through `cx.table`, so that it can be rebuilt
/// aside (`signup -- --rebuild`) and swapped in.
#[projector(
    "user.:user_id.created",
    consistency = eventual,
    tables = ["signups_by_domain"]
)]
async fn signups_by_domain(
    e: &Recorded<UserCreated>,
    cx: &mut Cx<'_>,
) -> Result<(), herald::BoxError> {
    let domain = e.email.rsplit('@').next().unwrap_or_default();
    let table = cx.table("signups_by_domain");
    let upsert = format!(
        "INSERT INTO {table} (domain, users) VALUES ($1, 1) \
         ON CONFLICT (domain) DO UPDATE SET users = {table}.users + 1"
    );
    herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query(herald::sqlx::AssertSqlSafe(upsert.as_str()))
            .bind(domain)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    })
    .transpose()?;
    Ok(())
}

/// The read models' tables, on SQLite or PostgreSQL (`BIGINT` reads as an `i64` on both).
pub async fn create_tables(herald: &Herald) -> Result<(), herald::BoxError> {
    let mut tx = herald.begin().await?;
    for create in [
        "CREATE TABLE IF NOT EXISTS profiles (user_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, crm_reference TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS signups_by_domain (domain TEXT PRIMARY KEY, users BIGINT NOT NULL)",
    ] {
        herald::sql!(tx.sql(), |conn| {
            herald::sqlx::query(create)
                .execute(conn)
                .await
                .map(|done| done.rows_affected())
        })
        .transpose()?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sign-ups by domain, read from the read model (outside any command).
pub async fn signups(herald: &Herald) -> Result<Vec<(String, i64)>, herald::BoxError> {
    let mut tx = herald.begin().await?;
    let rows = herald::sql!(tx.sql(), |conn| {
        herald::sqlx::query_as("SELECT domain, users FROM signups_by_domain ORDER BY domain")
            .fetch_all(conn)
            .await
    })
    .transpose()?
    .unwrap_or_default();
    tx.rollback().await?;
    Ok(rows)
}
