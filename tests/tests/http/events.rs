//! Events recorded over HTTP without an aggregate: a stream of their own, idempotency,
//! tenants, and bad or unknown events.

use super::*;

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
