//! What every request goes through before its route: a span (with the W3C
//! `traceparent` read), the `Origin` check for cookie credentials, authentication, and
//! the caller's rate and concurrency limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::base::actor::Actor;
use crate::facade::runtime::Herald;
use crate::http::auth::Authenticate;
use crate::http::problem::Problem;
use crate::telemetry::TraceParent;

/// What the routes share: the runtime, how callers are authenticated, the settings.
#[derive(Clone)]
pub(crate) struct Door {
    pub(crate) herald: Herald,
    pub(crate) auth: Arc<dyn Authenticate>,
    pub(crate) settings: Arc<Settings>,
    limits: Arc<Limits>,
}

/// The router's settings ([`Api`](crate::http::Api)'s).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) trace_role: Option<String>,
    pub(crate) body_limit: usize,
    pub(crate) longest_wait: Duration,
    pub(crate) origins: Vec<HeaderValue>,
    pub(crate) rate: Option<(f64, f64)>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) page_limit: usize,
    pub(crate) channels: crate::http::ChannelSettings,
    /// The recorder `GET /v1/metrics` renders, and the role it asks for.
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<(crate::telemetry::Prometheus, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trace_role: None,
            body_limit: 1 << 20,
            longest_wait: Duration::from_secs(30),
            origins: Vec::new(),
            rate: None,
            concurrency: None,
            page_limit: 1000,
            channels: crate::http::ChannelSettings::default(),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }
}

impl Door {
    pub(crate) fn new(herald: Herald, auth: Arc<dyn Authenticate>, settings: Settings) -> Self {
        Door {
            herald,
            auth,
            settings: Arc::new(settings),
            limits: Arc::new(Limits::default()),
        }
    }

    /// Whether `actor` sees traces.
    pub(crate) fn shows_trace(&self, actor: &Actor) -> bool {
        self.settings
            .trace_role
            .as_deref()
            .is_some_and(|role| actor.has_role(role))
    }
}

/// The caller of a request, as its authentication found: in the request's extensions
/// for the routes (Herald's and the application's under the same layer).
#[derive(Clone, Debug)]
pub struct Caller(pub Actor);

/// The layer in front of every route.
pub(crate) async fn guard(State(door): State<Door>, request: Request, next: Next) -> Response {
    let parent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = request.uri().path(),
        trace_id = parent.map(|p| p.trace_id_hex()).unwrap_or_default(),
        parent_id = parent.map(|p| p.parent_id_hex()).unwrap_or_default(),
        actor = tracing::field::Empty,
        tenant = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    if let Some(parent) = parent {
        crate::telemetry::otel::continue_from(&span, parent);
    }
    let response = admit(door, request, next, parent, &span)
        .instrument(span.clone())
        .await;
    span.record("status", response.status().as_u16());
    response
}

async fn admit(
    door: Door,
    request: Request,
    next: Next,
    parent: Option<TraceParent>,
    span: &tracing::Span,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if door.auth.uses_cookies()
        && !safe(&parts.method)
        && let Err(problem) = same_origin(&door.settings.origins, &parts.headers)
    {
        return problem.into_response();
    }
    let actor = match door.auth.authenticate(&parts).await {
        Ok(actor) => actor,
        Err(rejection) => return Problem::from(rejection).into_response(),
    };
    span.record("actor", actor.id());
    span.record("tenant", actor.tenant());
    let _permit = match door.limits.admit(&door.settings, &actor) {
        Ok(permit) => permit,
        Err(problem) => return problem.into_response(),
    };
    if let Some(parent) = parent {
        parts.extensions.insert(parent);
    }
    parts.extensions.insert(Caller(actor));
    next.run(Request::from_parts(parts, body)).await
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser sends cookies to any page that asks: a request that changes something must
/// say it comes from an allowed origin.
fn same_origin(allowed: &[HeaderValue], headers: &axum::http::HeaderMap) -> Result<(), Problem> {
    let csrf = |detail: String| Problem::new(StatusCode::FORBIDDEN, "cross_origin", detail);
    match headers.get(header::ORIGIN) {
        Some(origin) if allowed.contains(origin) => Ok(()),
        Some(origin) => Err(csrf(format!(
            "requests from origin `{}` may not change anything with cookie credentials",
            String::from_utf8_lossy(origin.as_bytes()).escape_debug()
        ))),
        None => Err(csrf(
            "a request that changes something with cookie credentials must send `Origin`".into(),
        )),
    }
}

/// Each caller's token bucket and permits, by tenant and id.
#[derive(Default)]
struct Limits {
    callers: Mutex<HashMap<(String, String), CallerLimits>>,
}

struct CallerLimits {
    tokens: f64,
    refilled: Instant,
    permits: Arc<Semaphore>,
}

/// Forgetting callers: past this many, those idle longest are dropped.
const CALLERS_KEPT: usize = 100_000;

impl Limits {
    fn admit(
        &self,
        settings: &Settings,
        actor: &Actor,
    ) -> Result<Option<OwnedSemaphorePermit>, Problem> {
        if settings.rate.is_none() && settings.concurrency.is_none() {
            return Ok(None);
        }
        let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
        if callers.len() >= CALLERS_KEPT {
            let now = Instant::now();
            callers.retain(|_, c| now.duration_since(c.refilled) < Duration::from_secs(60));
        }
        let burst = settings.rate.map_or(0.0, |(_, burst)| burst);
        let caller = callers
            .entry((actor.tenant().to_owned(), actor.id().to_owned()))
            .or_insert_with(|| CallerLimits {
                tokens: burst,
                refilled: Instant::now(),
                permits: Arc::new(Semaphore::new(settings.concurrency.unwrap_or(0))),
            });
        if let Some((per_second, burst)) = settings.rate {
            let now = Instant::now();
            let earned = now.duration_since(caller.refilled).as_secs_f64() * per_second;
            caller.tokens = (caller.tokens + earned).min(burst);
            caller.refilled = now;
            if caller.tokens < 1.0 {
                let wait = ((1.0 - caller.tokens) / per_second).ceil().max(1.0) as u64;
                return Err(too_many(
                    format!(
                        "actor `{}` sends more than {per_second} requests a second",
                        actor.id()
                    ),
                    wait,
                ));
            }
            caller.tokens -= 1.0;
        }
        match settings.concurrency {
            None => Ok(None),
            Some(most) => caller
                .permits
                .clone()
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| {
                    too_many(
                        format!(
                            "actor `{}` has {most} requests in flight already",
                            actor.id()
                        ),
                        1,
                    )
                }),
        }
    }
}

fn too_many(detail: String, retry_after: u64) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", detail).header(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
    )
}
