//! `GET /v1/metrics`: the Prometheus text, behind its role.

use herald::http::ChannelSettings;
use herald::nats::{Nats, Relay};
use herald::telemetry::Prometheus;
use herald_tests::channels::Client;
use reqwest::StatusCode;

use super::*;

/// The value of the series `series` (name and labels, as rendered), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

async fn scrape(served: &Served, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = client().get(served.url("/v1/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_counts_commands_and_asks_for_its_role() {
    exporter();
    let prometheus = Prometheus::install().expect("the recorder");
    let test = TestStore::sqlite().await;
    let (_herald, served) = serve(&test, |api| api.metrics(prometheus, "metrics")).await;

    // Authenticated, and only for the role.
    let (status, _, _) = scrape(&served, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = scrape(&served, Some(GUEST)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("metrics"), "{body}");

    let (status, content_type, before) = scrape(&served, Some(SCRAPER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let ok = r#"herald_commands_total{command="Arrive",outcome="ok"}"#;
    let rejected = r#"herald_commands_total{command="Arrive",outcome="rejected"}"#;
    let timed = r#"herald_command_duration_seconds_count{command="Arrive",outcome="ok"}"#;
    let guests: Vec<String> = (0..3).map(|_| guest()).collect();
    for guest in &guests {
        send(&served, "Arrive", arrival(guest, "x@y.example"), &[]).await;
    }
    let spam = client()
        .post(served.url("/v1/commands/Arrive"))
        .bearer_auth(GUEST)
        .json(&arrival(&super::guest(), "x@spam.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(spam.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (_, _, after) = scrape(&served, Some(SCRAPER)).await;
    assert!(value(&after, ok) >= value(&before, ok) + 3.0, "{after}");
    assert!(
        value(&after, timed) >= value(&before, timed) + 3.0,
        "{after}"
    );
    // Only this test sends spam.
    assert_eq!(
        value(&after, rejected),
        value(&before, rejected) + 1.0,
        "{after}"
    );
    assert!(
        after.contains("# TYPE herald_command_duration_seconds histogram"),
        "{after}"
    );
    assert!(
        after.contains("herald_command_duration_seconds_bucket{"),
        "{after}"
    );

    // The consumers report where they stand, and a lease they took.
    let mut scraped = after;
    for _ in 0..250 {
        if scraped.contains(r#"herald_consumer_lag_events{consumer="guest_book"}"#)
            && scraped.contains(r#"herald_consumer_lease_takeovers_total{consumer="greeter"}"#)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        scraped = scrape(&served, Some(SCRAPER)).await.2;
    }
    assert!(
        scraped.contains(r#"herald_consumer_lag_seconds{consumer="guest_book"}"#),
        "{scraped}"
    );
    assert!(
        scraped.contains(r#"herald_consumer_lease_takeovers_total{consumer="greeter"}"#),
        "{scraped}"
    );
    // No label holds an id or a payload value.
    for guest in &guests {
        assert!(!scraped.contains(guest.as_str()), "{scraped}");
    }
    assert!(!scraped.contains("y.example"));

    // The document lists the route when it is served.
    let document: Value = served.openapi().await;
    let metrics = &document["paths"]["/v1/metrics"]["get"];
    assert_eq!(metrics["operationId"], "metrics");
    assert!(metrics["responses"]["200"]["content"]["text/plain"].is_object());
    assert!(metrics["responses"]["403"].is_object());
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_metrics_the_route_is_not_there() {
    let test = TestStore::sqlite().await;
    let (_herald, served) = serve(&test, |api| api).await;
    let (status, _, _) = scrape(&served, Some(SCRAPER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let document: Value = served.openapi().await;
    assert!(document["paths"]["/v1/metrics"].is_null());
    served.stop().await;
}

/// Scrapes until `series` reads `wanted`, for at most 10 s; the last scrape.
async fn until_value(served: &Served, series: &str, wanted: impl Fn(f64) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(served, Some(SCRAPER)).await.2;
        if wanted(value(&text, series)) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("`{series}` never read as wanted in 10 s:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_counts_what_it_published_and_what_it_has_not() {
    let prometheus = Prometheus::install().expect("the recorder");
    let test = TestStore::sqlite().await;
    let (herald, served) = serve(&test, |api| api.metrics(prometheus, "metrics")).await;
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned());
    let name = format!("herald_test_{}", Uuid::now_v7().simple());
    let nats = Nats::connect(&url, &name, &name)
        .await
        .unwrap_or_else(|e| panic!("NATS at {url} is not reachable (is it running?): {e}"));
    let before = value(
        &scrape(&served, Some(SCRAPER)).await.2,
        "herald_relay_published_total",
    );
    for _ in 0..3 {
        send(&served, "Arrive", arrival(&guest(), "x@y.example"), &[]).await;
    }
    // Each arrival is welcomed by the eventual processor: 6 events in all.
    let relay = Relay::start(&herald, &nats).await.expect("the relay");
    let text = until_value(&served, "herald_relay_published_total", |n| {
        n >= before + 6.0
    })
    .await;
    assert!(
        text.contains("# TYPE herald_relay_lag_events gauge"),
        "{text}"
    );
    // Caught up, it has nothing left to publish.
    until_value(&served, "herald_relay_lag_events", |n| n == 0.0).await;
    relay.stop().await;
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_sockets_are_counted_while_they_are_open() {
    let prometheus = Prometheus::install().expect("the recorder");
    let test = TestStore::sqlite().await;
    let (_herald, served) = serve(&test, |api| {
        api.metrics(prometheus, "metrics")
            .channels(ChannelSettings::new())
    })
    .await;
    let gauge = "herald_channel_subscribers";
    let before = value(&scrape(&served, Some(SCRAPER)).await.2, gauge);
    let mut first = Client::connect(&served, Some(GUEST)).await;
    let mut second = Client::connect(&served, Some(GUEST)).await;
    for client in [&mut first, &mut second] {
        let ok = client
            .subscribe("a", "arrivals", "guest.*.arrived", None)
            .await;
        assert_eq!(ok["type"], "subscribed", "{ok}");
    }
    until_value(&served, gauge, |n| n == before + 2.0).await;
    first.close().await;
    until_value(&served, gauge, |n| n == before + 1.0).await;
    second.close().await;
    until_value(&served, gauge, |n| n == before).await;
    served.stop().await;
}
