//! The reads: streams, aggregates with ETags, the global order in pages, results, the
//! OpenAPI document, tenant isolation, and an application's own read through a reader.

use super::*;

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
    // `limit` counts the events a page returns: those passed over do not use it up.
    let (_, first) = get(&served, ADA, "/v1/events?patterns=member.*.banned&limit=1").await;
    assert_eq!(first["events"][0]["name"], "Banned", "{first:#}");
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

#[tokio::test]
async fn the_openapi_document_lists_every_command_with_its_schema() {
    let herald = Herald::builder().modules(["http"]).build().await.unwrap();
    let served = Served::start(herald.clone(), herald::http::router(herald, tokens())).await;
    let document: Value = served.openapi().await;
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
