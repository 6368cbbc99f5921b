//! `POST /v1/events/{name}`: an event recorded by its registered name with its JSON
//! body, with no aggregate deciding it (see [`Herald::record`](crate::Herald::record)),
//! and the conventions of `POST /v1/commands/{name}`: `Idempotency-Key` is the command
//! id, `If-Match` the stream's expected version, `Prefer: wait-for="…"` waits for read
//! models. The response is the one of a command.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::http::commands::{
    body_problem, idempotency_key, if_match, json_body, prefer_wait, respond,
};
use crate::http::door::{Caller, Door};
use crate::http::problem::{Problem, path_of};

pub(crate) async fn record(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let name = path_of(path)?;
    json_body(&headers)?;
    let body = body.map_err(body_problem)?;
    let key = idempotency_key(&headers, &actor)?;
    let expected = if_match(&headers)?;
    let wait = prefer_wait(&headers, &door)?;
    let mut record = door.herald.record_json(&name, &body)?.actor(actor.clone());
    if let Some(id) = key {
        record = record.command_id(id);
    }
    if let Some(version) = expected {
        record = record.expected_version(version);
    }
    let recorded = record.await?;
    respond(&door, &actor, &recorded, wait).await
}
