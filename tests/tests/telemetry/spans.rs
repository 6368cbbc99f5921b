//! The spans, as OpenTelemetry gets them.

use std::collections::HashMap;

use herald::store::SqliteStore;

use super::*;

/// The span `id` and its ancestors in `spans`, nearest first.
fn ancestry(spans: &[SpanData], id: SpanId) -> Vec<&SpanData> {
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let mut chain = Vec::new();
    let mut at = by_id.get(&id).copied();
    while let Some(span) = at {
        chain.push(span);
        at = by_id.get(&span.parent_span_id).copied();
    }
    chain
}

/// No attribute of `spans` holds `secret`.
fn assert_no_payload(spans: &[&SpanData], secret: &str) {
    for span in spans {
        for kv in &span.attributes {
            let value = kv.value.to_string();
            assert!(
                !value.contains(secret),
                "span {} has a payload value in `{}`: {value}",
                span.name,
                kv.key
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_over_http_and_its_eventual_consumers_are_traces_linked_to_the_request() {
    exporter();
    let test = TestStore::sqlite().await;
    let (_herald, served) = serve(&test, |api| api).await;
    let (header, trace_id, caller) = traceparent();
    let guest = guest();
    let email = format!("{guest}@secret.example");

    let body = send(
        &served,
        "Arrive",
        arrival(&guest, &email),
        &[("traceparent", &header)],
    )
    .await;
    // The event keeps the request's trace context.
    assert_eq!(
        body["events"][0]["metadata"]["traceparent"],
        header.as_str()
    );

    // The request's span continues the caller's trace; the dispatch is below it.
    let spans = finished();
    let http: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "http" && s.span_context.trace_id() == trace_id)
        .collect();
    assert_eq!(http.len(), 1, "one request span in the caller's trace");
    assert_eq!(http[0].parent_span_id, caller);
    assert!(http[0].parent_span_is_remote);
    let route = format!("arrive.guest.{guest}");
    let dispatch = named(&spans, "herald.dispatch", "route", &route);
    assert_eq!(dispatch.len(), 1, "one dispatch span");
    let dispatch = &dispatch[0];
    assert_eq!(dispatch.span_context.trace_id(), trace_id);
    assert_eq!(dispatch.parent_span_id, http[0].span_context.span_id());
    assert_eq!(attribute(dispatch, "command").as_deref(), Some("Arrive"));
    let command_id = body["command_id"].as_str().unwrap();
    assert_eq!(
        attribute(dispatch, "command_id").as_deref(),
        Some(command_id)
    );
    assert_eq!(
        attribute(dispatch, "correlation_id").as_deref(),
        body["correlation_id"].as_str()
    );
    assert_eq!(attribute(dispatch, "version").as_deref(), Some("1"));
    let stream = format!("acme/guest/{guest}");
    assert_eq!(
        attribute(dispatch, "stream").as_deref(),
        Some(stream.as_str())
    );

    // Its steps are its children, each named after its operation.
    let steps: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == dispatch.span_context.span_id())
        .collect();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_ref()).collect();
    for step in [
        "herald.authorize",
        "herald.load",
        "herald.handle",
        "herald.apply",
        "herald.append",
        "herald.finish",
        "herald.commit",
    ] {
        assert!(
            names.contains(&step),
            "{step} is a child of the dispatch: {names:?}"
        );
    }
    let append = steps.iter().find(|s| s.name == "herald.append").unwrap();
    assert_eq!(
        attribute(append, "stream").as_deref(),
        Some(stream.as_str())
    );
    assert_eq!(attribute(append, "version").as_deref(), Some("0"));
    let handle = steps.iter().find(|s| s.name == "herald.handle").unwrap();
    assert_eq!(
        attribute(handle, "handler").as_deref(),
        Some("Guest::arrive")
    );

    // The eventual projector: a new trace, linked to the request's.
    let arrived = format!("guest.{guest}.arrived");
    let projected = wait_for_spans("guest_book's handling", |spans| {
        named(spans, "herald.consumer.handle", "route", &arrived)
            .into_iter()
            .find(|s| attribute(s, "consumer").as_deref() == Some("guest_book"))
    })
    .await;
    assert_ne!(
        projected.span_context.trace_id(),
        trace_id,
        "a trace of its own"
    );
    let links = &projected.links.links;
    assert_eq!(links.len(), 1, "one link: {links:?}");
    assert_eq!(links[0].span_context.trace_id(), trace_id);
    assert_eq!(links[0].span_context.span_id(), caller);
    // The batch's span ends (and is exported) after its handling's: wait for it too.
    let batch = wait_for_spans("guest_book's batch above its handling", |spans| {
        let chain = ancestry(spans, projected.span_context.span_id());
        let root = chain.last()?;
        (root.name == "herald.consumer.batch").then(|| (*root).clone())
    })
    .await;
    let batch = &batch;
    assert_eq!(attribute(batch, "consumer").as_deref(), Some("guest_book"));
    assert_eq!(
        batch.parent_span_id,
        SpanId::INVALID,
        "the root of its trace"
    );
    assert_eq!(
        attribute(&projected, "stream").as_deref(),
        Some(stream.as_str())
    );
    assert_eq!(attribute(&projected, "version").as_deref(), Some("1"));
    assert!(attribute(&projected, "position").is_some());

    // The eventual processor: linked the same way; its command is a dispatch below it.
    let processed = wait_for_spans("greeter's handling", |spans| {
        named(spans, "herald.consumer.handle", "route", &arrived)
            .into_iter()
            .find(|s| attribute(s, "consumer").as_deref() == Some("greeter"))
    })
    .await;
    assert_ne!(processed.span_context.trace_id(), trace_id);
    assert_eq!(processed.links.links.len(), 1);
    assert_eq!(processed.links.links[0].span_context.trace_id(), trace_id);
    let welcome_route = format!("welcome.guest.{guest}");
    let welcome = wait_for_spans("the Welcome dispatch", |spans| {
        named(spans, "herald.dispatch", "route", &welcome_route)
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(attribute(&welcome, "command").as_deref(), Some("Welcome"));
    assert_eq!(
        welcome.span_context.trace_id(),
        processed.span_context.trace_id()
    );
    let spans = finished();
    let chain = ancestry(&spans, welcome.span_context.span_id());
    assert!(
        chain
            .iter()
            .any(|s| s.span_context.span_id() == processed.span_context.span_id()),
        "the processor's command is below its handling: {:?}",
        chain.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert!(
        spans.iter().any(
            |s| s.name == "herald.append" && s.parent_span_id == welcome.span_context.span_id()
        ),
        "the Welcome's steps are below its dispatch"
    );

    // Its event keeps the context of its dispatch: the projector of welcomes links there.
    let welcomed = format!("guest.{guest}.welcomed");
    let welcomed_span = wait_for_spans("welcome_book's handling", |spans| {
        named(spans, "herald.consumer.handle", "route", &welcomed)
            .into_iter()
            .next()
    })
    .await;
    let link = &welcomed_span.links.links[0].span_context;
    assert_eq!(link.trace_id(), welcome.span_context.trace_id());
    assert_eq!(link.span_id(), welcome.span_context.span_id());

    // No payload value in any of them.
    let spans = finished();
    let traces = [
        trace_id,
        projected.span_context.trace_id(),
        processed.span_context.trace_id(),
        welcomed_span.span_context.trace_id(),
    ];
    let ours: Vec<&SpanData> = spans
        .iter()
        .filter(|s| traces.contains(&s.span_context.trace_id()))
        .collect();
    assert!(ours.len() > 20, "the traces hold the steps: {}", ours.len());
    assert_no_payload(&ours, &email);
    assert_no_payload(&ours, "secret.example");
    assert_no_payload(&ours, "note-for-");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_committed_together_keep_their_steps_below_their_own_dispatch() {
    exporter();
    let file = herald_tests::backends::scratch_file();
    let herald = Herald::builder()
        .modules(["telemetry"])
        .store(SqliteStore::open(&file).await.unwrap())
        .group_commit(true)
        .build()
        .await
        .unwrap();
    let mut guests = Vec::new();
    let mut grouped = false;
    for _round in 0..20 {
        let round: Vec<String> = (0..8).map(|_| guest()).collect();
        let tasks: Vec<_> = round
            .iter()
            .map(|guest| {
                let herald = herald.clone();
                let command = Arrive {
                    guest_id: guest.clone(),
                    email: format!("{guest}@secret.example"),
                };
                tokio::spawn(async move { herald.dispatch(command).await })
            })
            .collect();
        for task in tasks {
            let dispatched = task.await.unwrap().unwrap();
            grouped |= dispatched.trace().nodes().any(|n| {
                n.detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("committed in one transaction with"))
            });
        }
        guests.extend(round);
        if grouped && guests.len() >= 16 {
            break;
        }
    }
    assert!(grouped, "some commands committed together");

    let spans = finished();
    for guest in &guests {
        let route = format!("arrive.guest.{guest}");
        let dispatch = named(&spans, "herald.dispatch", "route", &route);
        assert_eq!(dispatch.len(), 1, "{route}");
        let dispatch = &dispatch[0];
        let id = dispatch.span_context.span_id();
        let stream = format!("{}/guest/{guest}", Actor::DEFAULT_TENANT);
        assert_eq!(
            attribute(dispatch, "stream").as_deref(),
            Some(stream.as_str())
        );
        let children: Vec<&SpanData> = spans.iter().filter(|s| s.parent_span_id == id).collect();
        for step in [
            "herald.begin",
            "herald.append",
            "herald.finish",
            "herald.commit",
        ] {
            let found: Vec<_> = children.iter().filter(|s| s.name == step).collect();
            assert_eq!(found.len(), 1, "{route}: one {step}");
            assert_eq!(
                found[0].span_context.trace_id(),
                dispatch.span_context.trace_id()
            );
        }
        let append = children.iter().find(|s| s.name == "herald.append").unwrap();
        assert_eq!(
            attribute(append, "stream").as_deref(),
            Some(stream.as_str())
        );
    }
    // Every append of this runtime's streams sits below the dispatch of its own stream.
    for append in spans.iter().filter(|s| s.name == "herald.append") {
        let Some(stream) = attribute(append, "stream") else {
            continue;
        };
        if !guests.iter().any(|g| stream.ends_with(g.as_str())) {
            continue;
        }
        let parent = spans
            .iter()
            .find(|s| s.span_context.span_id() == append.parent_span_id)
            .expect("its parent was exported");
        assert_eq!(parent.name, "herald.dispatch");
        assert_eq!(attribute(parent, "stream"), Some(stream));
    }
    drop(herald);
    herald_tests::backends::remove_sqlite_files(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_in_process_keeps_the_context_it_is_given_or_its_own() {
    exporter();
    let test = TestStore::sqlite().await;
    let herald = Herald::builder()
        .store(test.store.clone())
        .modules(["telemetry"])
        .build()
        .await
        .unwrap();
    let (header, _, _) = traceparent();
    let guest = guest();
    let given = herald
        .dispatch(Arrive {
            guest_id: guest.clone(),
            email: "a@b.example".into(),
        })
        .trace_parent(herald::telemetry::TraceParent::parse(&header).unwrap())
        .await
        .unwrap();
    assert_eq!(
        given.events()[0].metadata.traceparent.as_deref(),
        Some(header.as_str())
    );
    // None given: the dispatch span's own context (on a guest of its own: the eventual
    // processor welcomes the one that arrived).
    let guest = super::guest();
    let own = herald
        .dispatch(Welcome {
            guest_id: guest.clone(),
            note: "hello".into(),
        })
        .await
        .unwrap();
    let stored = own.events()[0].metadata.traceparent.clone().unwrap();
    let stored = herald::telemetry::TraceParent::parse(&stored).unwrap();
    let spans = finished();
    let dispatch = named(
        &spans,
        "herald.dispatch",
        "route",
        &format!("welcome.guest.{guest}"),
    );
    assert_eq!(dispatch.len(), 1);
    assert_eq!(
        stored.trace_id,
        dispatch[0].span_context.trace_id().to_bytes()
    );
    assert_eq!(
        stored.parent_id,
        dispatch[0].span_context.span_id().to_bytes()
    );
}
