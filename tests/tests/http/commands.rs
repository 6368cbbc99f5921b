//! Commands over HTTP: their events and positions, idempotency keys (and their races),
//! every problem status, bad bodies, `Prefer: wait-for`, a busy store, and the events a
//! command's processors and dispatchers committed with it.

use super::*;

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

/// A store with no room for a command in time (SQLite's writer held by another command
/// past `writer_wait`; PostgreSQL's pool of one connection held past its acquire timeout)
/// answers 503 `saturated` with `Retry-After`, writes nothing, and serves again once the
/// writer is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_store_answers_503_with_retry_after_and_writes_nothing() {
    let wait = Duration::from_millis(200);
    let stores = [
        TestStore::sqlite_with(|store| store.writer_wait(wait)).await,
        TestStore::postgres_with(
            herald::sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(wait),
        )
        .await,
    ];
    for test in &stores {
        let (_herald, served) = serve(test).await;
        let holder = member();
        let held = {
            let url = served.url("/v1/commands/Join");
            let body = json!({ "member_id": holder, "email": "hold@example.com" });
            tokio::spawn(async move {
                let response = client().post(url).bearer_auth(ADA).json(&body).send();
                let response = response.await.unwrap();
                (response.status(), response.text().await.unwrap())
            })
        };
        tokio::time::sleep(Duration::from_millis(400)).await;
        let refused = member();
        let body = json!({ "member_id": refused, "email": "ada@example.com" });
        let (status, headers, body) = send(&served, ADA, "Join", body, &[]).await;
        assert_problem(status, &body, StatusCode::SERVICE_UNAVAILABLE, "saturated");
        assert_eq!(headers["retry-after"], "1", "{}", test.kind());
        let (status, body) = held.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{}: {body}", test.kind());
        assert_eq!(
            stream_len(&served, ADA, &refused).await,
            0,
            "nothing written"
        );
        let body = json!({ "member_id": refused, "email": "ada@example.com" });
        let (status, _, body) = send(&served, ADA, "Join", body, &[]).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} serves again: {body:#}",
            test.kind()
        );
        served.stop().await;
    }
}

#[on_every_backend]
async fn a_commands_response_holds_its_processors_and_dispatchers_events(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    let (referrer, friend) = (member(), member());
    let refer = json!({ "member_id": referrer, "friend": friend });
    let headers = [
        ("prefer", "wait-for=\"profiles\", wait=10"),
        ("idempotency-key", "refer-once"),
    ];
    let (status, _, body) = send(&served, ADA, "Refer", refer.clone(), &headers).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    // The same request again: the first result, every event of it.
    let (status, replayed, again) = send(&served, ADA, "Refer", refer, &headers).await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(replayed["idempotent-replayed"], "true");
    assert_eq!(again["events"], body["events"]);
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
