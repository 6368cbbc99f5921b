//! The HTTP door through a real client against a real server on a loopback port, on every
//! store: commands with their headers, every problem status, idempotency races, tenant
//! isolation on every route, the reads, bad input that writes nothing. This file holds
//! the domain the suite runs on and the helpers its modules share.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use herald::http::{Api, StaticTokens};
use herald::prelude::*;
use herald::{Actor, Herald};
use herald_tests::backends::TestStore;
use herald_tests::http::{Served, client};
use herald_tests::on_every_backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod commands;
mod consumers;
mod door;
mod events;
mod reads;
mod trace;

#[event("member.:member_id.joined")]
struct Joined {
    member_id: String,
    email: String,
}

#[event("member.:member_id.banned")]
struct Banned {
    member_id: String,
}

/// Recorded without an aggregate, in the streams `notes`.
#[event("member.:member_id.noted", stream = "notes")]
struct Noted {
    member_id: String,
    text: String,
}

#[command("join.member.:member_id")]
struct Join {
    member_id: String,
    email: String,
}

#[command("ban.member.:member_id", roles = ["admin"])]
struct Ban {
    member_id: String,
}

#[aggregate(name = "member")]
#[derive(Default)]
struct Member {
    email: Option<String>,
    banned: bool,
}

#[aggregate]
impl Member {
    #[handle]
    fn join(&self, cmd: &Join) -> Result<Joined, String> {
        if self.email.is_some() {
            return Err(format!("member {} has joined already", cmd.member_id));
        }
        Ok(Joined {
            member_id: cmd.member_id.clone(),
            email: cmd.email.clone(),
        })
    }

    #[handle]
    fn ban(&self, cmd: &Ban) -> Result<Banned, String> {
        if self.email.is_none() {
            return Err("no such member".into());
        }
        Ok(Banned {
            member_id: cmd.member_id.clone(),
        })
    }

    #[apply]
    fn joined(&mut self, e: &Joined) {
        self.email = Some(e.email.clone());
    }

    #[apply]
    fn banned(&mut self, _: &Banned) {
        self.banned = true;
    }
}

/// Rejects spam; holds its transaction (and the store's writer or connection) for a while
/// when the e-mail says so.
#[hook(before, "join.member.:member_id")]
async fn no_spam(cmd: &mut Join, _cx: &mut Cx<'_>) -> Result<(), String> {
    if cmd.email.starts_with("hold") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if cmd.email.ends_with("@spam.example") {
        return Err(format!("{} is a spam address", cmd.email));
    }
    Ok(())
}

static PROFILES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// The eventual read model: slow when the e-mail says so.
#[projector("member.:member_id.joined", consistency = eventual)]
async fn profiles(e: &Recorded<Joined>, _cx: &mut Cx<'_>) -> Result<(), String> {
    if e.email.starts_with("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    PROFILES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(e.member_id.clone(), e.email.clone());
    Ok(())
}

fn profile(member: &str) -> Option<String> {
    let profiles = PROFILES.lock().unwrap_or_else(PoisonError::into_inner);
    profiles.as_ref().and_then(|p| p.get(member).cloned())
}

const ADA: &str = "ada-token";
const BOB: &str = "bob-token";
const ROOT: &str = "root-token";

fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token(ADA, Actor::new("ada", "acme"))
        .token(
            ROOT,
            Actor::new("root", "acme")
                .with_role("admin")
                .with_role("operator"),
        )
        .token(BOB, Actor::new("bob", "globex"))
}

async fn serve(test: &TestStore) -> (Herald, Served) {
    serve_with(test, |api| api).await
}

async fn serve_with(test: &TestStore, configure: impl FnOnce(Api) -> Api) -> (Herald, Served) {
    serve_store(test.store.clone(), configure).await
}

async fn serve_store(
    store: std::sync::Arc<dyn herald::store::EventStore>,
    configure: impl FnOnce(Api) -> Api,
) -> (Herald, Served) {
    let herald = Herald::builder()
        .store(store)
        .modules(["http"])
        .consumer_poll(Duration::from_millis(20))
        .build()
        .await
        .expect("the runtime");
    let api = configure(Api::new(herald.clone(), tokens()).trace_role("operator"));
    let served = Served::start(herald.clone(), api.router()).await;
    (herald, served)
}

fn member() -> String {
    Uuid::now_v7().simple().to_string()
}

async fn send(
    served: &Served,
    token: &str,
    command: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    post(
        served,
        token,
        &format!("/v1/commands/{command}"),
        body,
        headers,
    )
    .await
}

/// Records event `event` over HTTP.
async fn record(
    served: &Served,
    token: &str,
    event: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    post(served, token, &format!("/v1/events/{event}"), body, headers).await
}

async fn post(
    served: &Served,
    token: &str,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client()
        .post(served.url(path))
        .bearer_auth(token)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("an answer");
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

async fn get(served: &Served, token: &str, path: &str) -> (StatusCode, Value) {
    let response = client()
        .get(served.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

/// A problem document with this status and code.
fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body:#}");
    assert_eq!(body["code"], code, "{body:#}");
    assert_eq!(
        body["type"],
        format!("urn:herald:problem:{code}"),
        "{body:#}"
    );
    assert_eq!(body["status"], expected.as_u16(), "{body:#}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body:#}"
    );
}

async fn stream_len(served: &Served, token: &str, member: &str) -> usize {
    let (status, body) = get(
        served,
        token,
        &format!("/v1/streams/member/{member}/events"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["events"].as_array().map_or(0, Vec::len)
}

async fn call(
    served: &Served,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, served.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

async fn join(served: &Served, token: &str) -> String {
    let id = member();
    let (status, _, body) = send(
        served,
        token,
        "Join",
        json!({ "member_id": id, "email": "m@example.com" }),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    id
}

fn members(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["member_id"].as_str().unwrap().to_owned())
        .collect()
}

#[event("member.:member_id.referred")]
struct Referred {
    member_id: String,
    friend: String,
}

#[command("refer.member.:member_id")]
struct Refer {
    member_id: String,
    friend: String,
}

#[aggregate(name = "referrer")]
#[derive(Default)]
struct Referrer {
    referred: u32,
}

#[aggregate]
impl Referrer {
    #[handle]
    fn refer(&self, cmd: &Refer) -> Result<Referred, String> {
        Ok(Referred {
            member_id: cmd.member_id.clone(),
            friend: cmd.friend.clone(),
        })
    }

    #[apply]
    fn referred(&mut self, _: &Referred) {
        self.referred += 1;
    }
}

/// The friend joins in the same transaction.
#[processor("member.:member_id.referred")]
async fn friend_joins(e: &Recorded<Referred>, _cx: &mut Cx<'_>) -> Result<Join, String> {
    Ok(Join {
        member_id: e.friend.clone(),
        email: format!("{}@friends.example", e.friend),
    })
}

#[event("referral.:member_id.noted")]
struct ReferralNoted {
    member_id: String,
}

/// A side event beside it.
#[dispatcher("member.:member_id.referred", priority = 1)]
async fn note_referral(e: &Recorded<Referred>, _cx: &mut Cx<'_>) -> Result<ReferralNoted, String> {
    Ok(ReferralNoted {
        member_id: e.member_id.clone(),
    })
}
