//! The trace explorer's routes: the recent commands (filtered by pattern and by failure,
//! in pages), one command's whole tree (its steps, its event, the eventual consumers
//! that took it, handled or parked, and the command an eventual processor dispatched for
//! it, with that command's own event), the trace role, tenant isolation, bad input, and
//! the page itself.

use super::*;

/// A flag on a member, recorded without an aggregate.
#[event("member.:member_id.flagged", stream = "flags")]
#[derive(Clone)]
struct Flagged {
    member_id: String,
    reason: String,
}

#[command("flag.member.:member_id", event = Flagged)]
#[derive(Clone)]
struct Flag {
    member_id: String,
    reason: String,
}

impl From<Flag> for Flagged {
    fn from(cmd: Flag) -> Self {
        Flagged {
            member_id: cmd.member_id,
            reason: cmd.reason,
        }
    }
}

#[event("member.:member_id.reviewed", stream = "reviews")]
#[derive(Clone)]
struct Reviewed {
    member_id: String,
}

#[command("review.member.:member_id", event = Reviewed)]
#[derive(Clone)]
struct Review {
    member_id: String,
}

impl From<Review> for Reviewed {
    fn from(cmd: Review) -> Self {
        Reviewed {
            member_id: cmd.member_id,
        }
    }
}

/// After the commit, each flag is reviewed: a command of its own.
#[processor("member.:member_id.flagged", consistency = eventual)]
async fn review(e: &Recorded<Flagged>, _cx: &mut Cx<'_>) -> Result<Review, String> {
    Ok(Review {
        member_id: e.member_id.clone(),
    })
}

/// After the commit, each flag is logged; a poisoned one never is.
#[projector("member.:member_id.flagged", consistency = eventual)]
async fn flag_log(e: &Recorded<Flagged>, _cx: &mut Cx<'_>) -> Result<(), String> {
    match e.reason.as_str() {
        "poison" => Err("the flag log refuses poison".into()),
        _ => Ok(()),
    }
}

/// An operator of `globex`.
const CAROL: &str = "carol-token";

/// The suite's runtime, where a failing eventual handler is parked after one try, with
/// an operator of a second tenant.
async fn serve_trace(test: &TestStore) -> (Herald, Served) {
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["http"])
        .consumer_poll(Duration::from_millis(20))
        .consumer_retry(herald::RetryPolicy::new(1))
        .build()
        .await
        .expect("the runtime");
    let tokens = tokens().token(CAROL, Actor::new("carol", "globex").with_role("operator"));
    let api = Api::new(herald.clone(), tokens).trace_role("operator");
    let served = Served::start(herald.clone(), api.router()).await;
    (herald, served)
}

async fn flag(served: &Served, token: &str, member: &str, reason: &str) -> String {
    let (status, _, body) = send(
        served,
        token,
        "Flag",
        json!({ "member_id": member, "reason": reason }),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["command_id"].as_str().unwrap().to_owned()
}

/// The tree of `command`, once `done` holds for it (the eventual consumers have moved).
async fn tree_once(served: &Served, command: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, tree) = get(served, ROOT, &format!("/v1/trace/commands/{command}")).await;
        assert_eq!(status, StatusCode::OK, "{tree:#}");
        if done(&tree) {
            return tree;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tree never got there: {tree:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn nodes(tree: &Value) -> &Vec<Value> {
    tree["nodes"].as_array().expect("nodes")
}

/// The nodes of `kind` labelled `label`.
fn find<'t>(tree: &'t Value, kind: &str, label: &str) -> Vec<&'t Value> {
    nodes(tree)
        .iter()
        .filter(|n| n["kind"] == kind && n["label"] == label)
        .collect()
}

fn one<'t>(tree: &'t Value, kind: &str, label: &str) -> &'t Value {
    let found = find(tree, kind, label);
    assert_eq!(found.len(), 1, "{kind} {label} in {tree:#}");
    found[0]
}

fn consumer_status<'t>(tree: &'t Value, name: &str) -> Option<&'t str> {
    find(tree, "consumer", name).first()?["status"].as_str()
}

/// Whether `node` is below `ancestor`.
fn below(tree: &Value, node: &Value, ancestor: &Value) -> bool {
    let mut at = node["parent"].as_u64();
    while let Some(id) = at {
        if id == ancestor["id"].as_u64().unwrap() {
            return true;
        }
        at = nodes(tree)[id as usize]["parent"].as_u64();
    }
    false
}

#[on_every_backend]
async fn a_command_tree_shows_its_steps_events_consumers_and_the_commands_they_caused(
    test: &TestStore,
) {
    let (_herald, served) = serve_trace(test).await;
    let member = member();
    let command = flag(&served, ROOT, &member, "spam").await;
    let tree = tree_once(&served, &command, |t| {
        consumer_status(t, "flag_log") == Some("handled")
            && consumer_status(t, "review") == Some("handled")
            && !find(t, "event", &format!("member.{member}.reviewed")).is_empty()
    })
    .await;
    assert_eq!(tree["command_id"], command.as_str(), "{tree:#}");
    assert_eq!(tree["truncated"], false);
    // The command at the root, at the origin, with its timed steps below it.
    let root = &nodes(&tree)[0];
    assert_eq!(root["kind"], "command");
    assert_eq!(root["label"], format!("flag.member.{member}"));
    assert_eq!(root["parent"], Value::Null);
    assert_eq!(root["start_us"], 0);
    assert_eq!(root["detail"]["command"], "Flag");
    let steps: Vec<&Value> = nodes(&tree)
        .iter()
        .filter(|n| n["kind"] == "step")
        .collect();
    assert!(
        steps.iter().any(|s| s["detail"]["operation"] == "append"),
        "{tree:#}"
    );
    let root_took = root["took_us"].as_u64().unwrap();
    // Each step lies within its command's time.
    for step in &steps {
        assert!(below(&tree, step, root), "{step:#}");
        let mut command = &nodes(&tree)[step["parent"].as_u64().unwrap() as usize];
        while command["kind"] != "command" {
            command = &nodes(&tree)[command["parent"].as_u64().unwrap() as usize];
        }
        let (start, took) = (
            step["start_us"].as_u64().unwrap(),
            step["took_us"].as_u64().unwrap(),
        );
        let from = command["start_us"].as_u64().unwrap();
        let to = from + command["took_us"].as_u64().unwrap();
        assert!(
            from <= start && start + took <= to + 1,
            "{step:#} in {command:#}"
        );
    }
    // Its event, recorded while it ran, linked to it.
    let flagged = one(&tree, "event", &format!("member.{member}.flagged"));
    assert_eq!(flagged["parent"], root["id"]);
    assert_eq!(flagged["detail"]["command_id"], command.as_str());
    assert_eq!(flagged["detail"]["payload"]["reason"], "spam");
    let event_start = flagged["start_us"].as_u64().unwrap();
    assert!(event_start <= root_took, "{flagged:#}");
    // The eventual consumers that took it.
    let log = one(&tree, "consumer", "flag_log");
    assert_eq!(log["parent"], flagged["id"]);
    assert_eq!(log["detail"]["kind"], "projector");
    let processor = one(&tree, "consumer", "review");
    assert_eq!(processor["parent"], flagged["id"]);
    assert_eq!(processor["detail"]["kind"], "processor");
    // The command the processor dispatched, after the event, in the same correlation,
    // with its own event caused by the first.
    let caused = one(&tree, "command", &format!("review.member.{member}"));
    assert_eq!(caused["parent"], processor["id"]);
    assert_eq!(caused["detail"]["correlation_id"], tree["correlation_id"]);
    assert_ne!(caused["detail"]["command_id"], command.as_str());
    assert!(
        caused["start_us"].as_u64().unwrap() >= event_start,
        "{caused:#}"
    );
    let reviewed = one(&tree, "event", &format!("member.{member}.reviewed"));
    assert_eq!(reviewed["parent"], caused["id"]);
    assert_eq!(
        reviewed["detail"]["causation_id"],
        flagged["detail"]["event_id"]
    );
    assert_eq!(reviewed["detail"]["correlation_id"], tree["correlation_id"]);
    // The processor handled the flag by the time its command started.
    assert!(processor["took_us"].as_u64().is_some(), "{processor:#}");

    // The caused command has a tree of its own.
    let caused_id = caused["detail"]["command_id"].as_str().unwrap();
    let (status, own) = get(&served, ROOT, &format!("/v1/trace/commands/{caused_id}")).await;
    assert_eq!(status, StatusCode::OK, "{own:#}");
    assert_eq!(nodes(&own)[0]["label"], format!("review.member.{member}"));

    // The list shows both, newest first; the pattern keeps one.
    let (status, list) = get(&served, ROOT, "/v1/trace/commands").await;
    assert_eq!(status, StatusCode::OK, "{list:#}");
    let listed: Vec<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [caused_id, command.as_str()], "{list:#}");
    let (_, list) = get(&served, ROOT, "/v1/trace/commands?patterns=flag.member.*").await;
    let entry = &list["commands"][0];
    assert_eq!(list["commands"].as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(entry["command_id"], command.as_str());
    assert_eq!(entry["route"], format!("flag.member.{member}"));
    assert_eq!(entry["command"], "Flag");
    assert_eq!(
        (entry["failed"].clone(), entry["parked"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(entry["events"], 1);
    assert!(entry["took_us"].as_u64().is_some(), "{entry:#}");
    assert_eq!(list["next"], Value::Null);
}

#[on_every_backend]
async fn a_parked_event_shows_in_the_tree_and_marks_its_command_failed(test: &TestStore) {
    let (_herald, served) = serve_trace(test).await;
    let healthy = flag(&served, ROOT, &member(), "spam").await;
    let member = member();
    let poisoned = flag(&served, ROOT, &member, "poison").await;
    let tree = tree_once(&served, &poisoned, |t| {
        consumer_status(t, "flag_log") == Some("parked")
            && consumer_status(t, "review") == Some("handled")
    })
    .await;
    let parked = one(&tree, "consumer", "flag_log");
    assert!(
        parked["detail"]["attempts"].as_u64() >= Some(1),
        "{parked:#}"
    );
    let error = parked["detail"]["error"].as_str().unwrap();
    assert!(error.ends_with("the flag log refuses poison"), "{error}");
    assert!(parked["start_us"].as_u64().is_some(), "{parked:#}");
    // The other consumer of the same event was not held back.
    assert_eq!(
        find(&tree, "command", &format!("review.member.{member}")).len(),
        1
    );

    let (status, list) = get(&served, ROOT, "/v1/trace/commands?failed=true").await;
    assert_eq!(status, StatusCode::OK, "{list:#}");
    let failed = list["commands"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{list:#}");
    assert_eq!(failed[0]["command_id"], poisoned.as_str());
    assert_eq!(
        (failed[0]["failed"].clone(), failed[0]["parked"].clone()),
        (json!(true), json!(1))
    );
    let (_, all) = get(&served, ROOT, "/v1/trace/commands?patterns=flag.*").await;
    let all: Vec<&str> = all["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_id"].as_str().unwrap())
        .collect();
    assert_eq!(all, [poisoned.as_str(), healthy.as_str()]);
}

#[on_every_backend]
async fn the_tree_is_for_the_trace_role_and_each_tenant_sees_only_its_own(test: &TestStore) {
    let (_herald, served) = serve_trace(test).await;
    let acme = flag(&served, ROOT, &member(), "spam").await;
    let globex = flag(&served, CAROL, &member(), "spam").await;
    // Without the trace role: no tree, whosever command it is; the list without timings.
    for command in [&acme, &globex] {
        let (status, body) = get(&served, ADA, &format!("/v1/trace/commands/{command}")).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            body["detail"].as_str().unwrap().contains("operator"),
            "{body:#}"
        );
    }
    let (status, list) = get(&served, ADA, "/v1/trace/commands?patterns=flag.*").await;
    assert_eq!(status, StatusCode::OK, "{list:#}");
    assert_eq!(list["commands"].as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list["commands"][0]["command_id"], acme.as_str());
    assert_eq!(list["commands"][0].get("took_us"), None, "{list:#}");
    // Another tenant's operator: another tenant's command does not exist for them.
    let (status, body) = get(&served, CAROL, &format!("/v1/trace/commands/{acme}")).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, own) = get(&served, CAROL, &format!("/v1/trace/commands/{globex}")).await;
    assert_eq!(status, StatusCode::OK, "{own:#}");
    for node in nodes(&own) {
        if let Some(stream) = node["detail"].get("stream") {
            assert_eq!(stream["tenant"], "globex", "{node:#}");
        }
    }
    let (_, list) = get(&served, CAROL, "/v1/trace/commands").await;
    let listed: Vec<&Value> = list["commands"].as_array().unwrap().iter().collect();
    assert!(
        listed.iter().all(|c| c["command_id"] != acme.as_str()),
        "{list:#}"
    );
    assert!(listed.iter().any(|c| c["command_id"] == globex.as_str()));
    // Paging on from acme's command (older than carol's) finds none of globex's.
    let (_, list) = get(&served, CAROL, &format!("/v1/trace/commands?before={acme}")).await;
    assert_eq!(list["commands"], json!([]), "{list:#}");
    // Without credentials: nothing.
    let response = client()
        .get(served.url("/v1/trace/commands"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[on_every_backend]
async fn the_list_pages_newest_first_and_bad_input_is_a_400(test: &TestStore) {
    let (_herald, served) = serve_trace(test).await;
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.push(join(&served, ADA).await);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/trace/commands?patterns=join.*&limit=2".to_owned();
    loop {
        let (status, page) = get(&served, ADA, &path).await;
        assert_eq!(status, StatusCode::OK, "{page:#}");
        let commands = page["commands"].as_array().unwrap();
        assert!(commands.len() <= 2, "{page:#}");
        seen.extend(
            commands
                .iter()
                .map(|c| c["route"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => {
                path = format!("/v1/trace/commands?patterns=join.*&limit=2&before={next}")
            }
            None => break,
        }
    }
    let expected: Vec<String> = sent
        .iter()
        .rev()
        .map(|m| format!("join.member.{m}"))
        .collect();
    assert_eq!(seen, expected);

    for (bad, code) in [
        ("limit=0", "invalid_query"),
        ("limit=201", "invalid_query"),
        ("failed=maybe", "invalid_query"),
        ("colour=red", "invalid_query"),
        ("before=yesterday", "invalid_command_id"),
        ("patterns=join..member", "invalid_pattern"),
    ] {
        let (status, body) = get(&served, ADA, &format!("/v1/trace/commands?{bad}")).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, code);
    }
    let (status, body) = get(&served, ROOT, "/v1/trace/commands/not-a-uuid").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_command_id");
    let (status, body) = get(
        &served,
        ROOT,
        &format!("/v1/trace/commands/{}", Uuid::now_v7()),
    )
    .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_page_is_served_whole_without_credentials() {
    let test = TestStore::memory();
    let (_herald, served) = serve_trace(&test).await;
    let response = client().get(served.url("/v1/trace/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("<script>") && page.contains("<style>"),
        "{page}"
    );
    // Self-contained: nothing from elsewhere.
    for outside in [
        "src=\"http",
        "href=\"http",
        "<script src",
        "<link rel=\"stylesheet\"",
        "@import",
    ] {
        assert!(!page.contains(outside), "the page loads {outside}");
    }
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(served.url("/v1/trace"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers()["location"], "trace/");
}
