//! Errors as RFC 9457 problem details (`application/problem+json`): a stable `type` per
//! kind of error (`urn:herald:problem:<code>`, the code also as a `code` member), the
//! status HTTP gives that kind, and the message Herald writes as `detail`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::outcome::error::{Error, ErrorKind};
use crate::store::StoreError;

/// The prefix of every problem type Herald answers with; the rest is the code.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:herald:problem:";

/// An error answered as an RFC 9457 problem details document.
///
/// ```
/// use herald::http::Problem;
/// use axum::http::StatusCode;
/// let problem = Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "`limit` is not a number")
///     .with("parameter", "limit");
/// assert_eq!(problem.type_uri(), "urn:herald:problem:invalid_query");
/// assert_eq!(problem.status(), StatusCode::BAD_REQUEST);
/// ```
#[derive(Clone, Debug)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    members: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with a status, a stable code (its type is [`PROBLEM_TYPE_PREFIX`] and
    /// the code) and a message for people.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
            members: Map::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a member (RFC 9457's extension members): what a program needs to act on it.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.members.insert(name.to_owned(), value.into());
        self
    }

    /// Adds a response header (`Retry-After`, `WWW-Authenticate`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The problem's type URI.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.code)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The document, as JSON.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "type": self.type_uri(),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        let object = body.as_object_mut().expect("an object");
        for (name, value) in &self.members {
            object.entry(name.clone()).or_insert_with(|| value.clone());
        }
        body
    }

    /// A request that is not what the route takes (a header, a parameter).
    pub(crate) fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// The store or the SQLite writer is too busy to take the request now.
    pub(crate) fn saturated(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "saturated", detail)
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }
}

/// A path's parameters, or a 400 saying why they do not read.
pub(crate) fn path_of<T>(
    path: Result<axum::extract::Path<T>, axum::extract::rejection::PathRejection>,
) -> Result<T, Problem> {
    path.map(|axum::extract::Path(p)| p)
        .map_err(|rejection| Problem::bad_request("invalid_path", rejection.body_text()))
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_json()).expect("JSON values serialize");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        Problem::from(&error)
    }
}

impl From<&Error> for Problem {
    fn from(error: &Error) -> Self {
        let kind = error.kind();
        let code = kind.code();
        let detail = error.to_string();
        let problem = |status| Problem::new(status, code, detail.clone());
        match kind {
            ErrorKind::UnknownCommand { name } => {
                problem(StatusCode::NOT_FOUND).with("command", name.as_str())
            }
            ErrorKind::UnknownEvent { name } => {
                problem(StatusCode::NOT_FOUND).with("event", name.as_str())
            }
            ErrorKind::BadEvent { event, json } => {
                let (line, column) = json.line_column();
                problem(StatusCode::BAD_REQUEST)
                    .with("event", *event)
                    .with("field", json.path())
                    .with("line", line)
                    .with("column", column)
            }
            ErrorKind::NotHandled { command, .. } => {
                problem(StatusCode::NOT_FOUND).with("command", *command)
            }
            ErrorKind::BadCommand { command, json } => {
                let (line, column) = json.line_column();
                problem(StatusCode::BAD_REQUEST)
                    .with("command", *command)
                    .with("field", json.path())
                    .with("line", line)
                    .with("column", column)
            }
            ErrorKind::Route { .. } | ErrorKind::Pattern { .. } | ErrorKind::InvalidId { .. } => {
                problem(StatusCode::BAD_REQUEST)
            }
            ErrorKind::Forbidden { roles, .. } => {
                problem(StatusCode::FORBIDDEN).with("roles", roles.to_vec())
            }
            ErrorKind::Rejected {
                handler, source, ..
            } => problem(StatusCode::UNPROCESSABLE_ENTITY)
                .with("handler", *handler)
                .with("message", source.to_string()),
            ErrorKind::Hook { hook, source, .. } => problem(StatusCode::UNPROCESSABLE_ENTITY)
                .with("handler", *hook)
                .with("message", source.to_string()),
            ErrorKind::Project {
                projector: handler, ..
            }
            | ErrorKind::Process {
                processor: handler, ..
            }
            | ErrorKind::Dispatch {
                dispatcher: handler,
                ..
            } => problem(StatusCode::UNPROCESSABLE_ENTITY).with("handler", *handler),
            ErrorKind::Conflict {
                conflict, attempts, ..
            } => problem(StatusCode::CONFLICT)
                .with("expected_version", conflict.expected)
                .with("actual_version", conflict.actual)
                .with("attempts", *attempts),
            ErrorKind::StreamBusy { .. } => problem(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            ErrorKind::CommandIdReused { .. } => problem(StatusCode::UNPROCESSABLE_ENTITY),
            ErrorKind::Saga { .. } => problem(StatusCode::BAD_GATEWAY),
            ErrorKind::CommitUnknown { .. } => problem(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            ErrorKind::Store {
                source: StoreError::Busy(_),
                ..
            } => Problem::saturated(detail.clone()),
            ErrorKind::Store { .. } => problem(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            ErrorKind::NoSuchConsumer(_) | ErrorKind::UnknownConsumer { .. } => {
                problem(StatusCode::NOT_FOUND)
            }
            ErrorKind::InvalidConsumerName { .. } | ErrorKind::AckBeyondHead { .. } => {
                problem(StatusCode::BAD_REQUEST)
            }
            ErrorKind::ConsumerRegistered { .. } => problem(StatusCode::CONFLICT),
            ErrorKind::Timeout { .. } => problem(StatusCode::GATEWAY_TIMEOUT),
            _ => problem(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}
