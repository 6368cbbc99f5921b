//! The README's curl session against the real `signup-http` process, on a fresh SQLite
//! file and a port the system picks: a sign-up, the same request again with its
//! `Idempotency-Key`, a duplicate e-mail address refused by the hook, a sign-up that waits
//! for the `profiles` projector and the application's route that reads it; then SIGTERM,
//! and the process stops gracefully.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The server process, killed if the test fails before it stops it.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signup-http"))
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("HERALD_TOKEN")
        .env("HERALD_DB", dir.join("signup.db"))
        .env("HERALD_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the signup-http binary starts");
    // It says where it listens once it does: `… listening on http://127.0.0.1:<port>`.
    let mut stdout = BufReader::new(child.stdout.take().expect("its output"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("its first line");
    let base = line
        .split_once("listening on ")
        .map(|(_, base)| base.trim().to_owned())
        .unwrap_or_else(|| panic!("signup-http said {line:?}"));
    // Keep draining its output, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});
    Server { child, base }
}

const ACME: &str = "acme-dev-token";
const GLOBEX: &str = "globex-dev-token";

async fn sign_up(
    server: &Server,
    token: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/commands/SignUp", server.base))
        .bearer_auth(token)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("an answer");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.expect("a JSON body"))
}

async fn get(server: &Server, token: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer");
    (
        response.status(),
        response.json().await.expect("a JSON body"),
    )
}

#[tokio::test]
async fn the_readme_session_runs_against_the_real_server_which_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("herald-signup-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = start(&dir);

    // Sign up.
    let ada = json!({ "user_id": "ada", "name": "Ada Lovelace", "email": "Ada@Example.com" });
    let key = [("Idempotency-Key", "sign-up-ada")];
    let (status, headers, first) = sign_up(&server, ACME, ada.clone(), &key).await;
    assert_eq!(status, StatusCode::OK, "{first:#}");
    assert_eq!(first["route"], "sign_up.user.ada");
    assert_eq!(first["events"][0]["name"], "SignedUp");
    assert_eq!(first["events"][0]["payload"]["email"], "ada@example.com");
    assert!(headers.get("idempotent-replayed").is_none());

    // The same request again: the first result, nothing run again.
    let (status, headers, again) = sign_up(&server, ACME, ada.clone(), &key).await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["command_id"], first["command_id"]);
    assert_eq!(again["repeat"], true);

    // Another user with Ada's address: refused by the hook.
    let copycat = json!({ "user_id": "eve", "name": "Eve", "email": "ada@example.COM" });
    let (status, headers, problem) = sign_up(
        &server,
        ACME,
        copycat.clone(),
        &[("Idempotency-Key", "sign-up-eve")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["handler"], "email_is_free", "{problem:#}");
    assert_eq!(problem["code"], "hook_rejected", "{problem:#}");
    assert_eq!(problem["type"], "urn:herald:problem:hook_rejected");
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("ada@example.com")),
        "{problem:#}"
    );
    // Another tenant has users of its own: the same address is free there.
    let (status, _, theirs) = sign_up(&server, GLOBEX, copycat, &[]).await;
    assert_eq!(status, StatusCode::OK, "{theirs:#}");

    // A sign-up that answers once its profile is written, then the profile.
    let grace = json!({ "user_id": "grace", "name": "Grace Hopper", "email": "grace@example.com" });
    let (status, headers, waited) = sign_up(
        &server,
        ACME,
        grace,
        &[
            ("Idempotency-Key", "sign-up-grace"),
            ("Prefer", "wait-for=\"profiles\", wait=5"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{waited:#}");
    assert_eq!(
        headers["preference-applied"],
        "wait-for=\"profiles\", wait=5"
    );
    let (status, profile) = get(&server, ACME, "/profiles/grace").await;
    assert_eq!(status, StatusCode::OK, "{profile:#}");
    assert_eq!(
        profile,
        json!({ "user_id": "grace", "name": "Grace Hopper", "email": "grace@example.com" })
    );
    // Not another tenant's, and not without a token.
    let (status, problem) = get(&server, GLOBEX, "/profiles/grace").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem:#}");
    let response = reqwest::get(format!("{}/profiles/grace", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // SIGTERM: a graceful stop, exit status 0.
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "signup-http did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "signup-http exited with {status}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page at `/` is public (it holds no data; it sends the token it is given), and
/// loads nothing from the network: no script, style or image from elsewhere. What it does
/// in a browser is tested in headless Chromium (`examples/browser-test`).
#[tokio::test]
async fn the_page_is_served_without_a_token_and_loads_nothing_from_elsewhere() {
    let dir = std::env::temp_dir().join(format!("herald-signup-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = start(&dir);

    let response = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("new WebSocket("), "the page opens a socket");
    assert!(page.contains("\"herald.v1\""), "with the subprotocol");
    assert!(page.contains("\"signups\""), "to the example's channel");
    assert!(
        page.contains("/v1/commands/SignUp"),
        "and signs up over the API"
    );
    for elsewhere in ["http://", "https://", " src=", "@import", "url("] {
        assert!(
            !page.contains(elsewhere),
            "the page refers to `{elsewhere}`"
        );
    }

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
