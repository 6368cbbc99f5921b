//! Remote consumers over HTTP (futoin's reliable consumers): a client with its own
//! credentials registers a named consumer of its tenant with route patterns, polls for
//! the events after its checkpoint and acknowledges positions. The checkpoint lives in
//! the store, so a client that crashes resumes where it acknowledged.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::base::json_value::from_slice;
use crate::consumer::RemoteConsumer;
use crate::http::commands::{body_problem, json_body};
use crate::http::door::{Caller, Door};
use crate::http::problem::{Problem, path_of};
use crate::http::reads::{page_limit, query};
use crate::http::wire;
use crate::store::Position;

fn consumer(consumer: &RemoteConsumer) -> Value {
    json!({
        "name": consumer.name,
        "patterns": consumer.patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "position": wire::position(consumer.position),
        "lag": consumer.lag,
        "registered_at": wire::rfc3339(consumer.registered_at),
        "acked_at": consumer.acked_at.map(wire::rfc3339),
    })
}

/// What a client sends to register.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    #[serde(default)]
    patterns: Vec<String>,
    /// `start` (default) or `now`: whether it reads the events committed before.
    #[serde(default)]
    from: From,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum From {
    #[default]
    Start,
    Now,
}

fn body_of<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    json_body(headers)?;
    let body = body.map_err(body_problem)?;
    from_slice(&body).map_err(|json| {
        let (line, column) = json.line_column();
        Problem::bad_request("invalid_body", json.to_string())
            .with("field", json.path())
            .with("line", line)
            .with("column", column)
    })
}

/// `PUT /v1/consumers/{name}`: 201 when registered now, 200 when it was (same
/// patterns), 409 when it was with other patterns.
pub(crate) async fn register(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let name: String = path_of(path)?;
    let registration: Registration = body_of(&headers, body)?;
    let remote = door.herald.consumers().remote(actor.tenant());
    let mut register = remote.register(&name, &registration.patterns);
    if matches!(registration.from, From::Now) {
        register = register.from_now();
    }
    let registered = register.await?;
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(consumer(&registered.consumer))).into_response())
}

/// `GET /v1/consumers`: the caller's tenant's registered consumers.
pub(crate) async fn list(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
) -> Result<Response, Problem> {
    let consumers = door
        .herald
        .consumers()
        .remote(actor.tenant())
        .list()
        .await?;
    let consumers: Vec<Value> = consumers.iter().map(consumer).collect();
    Ok(Json(json!({ "consumers": consumers })).into_response())
}

/// `GET /v1/consumers/{name}`.
pub(crate) async fn get(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let name: String = path_of(path)?;
    let found = door
        .herald
        .consumers()
        .remote(actor.tenant())
        .get(&name)
        .await?;
    Ok(Json(consumer(&found)).into_response())
}

/// `DELETE /v1/consumers/{name}`: its registration and checkpoint go; it holds
/// archiving back no more.
pub(crate) async fn delete(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let name: String = path_of(path)?;
    door.herald
        .consumers()
        .remote(actor.tenant())
        .delete(&name)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PollQuery {
    limit: Option<usize>,
    /// A position past the checkpoint to read after (what the client read and has not
    /// acknowledged yet).
    after: Option<String>,
    /// Seconds to hold the poll open while there is nothing for the consumer.
    #[serde(default)]
    wait: u64,
}

/// `GET /v1/consumers/{name}/events?limit=&after=&wait=`: the events after its
/// checkpoint (or after `after`, when that is further on); `next` is what to acknowledge
/// once they are handled (also when there were none: the checkpoint then moves past
/// events that were not its own). With `wait=S`, a poll that finds nothing answers as
/// soon as an event of its own commits, or after `S` seconds (at most the API's
/// longest wait) with an empty page.
pub(crate) async fn poll(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let name: String = path_of(path)?;
    let params = query(params)?;
    let limit = page_limit(params.limit, &door)?;
    let after = match &params.after {
        Some(text) => wire::parse_position(text, "after")?,
        None => Position::START,
    };
    let wait = Duration::from_secs(params.wait).min(door.settings.longest_wait);
    let page = door
        .herald
        .consumers()
        .remote(actor.tenant())
        .poll_waiting(&name, after, limit, wait)
        .await?;
    let page = wire::events_page(&page.events, page.next);
    Ok(wire::json_response(StatusCode::OK, page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    position: String,
}

/// `POST /v1/consumers/{name}/ack` with `{"position": "v1.…"}`: moves its checkpoint
/// forward (an older position moves nothing, and says so).
pub(crate) async fn ack(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let name: String = path_of(path)?;
    let ack: Ack = body_of(&headers, body)?;
    let position = wire::parse_position(&ack.position, "position")?;
    let acked = door
        .herald
        .consumers()
        .remote(actor.tenant())
        .acknowledge(&name, position)
        .await?;
    let body = json!({ "position": wire::position(acked.position), "moved": acked.moved });
    Ok(Json(body).into_response())
}
