//! The trace explorer: a page at `GET /v1/trace/` (one self-contained HTML file, inline
//! script and style, nothing fetched from the network) and the JSON it reads, from routes
//! of its own behind the router's authentication:
//!
//! - `GET /v1/trace/commands?patterns=&failed=&before=&limit=`: the caller's tenant's
//!   recent commands, newest first;
//! - `GET /v1/trace/commands/{command_id}`: one command's whole tree on one time axis,
//!   for callers with the [trace role](crate::http::Api::trace_role) only.
//!
//! The page holds no data: it asks for a token (or sends none, and the browser's cookie
//! goes along where the application authenticates with one), as the example's page does.

mod list;
mod tree;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::http::door::{Caller, Door};
use crate::http::problem::{Problem, path_of};
use crate::http::reads::{patterns, query};

pub(crate) use list::SCAN;
pub(crate) use tree::MOST_NODES;

/// The page, as it is in the repository.
const PAGE: &str = include_str!("page.html");

/// The most commands one page of the list holds.
pub(crate) const MOST_LISTED: usize = 200;

/// `GET /v1/trace/`: the page. Public, as it holds no data.
pub(crate) async fn page() -> Response {
    (
        // It loads nothing from anywhere, and runs only its own inline script.
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
        )],
        Html(PAGE),
    )
        .into_response()
}

/// `GET /v1/trace`: the page is at `trace/`, whose relative links read its JSON.
pub(crate) async fn to_page() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, "trace/")],
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    patterns: Option<String>,
    #[serde(default)]
    failed: bool,
    before: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/trace/commands?patterns=&failed=&before=&limit=`.
pub(crate) async fn commands(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let params = query(params)?;
    let limit = match params.limit {
        None => 50,
        Some(n @ 1..=MOST_LISTED) => n,
        Some(_) => {
            return Err(Problem::bad_request(
                "invalid_query",
                format!("`limit` is from 1 to {MOST_LISTED}"),
            ));
        }
    };
    let patterns = patterns(params.patterns.as_deref())?;
    let before = params
        .before
        .as_deref()
        .map(|id| command_id(id, "before"))
        .transpose()?;
    let asked = list::Asked {
        tenant: actor.tenant(),
        patterns: &patterns,
        failed_only: params.failed,
        before,
        limit,
        timed: door.shows_trace(&actor),
    };
    Ok(Json(list::page(&door.herald, asked).await?).into_response())
}

/// `GET /v1/trace/commands/{command_id}`: its tree, for callers with the trace role.
pub(crate) async fn command(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    if !door.shows_trace(&actor) {
        let detail = match &door.settings.trace_role {
            Some(role) => format!("a command's trace is for callers with the role `{role}`"),
            None => "this API shows no one the traces (`Api::trace_role` is not set)".into(),
        };
        return Err(Problem::new(StatusCode::FORBIDDEN, "forbidden", detail));
    }
    let id = command_id(&path_of(path)?, "command_id")?;
    match tree::tree(&door.herald, actor.tenant(), id).await? {
        Some(tree) => Ok(Json(tree).into_response()),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no command {id} was committed"),
        )),
    }
}

fn command_id(text: &str, parameter: &str) -> Result<Uuid, Problem> {
    Uuid::try_parse(text).map_err(|_| {
        Problem::bad_request(
            "invalid_command_id",
            format!(
                "`{parameter}` is a command id (a UUID), not `{}`",
                text.escape_debug()
            ),
        )
        .with("parameter", parameter)
    })
}
