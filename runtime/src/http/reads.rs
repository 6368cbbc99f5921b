//! The reads: a stream's events, an aggregate's state (with its version as `ETag`), the
//! global order after a position filtered by route patterns, and a command's result. Each
//! reads only the caller's tenant: another tenant's stream reads as one with no events.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::consumer::read_events;
use crate::engine::dispatch::recorded;
use crate::engine::load::LoadAt;
use crate::http::commands::etag;
use crate::http::door::{Caller, Door};
use crate::http::problem::{Problem, path_of};
use crate::http::wire;
use crate::outcome::error::{Error, ErrorKind};
use crate::route::Pattern;
use crate::store::{Position, StreamKey};

pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    query
        .map(|Query(q)| q)
        .map_err(|rejection| Problem::bad_request("invalid_query", rejection.body_text()))
}

fn store_failed(context: String) -> impl FnOnce(crate::store::StoreError) -> Problem {
    move |source| Problem::from(Error::from(ErrorKind::Store { context, source }))
}

/// The caller's stream `stream_type`/`id`; a key the store cannot hold is a 400.
fn stream_key(tenant: &str, stream_type: &str, id: &str) -> Result<StreamKey, Problem> {
    StreamKey::new(tenant, stream_type, id)
        .map_err(|invalid| Problem::bad_request("invalid_stream", invalid.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    #[serde(default)]
    after_version: u64,
    limit: Option<usize>,
}

/// `GET /v1/streams/{type}/{id}/events?after_version=&limit=`.
pub(crate) async fn stream_events(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let (stream_type, id) = path_of(path)?;
    let params = query(params)?;
    let limit = page_limit(params.limit, &door)?;
    if i64::try_from(params.after_version).is_err() {
        return Err(Problem::bad_request(
            "invalid_query",
            format!("`after_version` is at most {}", i64::MAX),
        ));
    }
    let stream = stream_key(actor.tenant(), &stream_type, &id)?;
    let events = door
        .herald
        .store()
        .read_stream(&stream, params.after_version)
        .await
        .map_err(store_failed(format!(
            "reading stream `{stream_type}` `{id}`"
        )))?;
    let more = events.len() > limit;
    let page = wire::stream_page(&stream, &events[..events.len().min(limit)], more);
    Ok(wire::json_response(StatusCode::OK, page))
}

pub(crate) fn page_limit(asked: Option<usize>, door: &Door) -> Result<usize, Problem> {
    let most = door.settings.page_limit;
    match asked {
        None => Ok(most.min(100)),
        Some(0) => Err(Problem::bad_request(
            "invalid_query",
            "`limit` is at least 1",
        )),
        Some(n) if n > most => Err(Problem::bad_request(
            "invalid_query",
            format!("`limit` is at most {most}"),
        )),
        Some(n) => Ok(n),
    }
}

/// `GET /v1/aggregates/{name}/{id}`: the state and version; `If-None-Match` with the
/// current `ETag` is a 304.
pub(crate) async fn aggregate(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (name, id) = path_of(path)?;
    let herald = &door.herald;
    let Some(row) = herald.registry().aggregate_named(&name) else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown_aggregate",
            format!("there is no aggregate `{name}`"),
        )
        .with("aggregate", name));
    };
    let stream = stream_key(actor.tenant(), row.name, &id)?;
    let at = LoadAt {
        kernel: herald.kernel(),
        stream: &stream,
    };
    let (state, version) = (row.load)(at).await?;
    if version == 0 {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("aggregate `{name}` `{id}` has no events"),
        ));
    }
    let tag = etag(version);
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == tag.as_bytes()
        });
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    let body = json!({ "aggregate": row.name, "id": id, "version": version, "state": state });
    Ok(([(header::ETAG, tag)], Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    after: Option<String>,
    patterns: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/events?after=&patterns=a.*,b.*&limit=`: at most `limit` of the caller's
/// tenant's events after a position, in the global order, read as
/// [`Herald::read_events`](crate::Herald::read_events) reads them; `next` is where the
/// following page starts (past the events looked at that did not match, so a page may be
/// short, even empty, while more comes further on).
pub(crate) async fn events(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    params: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(params)?;
    let limit = page_limit(params.limit, &door)?;
    let after = match &params.after {
        Some(text) => wire::parse_position(text, "after")?,
        None => Position::START,
    };
    let patterns = patterns(params.patterns.as_deref())?;
    let store = door.herald.store();
    let page = read_events(store, actor.tenant(), after, &patterns, limit)
        .await
        .map_err(store_failed("reading the global order".into()))?;
    let page = wire::events_page(&page.events, page.next);
    Ok(wire::json_response(StatusCode::OK, page))
}

/// Comma-separated route patterns (a pattern holds no comma); a bad one is a 400 naming
/// the segment.
pub(crate) fn patterns(text: Option<&str>) -> Result<Vec<Pattern>, Problem> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|p| {
            Pattern::parse(p).map_err(|error| {
                Problem::bad_request(
                    "invalid_pattern",
                    format!("pattern `{}`: {error}", p.escape_debug()),
                )
                .with("pattern", p)
                .with("segment", error.segment())
            })
        })
        .collect()
}

/// `GET /v1/commands/{id}`: a committed command's result and events, its trace for
/// actors with the trace role.
pub(crate) async fn command(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id: String = path_of(path)?;
    let id = Uuid::try_parse(&id).map_err(|_| {
        Problem::bad_request(
            "invalid_command_id",
            format!("`{}` is not a UUID", id.escape_debug()),
        )
    })?;
    let found = recorded(door.herald.store(), actor.tenant(), id).await?;
    let Some(dispatched) = found else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no command {id} was committed"),
        ));
    };
    let told = wire::Told {
        trace: door.shows_trace(&actor),
        ..wire::Told::default()
    };
    let body = wire::dispatched(&dispatched, told);
    Ok(wire::json_response(StatusCode::OK, body))
}
