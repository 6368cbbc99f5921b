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

use crate::http::commands::{Asked, respond};
use crate::http::door::{Caller, Door};
use crate::http::problem::Problem;

pub(crate) async fn record(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let asked = Asked::read(&door, &actor, path, &headers, body)?;
    let mut record = door
        .herald
        .record_json(&asked.name, &asked.body)?
        .actor(actor.clone());
    if let Some(id) = asked.command_id {
        record = record.command_id(id);
    }
    if let Some(version) = asked.expected_version {
        record = record.expected_version(version);
    }
    if let Some(parent) = super::commands::trace_parent(&headers) {
        record = record.trace_parent(parent);
    }
    let recorded = record.await?;
    respond(&door, &actor, &recorded, asked.wait).await
}
