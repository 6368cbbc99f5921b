//! Signing up users over HTTP, for several tenants (the `signup-http` binary serves it).
//! One `SignUp` command, sent as `POST /v1/commands/SignUp`:
//!
//! 1. a before hook, `email_is_free`, lowercases the address and refuses one the caller's
//!    tenant has already signed up, reading the `emails` table in the command's
//!    transaction (a 422 that names the hook);
//! 2. the `user` aggregate decides `user.:user_id.signed_up` (a user signed up twice is a
//!    422 that names the aggregate's handler);
//! 3. a strong projector, `emails`, writes the address into `emails` in the same
//!    transaction; its primary key `(tenant, email)` refuses the address a concurrent
//!    sign-up took between the hook's read and this write, so two users never share one;
//! 4. after the commit, the eventual projector `profiles` writes the user's profile row,
//!    which the application's own route `GET /profiles/{id}` reads. A caller who wants to
//!    read it right away sends `Prefer: wait-for="profiles"`.
//! 5. the channel `signups` tells every subscriber of the tenant, over the WebSocket at
//!    `/v1/channels`, of each sign-up once it has committed: the page the binary serves
//!    at `/` lists them live.
//! 6. after the commit, the eventual processor `welcome` sends the command `Welcome`,
//!    which puts `user.:user_id.welcomed` in the user's mailbox: what the trace page
//!    (`/v1/trace/`) shows under the sign-up, linked by causation and correlation ids.
//!
//! Every table is keyed by the tenant first: each tenant signs up its own users.

use herald::channels::Join;
use herald::prelude::*;

#[command("sign_up.user.:user_id")]
pub struct SignUp {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

#[event("user.:user_id.signed_up")]
pub struct SignedUp {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("`{0}` is already signed up")]
    EmailTaken(String),
    #[error("user `{0}` has signed up already")]
    SignedUp(String),
    #[error("`{0}` is not an e-mail address")]
    NotAnAddress(String),
}

#[aggregate(name = "user")]
#[derive(Default)]
pub struct User {
    pub email: Option<String>,
}

#[aggregate]
impl User {
    #[handle]
    fn sign_up(&self, cmd: &SignUp) -> Result<SignedUp, SignUpError> {
        if self.email.is_some() {
            return Err(SignUpError::SignedUp(cmd.user_id.clone()));
        }
        Ok(SignedUp {
            user_id: cmd.user_id.clone(),
            name: cmd.name.clone(),
            email: cmd.email.clone(),
        })
    }

    #[apply]
    fn signed_up(&mut self, e: &SignedUp) {
        self.email = Some(e.email.clone());
    }
}

/// 1. The address, lowercased, is not taken in the caller's tenant.
#[hook(before, "sign_up.user.:user_id")]
async fn email_is_free(cmd: &mut SignUp, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    cmd.email = cmd.email.trim().to_lowercase();
    if !cmd.email.contains('@') {
        return Err(SignUpError::NotAnAddress(cmd.email.clone()).into());
    }
    let tenant = cx.actor().tenant().to_owned();
    // One piece of SQL for SQLite and PostgreSQL (`$1` placeholders read on both).
    let taken: Option<String> = herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query_scalar("SELECT user_id FROM emails WHERE tenant = $1 AND email = $2")
            .bind(&tenant)
            .bind(&cmd.email)
            .fetch_optional(conn)
            .await
    })
    .transpose()?
    .flatten();
    match taken {
        Some(_) => Err(SignUpError::EmailTaken(cmd.email.clone()).into()),
        None => Ok(()),
    }
}

/// 3. The address is the user's, in the command's transaction: the primary key settles
/// a race the hook's read cannot see.
#[projector("user.:user_id.signed_up")]
async fn emails(e: &Recorded<SignedUp>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    let tenant = e.record().stream.tenant().to_owned();
    herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query("INSERT INTO emails (tenant, email, user_id) VALUES ($1, $2, $3)")
            .bind(&tenant)
            .bind(&e.email)
            .bind(&e.user_id)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    })
    .transpose()?;
    Ok(())
}

/// 4. The profile, after the commit, with the projector's checkpoint: each user once.
#[projector("user.:user_id.signed_up", consistency = eventual, tables = ["profiles"])]
async fn profiles(e: &Recorded<SignedUp>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    let tenant = e.record().stream.tenant().to_owned();
    let insert = format!(
        "INSERT INTO {} (tenant, user_id, name, email) VALUES ($1, $2, $3, $4)",
        cx.table("profiles")
    );
    herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query(herald::sqlx::AssertSqlSafe(insert.as_str()))
            .bind(&tenant)
            .bind(&e.user_id)
            .bind(&e.name)
            .bind(&e.email)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    })
    .transpose()?;
    Ok(())
}

/// 5. The sign-ups, live: any caller may hear those of their own tenant (a subscriber
/// never hears another tenant's events, whatever it asks for).
#[channel("user.:user_id.signed_up", name = "signups", event = SignedUp)]
async fn signups(_join: &Join, _reader: &mut Reader) -> bool {
    true
}

/// A welcome in a user's mailbox.
#[event("user.:user_id.welcomed", stream = "mailbox")]
#[derive(Clone)]
pub struct Welcomed {
    pub user_id: String,
}

/// Puts a welcome in a user's mailbox: no aggregate decides it.
#[command("welcome.user.:user_id", event = Welcomed)]
#[derive(Clone)]
pub struct Welcome {
    pub user_id: String,
}

impl From<Welcome> for Welcomed {
    fn from(cmd: Welcome) -> Self {
        Welcomed {
            user_id: cmd.user_id,
        }
    }
}

/// 6. Each new user is welcomed after the commit, by a command of its own (its id is
/// derived from the event, so a redelivered sign-up never welcomes twice).
#[processor("user.:user_id.signed_up", consistency = eventual)]
async fn welcome(e: &Recorded<SignedUp>, _cx: &mut Cx<'_>) -> Result<Welcome, herald::BoxError> {
    Ok(Welcome {
        user_id: e.user_id.clone(),
    })
}

/// The read models' tables, on SQLite or PostgreSQL.
pub async fn create_tables(herald: &Herald) -> Result<(), herald::BoxError> {
    let mut tx = herald.begin().await?;
    for create in [
        "CREATE TABLE IF NOT EXISTS emails (tenant TEXT NOT NULL, email TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (tenant, email))",
        "CREATE TABLE IF NOT EXISTS profiles (tenant TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL, PRIMARY KEY (tenant, user_id))",
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

/// A user's profile, as the `profiles` projector wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// The profile of user `user_id` of `tenant`, if the `profiles` projector has written it:
/// read through [`Herald::reader`], a pooled connection outside any write transaction
/// (on SQLite it takes no writer's lock, so it never waits for a command).
pub async fn profile(
    herald: &Herald,
    tenant: &str,
    user_id: &str,
) -> Result<Option<Profile>, herald::BoxError> {
    let mut reader = herald.reader().await?;
    let row: Option<(String, String, String)> = herald::sql!(reader.sql(), |conn| {
        herald::sqlx::query_as(
            "SELECT user_id, name, email FROM profiles WHERE tenant = $1 AND user_id = $2",
        )
        .bind(tenant)
        .bind(user_id)
        .fetch_optional(conn)
        .await
    })
    .transpose()?
    .flatten();
    Ok(row.map(|(user_id, name, email)| Profile {
        user_id,
        name,
        email,
    }))
}
