//! The sign-up ([`herald_examples::signup_http`]) served over HTTP: Herald's routes under
//! `/v1` (commands, reads, the OpenAPI document) and one route of the application's own,
//! `GET /profiles/{id}`, behind the same authentication (`Api::with_routes`), which reads
//! the `profiles` read model with the runtime as axum `State`; the channel `signups` at
//! `/v1/channels` (WebSocket, `herald.v1`); and, public, a page at `GET /`
//! (`examples/web/signups.html`, plain HTML and JavaScript) that signs users up through the
//! API and lists the channel's sign-ups live, resuming after its socket drops. Open
//! <http://127.0.0.1:3000/> once it runs. Stops gracefully on Ctrl-C or SIGTERM: no new
//! connections, the requests in flight finish, the channel sockets are told where they
//! stopped and closed with 1001, the eventual projector stops after its batch.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `DATABASE_URL` | a PostgreSQL URL; when set, the store is that database | unset |
//! | `HERALD_DB` | the SQLite file otherwise (created if missing) | `signup-http.db` |
//! | `HERALD_ADDR` | the address to listen on | `127.0.0.1:3000` |
//! | `HERALD_TOKEN` | the bearer token of `ada`, of tenant `acme` | `acme-dev-token` |
//! | `HERALD_OPS_TOKEN` | the bearer token of `ops`, of tenant `acme`, with the role `operator`: it sees the traces and the metrics | `acme-ops-token` |
//!
//! A second token, `globex-dev-token`, is `bob` of tenant `globex`, to see that each
//! tenant has its own users. These tokens are for trying it out; in production use
//! `herald::http::Jwt`. Herald's trace page is at <http://127.0.0.1:3000/v1/trace/>: with
//! the operator's token it shows each command's tree, and `GET /v1/metrics` gives that
//! token the process's Prometheus metrics.
//!
//! ```text
//! cargo run -p herald-examples --features http --bin signup-http
//! curl -s localhost:3000/v1/commands/SignUp -H 'Authorization: Bearer acme-dev-token' \
//!   -H 'Content-Type: application/json' -H 'Idempotency-Key: ada-1' \
//!   -d '{"user_id":"ada","name":"Ada Lovelace","email":"Ada@Example.com"}'
//! ```

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use herald::http::{Api, Caller, Problem, Server, StaticTokens};
use herald::telemetry::Prometheus;
use herald::{Actor, Herald};
use herald_examples::signup_http::{create_tables, profile};

/// The default token of `ada` (tenant `acme`), when `HERALD_TOKEN` is not set.
const DEV_TOKEN: &str = "acme-dev-token";
/// The default token of `ops` (tenant `acme`, role `operator`), when `HERALD_OPS_TOKEN`
/// is not set.
const OPS_TOKEN: &str = "acme-ops-token";
/// The role that sees the commands' traces.
const OPERATOR: &str = "operator";
/// The token of `bob` (tenant `globex`).
const OTHER_TENANT_TOKEN: &str = "globex-dev-token";

/// The page, served as it is in the repository: no build step, nothing from the network.
const PAGE: &str = include_str!("../../web/signups.html");

/// `GET /`: the page. Public: it holds no data; it asks for the token it sends.
async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `GET /profiles/{id}`: the caller's tenant's user `id`, as the `profiles` projector
/// wrote it, or a 404 problem while it has not (yet).
/// Herald's door has authenticated the caller before it runs.
async fn get_profile(
    State(herald): State<Herald>,
    Extension(Caller(actor)): Extension<Caller>,
    Path(user_id): Path<String>,
) -> Response {
    match profile(&herald, actor.tenant(), &user_id).await {
        Ok(Some(p)) => axum::Json(herald::json::json!({
            "user_id": p.user_id,
            "name": p.name,
            "email": p.email,
        }))
        .into_response(),
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "no_profile",
            format!("no profile of user `{user_id}` (yet)"),
        )
        .into_response(),
        Err(error) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "store", error.to_string())
            .into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), herald::BoxError> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => std::env::var("HERALD_DB").unwrap_or_else(|_| "signup-http.db".into()),
    };
    let addr = std::env::var("HERALD_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let token = std::env::var("HERALD_TOKEN").unwrap_or_else(|_| DEV_TOKEN.into());
    let ops_token = std::env::var("HERALD_OPS_TOKEN").unwrap_or_else(|_| OPS_TOKEN.into());

    let herald = Herald::builder()
        .modules(["herald_examples::signup_http"])
        .url(&url)
        .build()
        .await?;
    create_tables(&herald).await?;
    let tokens = StaticTokens::new()
        .token(&token, Actor::new("ada", "acme"))
        .token(&ops_token, Actor::new("ops", "acme").with_role(OPERATOR))
        .token(OTHER_TENANT_TOKEN, Actor::new("bob", "globex"));
    // The application's own route, behind the same authentication as Herald's.
    let own = Router::new()
        .route("/profiles/{id}", get(get_profile))
        .with_state(herald.clone());
    let app = Api::new(herald.clone(), tokens)
        .trace_role(OPERATOR)
        .metrics(Prometheus::install()?, OPERATOR)
        .with_routes(own)
        .router()
        // Merged after `router()`: public, no authentication.
        .merge(Router::new().route("/", get(page)));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "signup-http: {} store, listening on http://{}",
        herald.store().kind(),
        listener.local_addr()?
    );
    Server::new(listener, app).herald(herald).run().await?;
    println!("signup-http: stopped");
    Ok(())
}
