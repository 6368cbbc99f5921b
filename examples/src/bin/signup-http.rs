//! The sign-up ([`herald_examples::signup_http`]) served over HTTP: Herald's routes under
//! `/v1` (commands, reads, the OpenAPI document) and one route of the application's own,
//! `GET /profiles/{id}`, which reads the `profiles` read model with the runtime as axum
//! `State`. Stops gracefully on Ctrl-C or SIGTERM: no new connections, the requests in
//! flight finish, the eventual projector stops after its batch.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `DATABASE_URL` | a PostgreSQL URL; when set, the store is that database | unset |
//! | `HERALD_DB` | the SQLite file otherwise (created if missing) | `signup-http.db` |
//! | `HERALD_ADDR` | the address to listen on | `127.0.0.1:3000` |
//! | `HERALD_TOKEN` | the bearer token of `ada`, of tenant `acme` | `acme-dev-token` |
//!
//! A second token, `globex-dev-token`, is `bob` of tenant `globex`, to see that each
//! tenant has its own users. These tokens are for trying it out; in production use
//! `herald::http::Jwt`.
//!
//! ```text
//! cargo run -p herald-examples --features http --bin signup-http
//! curl -s localhost:3000/v1/commands/SignUp -H 'Authorization: Bearer acme-dev-token' \
//!   -H 'Content-Type: application/json' -H 'Idempotency-Key: ada-1' \
//!   -d '{"user_id":"ada","name":"Ada Lovelace","email":"Ada@Example.com"}'
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herald::http::{Api, Authenticate, Problem, Server, StaticTokens};
use herald::{Actor, Herald};
use herald_examples::signup_http::{create_tables, profile};

/// The default token of `ada` (tenant `acme`), when `HERALD_TOKEN` is not set.
const DEV_TOKEN: &str = "acme-dev-token";
/// The token of `bob` (tenant `globex`).
const OTHER_TENANT_TOKEN: &str = "globex-dev-token";

/// What the application's own routes get: the runtime, and who may call.
#[derive(Clone)]
struct App {
    herald: Herald,
    tokens: Arc<StaticTokens>,
}

impl FromRef<App> for Herald {
    fn from_ref(app: &App) -> Herald {
        app.herald.clone()
    }
}

impl FromRef<App> for Arc<StaticTokens> {
    fn from_ref(app: &App) -> Arc<StaticTokens> {
        app.tokens.clone()
    }
}

/// `GET /profiles/{id}`: the caller's tenant's user `id`, as the `profiles` projector
/// wrote it, or a 404 problem while it has not (yet).
async fn get_profile(
    State(herald): State<Herald>,
    State(tokens): State<Arc<StaticTokens>>,
    Path(user_id): Path<String>,
    parts: Parts,
) -> Response {
    let actor = match tokens.authenticate(&parts).await {
        Ok(actor) => actor,
        Err(rejection) => return Problem::from(rejection).into_response(),
    };
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

    let herald = Herald::builder()
        .modules(["herald_examples::signup_http"])
        .url(&url)
        .build()
        .await?;
    create_tables(&herald).await?;
    let tokens = Arc::new(
        StaticTokens::new()
            .token(&token, Actor::new("ada", "acme"))
            .token(OTHER_TENANT_TOKEN, Actor::new("bob", "globex")),
    );
    let app = Router::new()
        .route("/profiles/{id}", get(get_profile))
        .with_state(App {
            herald: herald.clone(),
            tokens: tokens.clone(),
        })
        .merge(Api::new(herald.clone(), tokens).router());

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
