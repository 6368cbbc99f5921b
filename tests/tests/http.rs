//! The HTTP door through a real client against a real server on a loopback port, on every
//! store: commands with their headers, every problem status, idempotency races, tenant
//! isolation on every route, the reads, bad input that writes nothing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use herald::http::{Api, StaticTokens};
use herald::prelude::*;
use herald::{Actor, Herald};
use herald_tests::backends::TestStore;
use herald_tests::http::{Served, client};
use herald_tests::on_every_backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

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

#[hook(before, "join.member.:member_id")]
async fn no_spam(cmd: &mut Join, _cx: &mut Cx<'_>) -> Result<(), String> {
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
    let herald = Herald::builder()
        .store(test.store.clone())
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

#[on_every_backend]
async fn a_command_over_http_returns_its_events_with_positions_and_version(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let (status, headers, body) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": id, "email": "ada@example.com" }),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(body["route"], format!("join.member.{id}"));
    assert_eq!(body["version"], 1);
    assert_eq!(
        body["stream"],
        json!({ "tenant": "acme", "type": "member", "id": id })
    );
    let event = &body["events"][0];
    assert_eq!(event["name"], "Joined");
    assert_eq!(event["payload"]["email"], "ada@example.com");
    assert_eq!(event["metadata"]["actor"], "ada");
    assert!(
        event["position"].as_str().unwrap().starts_with("v1."),
        "{event}"
    );
    assert!(
        body.get("trace").is_none(),
        "no trace without the role: {body:#}"
    );
    // The position reads back: the global order after it has nothing of this command.
    let after = event["position"].as_str().unwrap();
    let (status, page) = get(
        &served,
        ADA,
        &format!("/v1/events?after={after}&patterns=member.*"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    assert!(
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["payload"]["member_id"] != id.as_str())
    );
    // An operator sees the trace.
    let (status, _, body) = send(&served, ROOT, "Ban", json!({ "member_id": id }), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["trace"]["op"], "dispatch", "{body:#}");
    served.stop().await;
}

#[on_every_backend]
async fn an_idempotency_key_runs_a_command_once_and_replays_its_result(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let body = json!({ "member_id": id, "email": "ada@example.com" });
    let key = [("idempotency-key", "sign-up-1")];
    let (first, _, one) = send(&served, ADA, "Join", body.clone(), &key).await;
    let (again, headers, two) = send(&served, ADA, "Join", body.clone(), &key).await;
    assert_eq!((first, again), (StatusCode::OK, StatusCode::OK), "{two:#}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(one["command_id"], two["command_id"]);
    assert_eq!(one["events"], two["events"]);
    assert_eq!(stream_len(&served, ADA, &id).await, 1);
    // The same key with another body: an error, nothing written.
    let other = json!({ "member_id": id, "email": "eve@example.com" });
    let (status, _, problem) = send(&served, ADA, "Join", other, &key).await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "command_id_reused",
    );
    // Another tenant's same key is its own command: it runs (in its own stream).
    let (status, _, theirs) = send(&served, BOB, "Join", body, &key).await;
    assert_eq!(status, StatusCode::OK, "{theirs:#}");
    assert_ne!(theirs["command_id"], one["command_id"]);
    assert_eq!(theirs["repeat"], false);
    served.stop().await;
}

#[on_every_backend]
async fn two_requests_with_one_key_at_once_run_the_command_once(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    for round in 0..5 {
        let id = member();
        let body = json!({ "member_id": id, "email": "ada@example.com" });
        let key = format!("race-{round}-{id}");
        let headers = [("idempotency-key", key.as_str())];
        let (a, b) = tokio::join!(
            send(&served, ADA, "Join", body.clone(), &headers),
            send(&served, ADA, "Join", body.clone(), &headers),
        );
        assert_eq!(
            (a.0, b.0),
            (StatusCode::OK, StatusCode::OK),
            "{:#} {:#}",
            a.2,
            b.2
        );
        assert_eq!(a.2["command_id"], b.2["command_id"]);
        let repeats = [&a.2, &b.2].iter().filter(|r| r["repeat"] == true).count();
        assert_eq!(repeats, 1, "one ran, one replayed: {:#} {:#}", a.2, b.2);
        assert_eq!(stream_len(&served, ADA, &id).await, 1);
    }
    served.stop().await;
}

#[on_every_backend]
async fn every_error_is_a_problem_with_its_status_and_writes_nothing(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let join = |email: &str| json!({ "member_id": id, "email": email });
    // 404: no such command.
    let (status, _, body) = send(&served, ADA, "Leave", join("a@example.com"), &[]).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "unknown_command");
    // 400: a missing field, an unknown one, a wrong type: each named.
    let (status, _, body) = send(&served, ADA, "Join", json!({ "member_id": id }), &[]).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_command");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `email`"),
        "{body:#}"
    );
    let mut extra = join("a@example.com");
    extra["nickname"] = "ace".into();
    let (status, _, body) = send(&served, ADA, "Join", extra, &[]).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_command");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `nickname`"),
        "{body:#}"
    );
    let (status, _, body) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": id, "email": 7 }),
        &[],
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_command");
    assert_eq!(body["field"], "email", "{body:#}");
    // 400: a route value that cannot be a route segment.
    let (status, _, body) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": "a.b", "email": "a@example.com" }),
        &[],
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_route");
    // 422: a hook rejects, named with its message.
    let (status, _, body) = send(&served, ADA, "Join", join("x@spam.example"), &[]).await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "hook_rejected",
    );
    assert!(
        body["handler"].as_str().unwrap().ends_with("no_spam"),
        "{body:#}"
    );
    assert_eq!(body["message"], "x@spam.example is a spam address");
    // 403: a role the command needs.
    let (status, _, body) = send(&served, ADA, "Ban", json!({ "member_id": id }), &[]).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        stream_len(&served, ADA, &id).await,
        0,
        "nothing was written"
    );
    // 422: the aggregate rejects.
    send(&served, ADA, "Join", join("a@example.com"), &[]).await;
    let (status, _, body) = send(&served, ADA, "Join", join("a@example.com"), &[]).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "rejected");
    assert_eq!(body["message"], format!("member {id} has joined already"));
    // 409: not at the expected version, with both versions.
    let (status, _, body) = send(
        &served,
        ROOT,
        "Ban",
        json!({ "member_id": id }),
        &[("if-match", "\"0\"")],
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
    assert_eq!(
        (
            body["expected_version"].clone(),
            body["actual_version"].clone()
        ),
        (json!(0), json!(1))
    );
    // 400: a bad `If-Match`, `Idempotency-Key` or `Prefer`.
    for (header, value, code) in [
        ("if-match", "\"-1\"", "invalid_if_match"),
        ("if-match", "\"99999999999999999999\"", "invalid_if_match"),
        ("if-match", "*", "invalid_if_match"),
        (
            "idempotency-key",
            &"k".repeat(256) as &str,
            "invalid_idempotency_key",
        ),
        ("prefer", "wait-for=\"nobody\"", "invalid_prefer"),
        (
            "prefer",
            "wait-for=\"profiles\", wait=soon",
            "invalid_prefer",
        ),
    ] {
        let (status, _, body) = send(
            &served,
            ROOT,
            "Ban",
            json!({ "member_id": id }),
            &[(header, value)],
        )
        .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, code);
    }
    // 401: no token, a bad one.
    let response = client()
        .post(served.url("/v1/commands/Join"))
        .json(&join("a@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    let (status, _, body) = send(&served, "nope", "Join", join("a@example.com"), &[]).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(stream_len(&served, ADA, &id).await, 1, "only the one join");
    served.stop().await;
}

#[on_every_backend]
async fn bad_bodies_are_problems_and_the_server_keeps_serving(test: &TestStore) {
    let (_herald, served) = serve_with(test, |api| api.body_limit(4096)).await;
    let post = |body: Vec<u8>, content_type: &str| {
        client()
            .post(served.url("/v1/commands/Join"))
            .bearer_auth(ADA)
            .header("content-type", content_type)
            .body(body)
    };
    let cases: Vec<(Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            vec![b'x'; 5000],
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            b"{\"member_id\": \"\xff\xfe\", \"email\": \"a\"}".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_command",
        ),
        (
            format!("{}{}", "[".repeat(1000), "]".repeat(1000)).into_bytes(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_command",
        ),
        (
            b"{\"member_id\": \"m\", \"email\": \"a\"".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_command",
        ),
        (
            b"member_id=m".to_vec(),
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            b"{}".to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (body, content_type, expected, code) in cases {
        let response = post(body, content_type).send().await.expect("an answer");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert_problem(status, &problem, expected, code);
    }
    // A header that tries to inject another: refused by the client's own checks, or ours.
    let injected = reqwest::header::HeaderValue::from_bytes(b"k\r\nX-Evil: 1");
    assert!(
        injected.is_err(),
        "no HTTP client sends a CR LF inside a header value"
    );
    let (status, _, body) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": "m1", "email": "a@example.com" }),
        &[("idempotency-key", "tab\there")],
    )
    .await;
    assert_problem(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
    );
    // Still serving; nothing was written.
    let (status, body) = get(&served, ADA, "/v1/events").await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["events"], json!([]));
    served.stop().await;
}

#[on_every_backend]
async fn wait_for_answers_after_the_read_model_or_with_202_when_it_is_late(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let prefer = [("prefer", "wait-for=\"profiles\", wait=10")];
    let (status, headers, body) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": id, "email": "ada@example.com" }),
        &prefer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert!(
        headers["preference-applied"]
            .to_str()
            .unwrap()
            .contains("profiles")
    );
    assert_eq!(
        profile(&id).as_deref(),
        Some("ada@example.com"),
        "read-your-writes"
    );
    // A projector slower than the wait: 202, the command did commit.
    let late = member();
    let prefer = [("prefer", "wait-for=\"profiles\", wait=1")];
    let (status, _, body) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": late, "email": "slow@example.com" }),
        &prefer,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body:#}");
    assert_eq!(body["committed"], true);
    assert_eq!(body["wait"]["code"], "timeout");
    assert_eq!(body["events"][0]["name"], "Joined");
    assert_eq!(stream_len(&served, ADA, &late).await, 1);
    served.stop().await;
}

#[on_every_backend]
async fn reads_give_streams_aggregates_with_etags_pages_and_results(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let (_, _, joined) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": id, "email": "ada@example.com" }),
        &[],
    )
    .await;
    send(
        &served,
        ROOT,
        "Ban",
        json!({ "member_id": id }),
        &[("if-match", "\"1\"")],
    )
    .await;
    // The aggregate, with its version as ETag; If-None-Match gives 304.
    let response = client()
        .get(served.url(&format!("/v1/aggregates/member/{id}")))
        .bearer_auth(ADA)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let state: Value = response.json().await.unwrap();
    assert_eq!(
        state["state"],
        json!({ "email": "ada@example.com", "banned": true })
    );
    let unchanged = client()
        .get(served.url(&format!("/v1/aggregates/member/{id}")))
        .bearer_auth(ADA)
        .header("if-none-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    let (status, body) = get(&served, ADA, "/v1/aggregates/nothing/1").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "unknown_aggregate");
    let (status, body) = get(&served, ADA, &format!("/v1/aggregates/member/{}", member())).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    // The stream, from a version.
    let (status, body) = get(
        &served,
        ADA,
        &format!("/v1/streams/member/{id}/events?after_version=1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    assert_eq!(body["events"][0]["name"], "Banned");
    for bad in [
        "after_version=-1",
        "after_version=99999999999999999999999",
        "limit=0",
        "limit=100000",
        "colour=red",
    ] {
        let (status, body) = get(
            &served,
            ADA,
            &format!("/v1/streams/member/{id}/events?{bad}"),
        )
        .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    }
    // The global order in pages, filtered by pattern.
    let mut after = "v1.0.0".to_owned();
    let mut seen = Vec::new();
    loop {
        let (status, page) = get(
            &served,
            ADA,
            &format!("/v1/events?after={after}&patterns=member.*.banned&limit=1"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page:#}");
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].clone()),
        );
        let next = page["next"].as_str().unwrap().to_owned();
        if next == after {
            break;
        }
        after = next;
    }
    assert_eq!(seen, vec![json!("Banned")]);
    let (status, body) = get(&served, ADA, "/v1/events?patterns=member..x").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_pattern");
    assert_eq!(body["segment"], 1, "{body:#}");
    let (status, body) = get(&served, ADA, "/v1/events?after=12").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_position");
    let long = vec!["a"; 40].join(".");
    let (status, body) = get(&served, ADA, &format!("/v1/events?patterns={long}")).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_pattern");
    // A command's result by its id.
    let command_id = joined["command_id"].as_str().unwrap();
    let (status, body) = get(&served, ADA, &format!("/v1/results/{command_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["events"], joined["events"]);
    let (status, body) = get(&served, ADA, &format!("/v1/results/{}", Uuid::now_v7())).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = get(&served, ADA, "/v1/results/not-a-uuid").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_command_id");
    // Unknown routes and methods are problems too.
    let (status, body) = get(&served, ADA, "/v1/nothing").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "no_route");
    let response = client()
        .delete(served.url("/v1/events"))
        .bearer_auth(ADA)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    served.stop().await;
}

#[on_every_backend]
async fn no_tenant_reads_or_writes_another_tenants_streams(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let (_, _, joined) = send(
        &served,
        ADA,
        "Join",
        json!({ "member_id": id, "email": "ada@example.com" }),
        &[],
    )
    .await;
    // Bob of globex sees nothing of acme's member: not its stream, aggregate, events or result.
    assert_eq!(stream_len(&served, BOB, &id).await, 0);
    let (status, _) = get(&served, BOB, &format!("/v1/aggregates/member/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = get(&served, BOB, "/v1/events").await;
    assert_eq!(page["events"], json!([]), "{page:#}");
    let command_id = joined["command_id"].as_str().unwrap();
    let (status, body) = get(&served, BOB, &format!("/v1/results/{command_id}")).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    // His command of the same id goes to his own stream; acme's is untouched.
    let (status, _, body) = send(
        &served,
        BOB,
        "Join",
        json!({ "member_id": id, "email": "bob@example.com" }),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["stream"]["tenant"], "globex");
    assert_eq!(body["version"], 1);
    let (_, ada) = get(&served, ADA, &format!("/v1/aggregates/member/{id}")).await;
    assert_eq!(ada["state"]["email"], "ada@example.com");
    served.stop().await;
}

#[on_every_backend]
async fn limits_answer_429_with_retry_after(test: &TestStore) {
    let (_herald, served) = serve_with(test, |api| api.rate_limit(1.0, 2)).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client()
            .get(served.url("/v1/events"))
            .bearer_auth(ADA)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status());
    }
    assert_eq!(&statuses[..2], &[StatusCode::OK, StatusCode::OK]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    // Another caller has a bucket of its own.
    let (status, _) = get(&served, BOB, "/v1/events").await;
    assert_eq!(status, StatusCode::OK);
    served.stop().await;
}

#[on_every_backend]
async fn cookie_credentials_need_an_allowed_origin_to_change_anything(test: &TestStore) {
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["http"])
        .build()
        .await
        .unwrap();
    let cookies = StaticTokens::new()
        .token(ADA, Actor::new("ada", "acme"))
        .in_cookie("session");
    let api = Api::new(herald.clone(), cookies).allow_origins(["https://app.example.com"]);
    let served = Served::start(herald, api.router()).await;
    let post = |origin: Option<&str>| {
        let mut request = client()
            .post(served.url("/v1/commands/Join"))
            .header("cookie", format!("theme=dark; session={ADA}"))
            .json(&json!({ "member_id": member(), "email": "ada@example.com" }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    for origin in [None, Some("https://evil.example")] {
        let response = post(origin).await.unwrap();
        let status = response.status();
        assert_problem(
            status,
            &response.json().await.unwrap(),
            StatusCode::FORBIDDEN,
            "cross_origin",
        );
    }
    assert_eq!(
        post(Some("https://app.example.com"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let read = client()
        .get(served.url("/v1/events"))
        .header("cookie", format!("session={ADA}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK, "reads need no origin");
    served.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_command_with_its_schema() {
    let herald = Herald::builder().modules(["http"]).build().await.unwrap();
    let served = Served::start(herald.clone(), herald::http::router(herald, tokens())).await;
    let document: Value = client()
        .get(served.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let join = &document["paths"]["/v1/commands/Join"]["post"];
    let schema = &join["requestBody"]["content"]["application/json"]["schema"];
    let reference = schema["$ref"].as_str().expect("a reference");
    let name = reference.rsplit('/').next().unwrap();
    let join_schema = &document["components"]["schemas"][name];
    assert_eq!(
        join_schema["additionalProperties"], false,
        "{join_schema:#}"
    );
    assert_eq!(join_schema["required"], json!(["member_id", "email"]));
    assert!(document["paths"]["/v1/commands/Ban"].is_object());
    let noted = &document["paths"]["/v1/events/Noted"]["post"];
    assert_eq!(noted["operationId"], "record_Noted", "{noted:#}");
    served.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_refuses_new_connections() {
    let herald = Herald::builder()
        .modules(["http"])
        .consumer_poll(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let served = Served::start(herald.clone(), herald::http::router(herald, tokens())).await;
    let id = member();
    // A request that waits for the slow projector, in flight while the server stops.
    let url = served.url("/v1/commands/Join");
    let in_flight = tokio::spawn(async move {
        client()
            .post(url)
            .bearer_auth(ADA)
            .header("prefer", "wait-for=\"profiles\", wait=10")
            .json(&json!({ "member_id": id, "email": "slow@example.com" }))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let addr = served.addr;
    served.stop().await;
    let answered = in_flight
        .await
        .unwrap()
        .expect("the request in flight was answered");
    assert_eq!(answered.status(), StatusCode::OK);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

async fn notes_len(served: &Served, token: &str, member: &str) -> usize {
    let (status, body) = get(served, token, &format!("/v1/streams/notes/{member}/events")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["events"].as_array().map_or(0, Vec::len)
}

#[on_every_backend]
async fn an_event_recorded_over_http_goes_into_a_stream_of_its_own(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let body = json!({ "member_id": id, "text": "called back" });
    let (status, headers, body) = record(&served, ADA, "Noted", body, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(body["route"], format!("member.{id}.noted"));
    assert_eq!(
        body["stream"],
        json!({ "tenant": "acme", "type": "notes", "id": id })
    );
    let event = &body["events"][0];
    assert_eq!(event["name"], "Noted");
    assert_eq!(event["payload"]["text"], "called back");
    assert_eq!(event["metadata"]["actor"], "ada");
    assert_eq!(event["metadata"]["command_id"], body["command_id"]);
    assert_eq!(notes_len(&served, ADA, &id).await, 1);
    // The member's own stream has nothing: no aggregate was involved.
    assert_eq!(stream_len(&served, ADA, &id).await, 0);
    served.stop().await;
}

#[on_every_backend]
async fn an_idempotency_key_records_an_event_once_and_replays_it(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let body = json!({ "member_id": id, "text": "once" });
    let key = [("idempotency-key", "note-1")];
    let (first, _, one) = record(&served, ADA, "Noted", body.clone(), &key).await;
    let (again, headers, two) = record(&served, ADA, "Noted", body, &key).await;
    assert_eq!((first, again), (StatusCode::OK, StatusCode::OK), "{two:#}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(one["command_id"], two["command_id"]);
    assert_eq!(one["events"], two["events"]);
    assert_eq!(notes_len(&served, ADA, &id).await, 1);
    let other = json!({ "member_id": id, "text": "twice" });
    let (status, _, problem) = record(&served, ADA, "Noted", other, &key).await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "command_id_reused",
    );
    assert_eq!(notes_len(&served, ADA, &id).await, 1);
    served.stop().await;
}

#[on_every_backend]
async fn a_recorded_event_stays_in_the_callers_tenant(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let key = [("idempotency-key", "same-key")];
    let body = json!({ "member_id": id, "text": "acme's" });
    let (status, _, ours) = record(&served, ADA, "Noted", body, &key).await;
    assert_eq!(status, StatusCode::OK, "{ours:#}");
    // Another tenant's same key and stream id: its own event, in its own stream.
    let body = json!({ "member_id": id, "text": "globex's" });
    let (status, _, theirs) = record(&served, BOB, "Noted", body, &key).await;
    assert_eq!(status, StatusCode::OK, "{theirs:#}");
    assert_eq!(theirs["repeat"], false);
    assert_eq!(theirs["stream"]["tenant"], "globex");
    assert_eq!(theirs["version"], 1, "{theirs:#}");
    let (status, page) = get(&served, BOB, &format!("/v1/streams/notes/{id}/events")).await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    let texts: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["payload"]["text"])
        .collect();
    assert_eq!(texts, [&json!("globex's")]);
    assert_eq!(notes_len(&served, ADA, &id).await, 1);
    served.stop().await;
}

#[on_every_backend]
async fn a_bad_or_unknown_event_is_a_problem_and_writes_nothing(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let id = member();
    let (status, _, problem) = record(
        &served,
        ADA,
        "Noted",
        json!({ "member_id": id, "text": 7 }),
        &[],
    )
    .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_event");
    assert_eq!(problem["event"], "Noted", "{problem:#}");
    assert_eq!(problem["field"], "text", "{problem:#}");
    let (status, _, problem) = record(&served, ADA, "Forgotten", json!({}), &[]).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "unknown_event");
    assert_eq!(problem["event"], "Forgotten", "{problem:#}");
    assert_eq!(notes_len(&served, ADA, &id).await, 0);
    served.stop().await;
}

async fn call(
    served: &Served,
    method: reqwest::Method,
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

#[on_every_backend]
async fn a_remote_consumer_killed_mid_way_resumes_where_it_acknowledged(test: &TestStore) {
    use reqwest::Method;
    let (_herald, served) = serve(test).await;
    let registration = json!({ "patterns": ["member.*.joined"] });
    let (status, body) = call(
        &served,
        Method::PUT,
        ADA,
        "/v1/consumers/crm",
        Some(registration.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    assert_eq!(body["patterns"], json!(["member.*.joined"]));
    let (status, _) = call(
        &served,
        Method::PUT,
        ADA,
        "/v1/consumers/crm",
        Some(registration),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "registering again is idempotent");
    let (status, body) = call(
        &served,
        Method::PUT,
        ADA,
        "/v1/consumers/crm",
        Some(json!({ "patterns": ["*"] })),
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "consumer_registered");
    let first: Vec<String> = [join(&served, ADA).await, join(&served, ADA).await].into();
    // Polled, handled halfway, then the client dies without acknowledging.
    let (_, page) = call(
        &served,
        Method::GET,
        ADA,
        "/v1/consumers/crm/events?limit=10",
        None,
    )
    .await;
    assert_eq!(members(&page), first);
    // A new server and runtime on the same store: the same events again.
    served.stop().await;
    let (_herald, served) = serve(test).await;
    let (_, again) = call(
        &served,
        Method::GET,
        ADA,
        "/v1/consumers/crm/events?limit=1",
        None,
    )
    .await;
    assert_eq!(members(&again), first[..1]);
    let (status, acked) = call(
        &served,
        Method::POST,
        ADA,
        "/v1/consumers/crm/ack",
        Some(json!({ "position": again["next"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{acked:#}");
    assert_eq!(acked["moved"], true);
    let later = join(&served, ADA).await;
    let (_, rest) = call(
        &served,
        Method::GET,
        ADA,
        "/v1/consumers/crm/events?limit=10",
        None,
    )
    .await;
    assert_eq!(
        members(&rest),
        vec![first[1].clone(), later],
        "nothing twice after an ack, nothing missed"
    );
    // An older ack moves nothing; one past the head, or not a position, is a 400.
    let (_, old) = call(
        &served,
        Method::POST,
        ADA,
        "/v1/consumers/crm/ack",
        Some(json!({ "position": "v1.0.0" })),
    )
    .await;
    assert_eq!(old["moved"], false);
    let (status, body) = call(
        &served,
        Method::POST,
        ADA,
        "/v1/consumers/crm/ack",
        Some(json!({ "position": "v1.99999999.99999999" })),
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "ack_beyond_head");
    let (status, body) = call(
        &served,
        Method::POST,
        ADA,
        "/v1/consumers/crm/ack",
        Some(json!({ "position": 3 })),
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    // Listed with its last acknowledgement; deleted.
    let (_, list) = call(&served, Method::GET, ADA, "/v1/consumers", None).await;
    assert_eq!(list["consumers"][0]["name"], "crm");
    assert!(list["consumers"][0]["acked_at"].is_string(), "{list:#}");
    let (status, _) = call(&served, Method::DELETE, ADA, "/v1/consumers/crm", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&served, Method::GET, ADA, "/v1/consumers/crm/events", None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "unknown_consumer");
    served.stop().await;
}

#[on_every_backend]
async fn no_tenant_sees_or_touches_another_tenants_consumers(test: &TestStore) {
    use reqwest::Method;
    let (_herald, served) = serve(test).await;
    call(
        &served,
        Method::PUT,
        ADA,
        "/v1/consumers/crm",
        Some(json!({})),
    )
    .await;
    let ours = join(&served, ADA).await;
    join(&served, BOB).await;
    // Bob cannot read, poll, ack or delete acme's `crm`, and it looks as if there were none.
    let (_, list) = call(&served, Method::GET, BOB, "/v1/consumers", None).await;
    assert_eq!(list["consumers"], json!([]));
    let (status, missing) = call(&served, Method::GET, BOB, "/v1/consumers/nobody", None).await;
    assert_problem(status, &missing, StatusCode::NOT_FOUND, "unknown_consumer");
    for (method, path, body) in [
        (Method::GET, "/v1/consumers/crm", None),
        (Method::GET, "/v1/consumers/crm/events", None),
        (
            Method::POST,
            "/v1/consumers/crm/ack",
            Some(json!({ "position": "v1.0.0" })),
        ),
        (Method::DELETE, "/v1/consumers/crm", None),
    ] {
        let (status, body) = call(&served, method.clone(), BOB, path, body).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "unknown_consumer");
        let shown = body["detail"].as_str().unwrap().replace("crm", "nobody");
        assert_eq!(
            shown,
            missing["detail"].as_str().unwrap(),
            "{method} {path}: the same as no consumer"
        );
    }
    // His own `crm` is his, with his events only.
    let (status, _) = call(
        &served,
        Method::PUT,
        BOB,
        "/v1/consumers/crm",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, page) = call(&served, Method::GET, ADA, "/v1/consumers/crm/events", None).await;
    assert_eq!(members(&page), vec![ours]);
    served.stop().await;
}

#[on_every_backend]
async fn archiving_keeps_what_a_registered_remote_consumer_has_not_passed(test: &TestStore) {
    use reqwest::Method;
    let archive = herald_tests::backends::TestArchive::sqlite().await;
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["http"])
        .consumer_poll(Duration::from_millis(20))
        .archive(archive.archive.clone().discard(true))
        .build()
        .await
        .unwrap();
    let served = Served::start(
        herald.clone(),
        herald::http::router(herald.clone(), tokens()),
    )
    .await;
    call(
        &served,
        Method::PUT,
        ADA,
        "/v1/consumers/crm",
        Some(json!({})),
    )
    .await;
    let id = member();
    for email in ["a@example.com", "b@example.com"] {
        let body =
            json!({ "member_id": format!("{id}{email}").replace(['@', '.'], "-"), "email": email });
        // The eventual `profiles` counts too: waited for, it is past them, so only `crm` holds.
        let (status, _, body) = send(
            &served,
            ADA,
            "Join",
            body,
            &[("prefer", "wait-for=\"profiles\"")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
    }
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!(report.discarded, 0, "{report:?}");
    let held = report.held_back_by.expect("a consumer holds the pass back");
    assert!(held.contains("crm") && held.contains("acme"), "{held}");
    // Acknowledged: the pass goes on (each stream's last event stays in the active store).
    let (_, page) = call(&served, Method::GET, ADA, "/v1/consumers/crm/events", None).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    call(
        &served,
        Method::POST,
        ADA,
        "/v1/consumers/crm/ack",
        Some(json!({ "position": page["next"] })),
    )
    .await;
    let report = herald.consumers().archive().await.unwrap();
    assert!(report.archived >= 2, "{report:?}");
    served.stop().await;
}

#[tokio::test]
async fn a_connection_idle_past_the_header_read_timeout_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let herald = Herald::builder().modules(["http"]).build().await.unwrap();
    let router = herald::http::router(herald.clone(), tokens());
    let served = Served::start_with(herald, router, |server| {
        server.header_read_timeout(Duration::from_millis(300))
    })
    .await;
    // Nothing sent: closed.
    let mut silent = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
    // Headers sent slowly, never finished: closed.
    let mut slow = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    slow.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut all = Vec::new();
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was closed within the timeout");
    served.stop().await;
}

/// An application's own query route, next to Herald's, reading through a reader.
async fn greeting(
    axum::extract::State(herald): axum::extract::State<Herald>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> String {
    let mut reader = herald.reader().await.expect("a reader");
    let text: Option<String> = herald::sql!(reader.sql(), |conn| {
        herald::sqlx::query_scalar("SELECT text FROM greetings WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await
    })
    .transpose()
    .expect("the query")
    .flatten();
    text.unwrap_or_else(|| "none".into())
}

#[on_every_backend]
async fn an_applications_own_routes_read_through_a_reader_that_holds_up_no_command(
    test: &TestStore,
) {
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["http"])
        .build()
        .await
        .unwrap();
    let mut tx = herald.begin().await.unwrap();
    let created = herald::sql!(tx.sql(), |conn| async move {
        herald::sqlx::query("CREATE TABLE greetings (id BIGINT PRIMARY KEY, text TEXT)")
            .execute(&mut *conn)
            .await?;
        herald::sqlx::query("INSERT INTO greetings VALUES (1, 'hello')")
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    }
    .await)
    .transpose()
    .unwrap();
    tx.commit().await.unwrap();
    let app = axum::Router::new()
        .route("/greetings/{id}", axum::routing::get(greeting))
        .with_state(herald.clone())
        .merge(herald::http::router(herald.clone(), tokens()));
    let served = Served::start(herald.clone(), app).await;
    // A reader held open while a command commits: on SQLite it takes no writer's lock.
    let mut held = herald.reader().await.unwrap();
    let _ = held.sql();
    join(&served, ADA).await;
    let text = client()
        .get(served.url("/greetings/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expected = if created.is_some() { "hello" } else { "none" };
    assert_eq!(text, expected, "the store without SQL has no table to read");
    drop(held);
    served.stop().await;
}

fn jwt(claims: Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret).expect("a key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("a token")
}

fn in_an_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_secs() + 3600
}

#[on_every_backend]
async fn jwt_bearer_tokens_authenticate_with_tenant_and_roles(test: &TestStore) {
    let secret = b"a test secret that is long enough for hs256";
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["http"])
        .build()
        .await
        .unwrap();
    let auth = herald::http::Jwt::hs256(secret)
        .unwrap()
        .issuer("https://login.example")
        .audience("members");
    let served = Served::start(herald.clone(), Api::new(herald, auth).router()).await;
    let claims = |extra: Value| {
        let mut claims = json!({ "sub": "ada", "tenant": "acme", "roles": ["admin"], "exp": in_an_hour(),
                                 "iss": "https://login.example", "aud": "members" });
        for (key, value) in extra.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    };
    let id = member();
    let good = jwt(claims(json!({})), secret);
    let (status, _, body) = send(
        &served,
        &good,
        "Join",
        json!({ "member_id": id, "email": "a@example.com" }),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["stream"]["tenant"], "acme");
    assert_eq!(body["events"][0]["metadata"]["actor"], "ada");
    // The role from the token lets it ban.
    let (status, _, body) = send(&served, &good, "Ban", json!({ "member_id": id }), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    // Each bad token is a 401 and writes nothing.
    for bad in [
        jwt(
            claims(json!({})),
            b"another secret, just as long as the first",
        ),
        jwt(claims(json!({ "exp": 1_000_000 })), secret),
        jwt(claims(json!({ "exp": null })), secret),
        jwt(claims(json!({ "tenant": null })), secret),
        jwt(claims(json!({ "iss": "https://evil.example" })), secret),
        jwt(claims(json!({ "aud": "billing" })), secret),
        jwt(claims(json!({ "roles": "admin" })), secret),
        "not.a.jwt".to_owned(),
    ] {
        let (status, _, body) = send(
            &served,
            &bad,
            "Join",
            json!({ "member_id": member(), "email": "a@example.com" }),
            &[],
        )
        .await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let (_, page) = get(&served, &good, "/v1/events").await;
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        2,
        "only the good token's two commands"
    );
    served.stop().await;
}

#[on_every_backend]
async fn a_caller_over_its_concurrency_limit_gets_429_and_others_do_not(test: &TestStore) {
    let (_herald, served) = serve_with(test, |api| api.concurrency_limit(1)).await;
    // One slow request in flight (it waits for the slow projector), then another.
    let slow = {
        let url = served.url("/v1/commands/Join");
        tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(ADA)
                .header("prefer", "wait-for=\"profiles\", wait=10")
                .json(&json!({ "member_id": member(), "email": "slow@example.com" }))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = get(&served, ADA, "/v1/events").await;
    assert_problem(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    let (status, _) = get(&served, BOB, "/v1/events").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another caller has permits of its own"
    );
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    let (status, _) = get(&served, ADA, "/v1/events").await;
    assert_eq!(status, StatusCode::OK, "the permit came back");
    served.stop().await;
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

#[on_every_backend]
async fn a_commands_response_holds_its_processors_and_dispatchers_events(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let (referrer, friend) = (member(), member());
    let (status, _, body) = send(
        &served,
        ADA,
        "Refer",
        json!({ "member_id": referrer, "friend": friend }),
        &[("prefer", "wait-for=\"profiles\", wait=10")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let names: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Referred", "Joined", "ReferralNoted"], "{body:#}");
    assert_eq!(body["events"][1]["stream"]["id"], friend.as_str());
    // `wait-for` covered the processor's event: the friend's profile is there.
    assert_eq!(
        profile(&friend).as_deref(),
        Some(format!("{friend}@friends.example").as_str())
    );
    served.stop().await;
}

#[on_every_backend]
async fn anonymous_lets_requests_in_only_as_the_actor_the_application_names(test: &TestStore) {
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["http"])
        .build()
        .await
        .unwrap();
    let anonymous = herald::http::Anonymous::as_actor(Actor::new("gateway", "acme"));
    let served = Served::start(herald.clone(), herald::http::router(herald, anonymous)).await;
    let id = member();
    let response = client()
        .post(served.url("/v1/commands/Join"))
        .json(&json!({ "member_id": id, "email": "a@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["events"][0]["metadata"]["actor"], "gateway");
    assert_eq!(body["stream"]["tenant"], "acme");
    // No role comes with it: a command that needs one is refused.
    let response = client()
        .post(served.url("/v1/commands/Ban"))
        .json(&json!({ "member_id": id }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    served.stop().await;
}
