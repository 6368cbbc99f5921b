//! The HTTP door (feature `http`): an axum [`Router`] for commands, reads and remote
//! consumers, which an application extends with its own routes, and a [`Server`] to
//! run it.
//!
//! ```no_run
//! # use herald_doc_fixtures::*;
//! use axum::{Extension, Router, extract::State, routing::get};
//! use herald::http::{Api, Caller, Server, StaticTokens};
//! use herald::{Actor, Herald};
//!
//! /// The application's own read, for the caller (authenticated by Herald's door).
//! async fn balance(State(herald): State<Herald>, Extension(Caller(actor)): Extension<Caller>) -> String {
//!     let account = herald.load::<Account>(7).await.map(|a| a.state().balance);
//!     format!("{account:?} for {}", actor.id())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let herald = Herald::builder().url("sqlite://bank.db").build().await?;
//! let tokens = StaticTokens::new().token("secret", Actor::new("ada", "acme"));
//! let own = Router::new().route("/balance", get(balance)).with_state(herald.clone());
//! let app = Api::new(herald.clone(), tokens)
//!     .trace_role("operator")
//!     .with_routes(own) // behind the same authentication; `.merge` after `router()` is public
//!     .router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! Server::new(listener, app).herald(herald).run().await?;
//! # Ok(()) }
//! ```
//!
//! ## The routes
//!
//! Under `/v1`, every one authenticated (see [`Authenticate`]) and answering errors as
//! RFC 9457 problem details ([`Problem`]):
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/commands/{name}` | sends a command; `Idempotency-Key`, `If-Match`, `Prefer: wait-for="…"` |
//! | `POST /v1/events/{name}` | records an event without an aggregate; the headers of a command |
//! | `GET /v1/results/{command_id}` | a committed command's result and events |
//! | `GET /v1/streams/{type}/{id}/events` | a stream's events, `?after_version=&limit=` |
//! | `GET /v1/aggregates/{name}/{id}` | an aggregate's state; its version is the `ETag` |
//! | `GET /v1/events` | the global order, `?after=&patterns=&limit=` |
//! | `GET /v1/consumers` | the caller's tenant's remote consumers |
//! | `PUT /v1/consumers/{name}` | registers one: `{"patterns": ["order.*"], "from": "start" \| "now"}` |
//! | `GET`, `DELETE /v1/consumers/{name}` | one; deletes it (its checkpoint goes with it) |
//! | `GET /v1/consumers/{name}/events` | polls the events after its checkpoint, `?limit=&after=&wait=` (`wait=S`: a long poll, answered when an event of its own commits) |
//! | `POST /v1/consumers/{name}/ack` | acknowledges `{"position": "v1.…"}`: the checkpoint moves forward |
//! | `GET /v1/trace/commands` | the caller's tenant's recent commands, newest first, `?patterns=&failed=&before=&limit=` |
//! | `GET /v1/trace/commands/{command_id}` | a command's whole tree on one time axis (callers with the [trace role](Api::trace_role)) |
//! | `GET /v1/trace/` | the trace explorer, a page that reads the two routes above (not authenticated: it holds no data) |
//! | `GET /v1/metrics` | Prometheus metrics, for callers with the role given to `Api::metrics` (feature `metrics`, see [`telemetry`](crate::telemetry)) |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document (not authenticated) |
//!
//! **Commands.** The body is the command as JSON (`Content-Type: application/json`, at
//! most 1 MiB by default, [`Api::body_limit`]); a field the command does not have is a
//! 400 naming it. `Idempotency-Key` (1 to 255 printable ASCII characters) gives the
//! command id, derived from the caller's tenant and the key: the same key again returns
//! the first result (`Idempotent-Replayed: true`) and runs nothing; with another body it
//! is a 422. `If-Match: "3"` is the stream version the caller last saw (a mismatch is a
//! 409 with both versions, never retried). `Prefer: wait-for="profiles", wait=5` answers
//! once the eventual consumer `profiles` has handled the command's events, or with a 202
//! when it has not within the wait (the command did commit: the body says so). The
//! response holds the events with their positions (`v1.…`, opaque: hand them back as they
//! are), and the trace for callers with the [trace role](Api::trace_role).
//!
//! **Events.** `POST /v1/events/{name}` records the event of that name with its JSON body
//! in a stream of its own, with no aggregate (see [`Herald::record`](crate::Herald::record)): the stream of the
//! caller's tenant, of the event's stream type, with the id of the first `:param` of its
//! route. Body, `Idempotency-Key`, `If-Match` and `Prefer` are those of a command, and so
//! is the response; an unknown event is a 404, JSON that is not the event's a 400 naming
//! the field.
//!
//! | status | when |
//! |---|---|
//! | 400 | JSON that is not the command's or the event's (the field, line and column are named), a bad header, query or path |
//! | 401 / 403 | no or bad credentials; a role the command needs; a cookie request from an origin not allowed |
//! | 404 | no such command, event, aggregate or result (another tenant's look the same) |
//! | 409 | the stream is not at the expected version |
//! | 413 / 415 | a body over the limit; a body that is not JSON |
//! | 422 | rejected by a hook or the aggregate (the handler and its message are named); an idempotency key reused with another body |
//! | 429 | over the caller's [rate](Api::rate_limit) or [concurrency](Api::concurrency_limit) limit (`Retry-After`) |
//! | 503 | the store is saturated or unreachable (`Retry-After`) |
//!
//! On every error nothing is written.
//!
//! **Remote consumers** (futoin's reliable consumers, see
//! [`RemoteConsumers`](crate::consumer::RemoteConsumers)): a client registers a named
//! consumer, polls, handles the events, then acknowledges the page's `next` (also when the
//! page was empty: its checkpoint then moves past events that were not its own). The
//! checkpoint lives in the store: a client that crashes polls again from its last
//! acknowledgement, and sees nothing twice after one. Until it acknowledges, archiving
//! keeps what it has not passed (the pass's report names it). A reader that may skip
//! needs no registration: `GET /v1/events` from a position it keeps itself.
//!
//! ## Tenants
//!
//! Every route reads and writes the caller's tenant only: a command goes to the stream of
//! the caller's tenant, a read of a stream, an aggregate or a result of another tenant
//! finds nothing, as if it did not exist.
//!
//! ## Facing the network
//!
//! CORS is off (no cross-origin browser request is allowed); to open it, add
//! tower-http's `CorsLayer` to the router with the origins you trust. When the
//! credentials are cookies ([`StaticTokens::in_cookie`], or an [`Authenticate`] whose
//! `uses_cookies` says so), a request that changes something must come with an `Origin`
//! from [`Api::allow_origins`], so that another site cannot send it from a user's browser.
//! Each request runs in a `tracing` span `http` with the W3C trace context of its
//! `traceparent` header (also in the request's extensions as [`TraceParent`]); the
//! events of the command it sends keep that context, and with the feature `otel` the
//! span continues the caller's trace (see [`telemetry`](crate::telemetry)).

mod auth;
mod channels;
mod commands;
mod consumers;
mod door;
#[cfg(feature = "metrics")]
mod metrics;
mod openapi;
mod problem;
mod reads;
mod record;
mod serve;
mod trace;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use crate::telemetry::TraceParent;
pub use auth::{Anonymous, Authenticate, BadKey, Jwt, Rejection, StaticTokens, authenticate_with};
pub use channels::{ChannelSettings, SUBPROTOCOL};
pub use door::Caller;
pub use problem::{PROBLEM_TYPE_PREFIX, Problem};
pub use serve::Server;

use crate::facade::runtime::Herald;
use door::{Door, Settings};

/// Herald's routes with their defaults: [`Api::new`]`(herald, auth).router()`.
pub fn router(herald: Herald, auth: impl Authenticate) -> Router {
    Api::new(herald, auth).router()
}

/// Configures Herald's router: who may call, what they see, how much they may send.
#[must_use]
pub struct Api {
    herald: Herald,
    auth: Arc<dyn Authenticate>,
    settings: Settings,
    /// The application's own routes, behind the same door.
    own: Router,
}

impl Api {
    /// The routes of `herald`, every request authenticated by `auth`.
    pub fn new(herald: Herald, auth: impl Authenticate) -> Self {
        Api {
            herald,
            auth: Arc::new(auth),
            settings: Settings::default(),
            own: Router::new(),
        }
    }

    /// The application's own routes, served behind the same door as Herald's: each
    /// request is authenticated (the handler reads who is calling with
    /// `Extension<`[`Caller`]`>`, and the `traceparent` with `Extension<`[`TraceParent`]`>`),
    /// held to the rate and concurrency limits and the `Origin` check, and runs in the
    /// `http` span. Routes merged into the finished [`router`](Self::router) instead are
    /// not: they are public. `routes` has no fallback of its own (Herald's answers 404).
    ///
    /// ```
    /// use axum::{Extension, Router, routing::get};
    /// use herald::http::{Api, Caller, StaticTokens};
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let herald = herald().await;
    /// async fn whoami(Extension(Caller(actor)): Extension<Caller>) -> String {
    ///     format!("{} of {}", actor.id(), actor.tenant())
    /// }
    /// let tokens = StaticTokens::new().token("secret", herald::Actor::new("ada", "acme"));
    /// let own = Router::new().route("/whoami", get(whoami));
    /// let app = Api::new(herald, tokens).with_routes(own).router();
    /// # let _ = app;
    /// # }
    /// ```
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.own = self.own.merge(routes);
        self
    }

    /// Callers with this role see the trace of the commands they send and read, and the
    /// trees of the trace page (`GET /v1/trace/commands/{command_id}`) (default: nobody
    /// does).
    pub fn trace_role(mut self, role: impl Into<String>) -> Self {
        self.settings.trace_role = Some(role.into());
        self
    }

    /// The largest body accepted, in bytes (default: 1 MiB); a larger one is a 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.body_limit = bytes;
        self
    }

    /// The longest a `Prefer: wait-for` waits, and how long it waits when the caller
    /// gives no `wait` (default: 30 s).
    pub fn longest_wait(mut self, wait: Duration) -> Self {
        self.settings.longest_wait = wait;
        self
    }

    /// The origins (`https://app.example.com`) from which requests with cookie
    /// credentials may change something.
    pub fn allow_origins<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, origins: I) -> Self {
        let origins = origins
            .into_iter()
            .filter_map(|o| HeaderValue::from_str(o.as_ref()).ok());
        self.settings.origins.extend(origins);
        self
    }

    /// Each caller (tenant and id) may send `per_second` requests a second on average,
    /// `burst` at once; more is a 429 with `Retry-After` (default: no limit).
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        let per_second = per_second.max(f64::MIN_POSITIVE);
        self.settings.rate = Some((per_second, f64::from(burst.max(1))));
        self
    }

    /// Each caller may have at most this many requests in flight; more is a 429
    /// (default: no limit).
    pub fn concurrency_limit(mut self, requests: usize) -> Self {
        self.settings.concurrency = Some(requests.max(1));
        self
    }

    /// The most events one read returns (default: 1,000).
    pub fn page_limit(mut self, events: usize) -> Self {
        self.settings.page_limit = events.max(1);
        self
    }

    /// The limits of the channels' WebSocket endpoint, `/v1/channels` (default:
    /// [`ChannelSettings::default`]).
    pub fn channels(mut self, settings: ChannelSettings) -> Self {
        self.settings.channels = settings;
        self
    }

    /// Serves the metrics that `prometheus` records (see
    /// [`telemetry`](crate::telemetry)) as `GET /v1/metrics`, in Prometheus's text format
    /// (`text/plain; version=0.0.4`), to callers with `role` (others get a 403). Feature
    /// `metrics`.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use herald::http::{Api, StaticTokens};
    /// use herald::telemetry::Prometheus;
    /// use herald::Actor;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let herald = herald().await;
    /// let scraper = Actor::new("prometheus", Actor::DEFAULT_TENANT).with_role("metrics");
    /// let tokens = StaticTokens::new().token("scrape-token", scraper);
    /// let app = Api::new(herald, tokens)
    ///     .metrics(Prometheus::install().unwrap(), "metrics")
    ///     .router();
    /// # drop(app);
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(
        mut self,
        prometheus: crate::telemetry::Prometheus,
        role: impl Into<String>,
    ) -> Self {
        self.settings.metrics = Some((prometheus, role.into()));
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        let body_limit = self.settings.body_limit;
        #[cfg(feature = "metrics")]
        let metrics = self.settings.metrics.is_some();
        #[cfg(not(feature = "metrics"))]
        let metrics = false;
        let document = openapi::document(self.herald.registry(), metrics);
        let document =
            axum::body::Bytes::from(serde_json::to_vec(&document).expect("JSON values serialize"));
        let door = Door::new(self.herald, self.auth, self.settings);
        let guard = axum::middleware::from_fn_with_state(door.clone(), door::guard);
        // (axum refuses a route layer on a router without routes.)
        let own = match self.own.has_routes() {
            true => self.own.route_layer(guard.clone()),
            false => self.own,
        };
        let guarded = Router::new()
            .route("/v1/commands/{name}", post(commands::send))
            .route("/v1/events/{name}", post(record::record))
            .route("/v1/results/{command_id}", get(reads::command))
            .route(
                "/v1/streams/{stream_type}/{stream_id}/events",
                get(reads::stream_events),
            )
            .route("/v1/aggregates/{name}/{id}", get(reads::aggregate))
            .route("/v1/events", get(reads::events))
            .route("/v1/consumers", get(consumers::list))
            .route(
                "/v1/consumers/{name}",
                get(consumers::get)
                    .put(consumers::register)
                    .delete(consumers::delete),
            )
            .route("/v1/consumers/{name}/events", get(consumers::poll))
            .route("/v1/consumers/{name}/ack", post(consumers::ack))
            .route("/v1/trace/commands", get(trace::commands))
            .route("/v1/trace/commands/{command_id}", get(trace::command));
        #[cfg(feature = "metrics")]
        let guarded = match metrics {
            true => guarded.route("/v1/metrics", get(self::metrics::scrape)),
            false => guarded,
        };
        let guarded = guarded
            .method_not_allowed_fallback(method_not_allowed)
            .route_layer(guard);
        let openapi = get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                document,
            )
        });
        Router::new()
            .route("/v1/openapi.json", openapi)
            // Public: the page holds no data, the routes it reads are guarded.
            .route("/v1/trace/", get(trace::page))
            .route("/v1/trace", get(trace::to_page))
            // Authenticated in the handler: on the upgrade, or by the first message.
            .route("/v1/channels", get(channels::upgrade))
            .merge(guarded)
            .with_state(door)
            .merge(own)
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(body_limit))
    }
}

async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no route of this API has this path",
    )
}

async fn method_not_allowed() -> impl IntoResponse {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
}
