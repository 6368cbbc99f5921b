//! `GET /v1/metrics`: the Prometheus text of the process's metrics, for callers with
//! the metrics role (see [`Api::metrics`](crate::http::Api::metrics)).

use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::door::{Caller, Door};
use crate::http::problem::Problem;

/// The content type of Prometheus's text format.
pub(crate) const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn scrape(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
) -> Result<Response, Problem> {
    let Some((prometheus, role)) = &door.settings.metrics else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this API serves no metrics (`Api::metrics` is not set)".to_owned(),
        ));
    };
    if !actor.has_role(role) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the metrics are for callers with the role `{role}`"),
        ));
    }
    Ok(([(header::CONTENT_TYPE, TEXT_FORMAT)], prometheus.render()).into_response())
}
