//! Remote consumers over HTTP: killed mid-way and resumed, held polls (in one process and
//! across two), tenants, and archiving that waits for them.

use super::*;

#[on_every_backend]
async fn a_remote_consumer_killed_mid_way_resumes_where_it_acknowledged(test: &TestStore) {
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

/// Registers ADA's consumer `name` of the `joined` events.
async fn register_joins(served: &Served, name: &str) {
    let registration = json!({ "patterns": ["member.*.joined"] });
    let path = format!("/v1/consumers/{name}");
    let (status, body) = call(served, Method::PUT, ADA, &path, Some(registration)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
}

/// ADA's poll of consumer `name`, held open for up to 20 s: its page, and how long it took.
fn hold_poll(served: &Served, name: &str) -> tokio::task::JoinHandle<(Value, Duration)> {
    let url = served.url(&format!("/v1/consumers/{name}/events?wait=20"));
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let response = client().get(url).bearer_auth(ADA).send().await.unwrap();
        let page: Value = response.json().await.unwrap();
        (page, started.elapsed())
    })
}

/// A poll held open with `wait` answers as soon as an event of the consumer's own
/// commits (not one of another tenant's, nor one its patterns leave out), and with an
/// empty page when the wait ends first.
#[on_every_backend]
async fn a_held_poll_answers_once_an_event_of_its_own_commits(test: &TestStore) {
    let (_herald, served) = serve(test).await;
    register_joins(&served, "crm").await;
    let started = std::time::Instant::now();
    let (status, page) = call(
        &served,
        Method::GET,
        ADA,
        "/v1/consumers/crm/events?wait=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    assert_eq!(page["events"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");

    let held = hold_poll(&served, "crm");
    tokio::time::sleep(Duration::from_millis(300)).await;
    join(&served, BOB).await; // another tenant's
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !held.is_finished(),
        "another tenant's event is not the consumer's"
    );
    let id = join(&served, ADA).await;
    let (page, took) = held.await.unwrap();
    assert_eq!(members(&page), [id]);
    assert!(
        took < Duration::from_secs(3),
        "answered when the event committed, in {took:?}"
    );
    served.stop().await;
}

/// On PostgreSQL, a poll held open by one process answers when another process commits
/// an event of the consumer's own.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_poll_hears_of_another_processs_commit() {
    let test = TestStore::postgres().await;
    let (_a, served_a) = serve(&test).await;
    let other = test.reopen().await.expect("a second store");
    let (_b, served_b) = serve_store(other, |api| api).await;
    register_joins(&served_a, "crm").await;
    let held = hold_poll(&served_a, "crm");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = join(&served_b, ADA).await;
    let (page, took) = held.await.unwrap();
    assert_eq!(members(&page), [id]);
    assert!(
        took < Duration::from_secs(3),
        "answered when B committed, in {took:?}"
    );
    served_b.stop().await;
    served_a.stop().await;
}

#[on_every_backend]
async fn no_tenant_sees_or_touches_another_tenants_consumers(test: &TestStore) {
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
