//! What every request goes through: authentication (static tokens, cookies, JWT,
//! anonymous), rate and concurrency limits, the header-read timeout, graceful shutdown,
//! the application's own routes behind the door and the request span.

use herald::http::{Caller, TraceParent};
use herald_tests::spans::Recorder;

use super::*;

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

/// An application's own route behind Herald's door: who is calling, and the trace they
/// continue.
async fn whoami(
    axum::Extension(Caller(actor)): axum::Extension<Caller>,
    parent: Option<axum::Extension<TraceParent>>,
) -> axum::Json<Value> {
    let trace = parent.map(|axum::Extension(p)| {
        p.trace_id
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    axum::Json(json!({ "actor": actor.id(), "tenant": actor.tenant(), "trace": trace }))
}

#[tokio::test(flavor = "multi_thread")]
async fn own_routes_sit_behind_the_door_and_each_request_runs_in_a_span_with_its_traceparent() {
    let recorder = Recorder::installed();
    let test = TestStore::sqlite().await;
    let own = axum::Router::new().route("/whoami", axum::routing::get(whoami));
    let (_herald, served) = serve_with(&test, |api| api.with_routes(own)).await;
    let trace = Uuid::now_v7().simple().to_string();
    let traceparent = format!("00-{trace}-00f067aa0ba902b7-01");

    let (status, body) = get(&served, "no-such-token", "/whoami").await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let response = client()
        .get(served.url("/whoami"))
        .bearer_auth(BOB)
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "actor": "bob", "tenant": "globex", "trace": trace })
    );

    let id = member();
    let body = json!({ "member_id": id, "email": "ada@example.com" });
    let headers = [("traceparent", traceparent.as_str())];
    let (status, _, body) = send(&served, ADA, "Join", body, &headers).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let spans = recorder.spans("http", "trace_id", &trace);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let command = spans
        .iter()
        .find(|s| s.field("path") == "/v1/commands/Join")
        .expect("the command's span");
    assert_eq!(command.field("method"), "POST");
    assert_eq!(command.field("parent_id"), "00f067aa0ba902b7");
    assert_eq!(command.field("actor"), "ada");
    assert_eq!(command.field("tenant"), "acme");
    assert_eq!(command.field("status"), "200");

    // A malformed `traceparent` is ignored, as the W3C spec says: the request is served.
    let bad = format!("00-{trace}-0000000000000000-01");
    let response = client()
        .get(served.url("/whoami"))
        .bearer_auth(ADA)
        .header("traceparent", &bad)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["trace"],
        Value::Null
    );
    assert_eq!(recorder.spans("http", "trace_id", &trace).len(), 2);
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
