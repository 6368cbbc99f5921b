//! `POST /v1/commands/{name}`: a command by its registered name with its JSON body, and
//! HTTP's conventions for Herald's guarantees: `Idempotency-Key` is the command id,
//! `If-Match` the expected version, `Prefer: wait-for="…"` waits for read models.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use uuid::Uuid;

use crate::base::actor::Actor;
use crate::engine::dispatch::Dispatched;
use crate::http::door::{Caller, Door};
use crate::http::problem::{Problem, path_of};
use crate::http::wire;

/// The namespace of the command ids derived from idempotency keys (UUID v5).
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x5b0e_7f43_9d2c_4e1a_8b6f_1c3d_2a4e_6f70);

/// The longest idempotency key.
const KEY_LIMIT: usize = 255;

/// What a `POST` of a command or an event asks, read from its path, headers and body.
pub(crate) struct Asked {
    pub(crate) name: String,
    pub(crate) body: Bytes,
    pub(crate) command_id: Option<Uuid>,
    pub(crate) expected_version: Option<u64>,
    pub(crate) wait: Option<(Vec<String>, Duration)>,
}

impl Asked {
    pub(crate) fn read(
        door: &Door,
        actor: &Actor,
        path: Result<Path<String>, PathRejection>,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Self, Problem> {
        let name = path_of(path)?;
        json_body(headers)?;
        Ok(Asked {
            name,
            body: body.map_err(body_problem)?,
            command_id: idempotency_key(headers, actor)?,
            expected_version: if_match(headers)?,
            wait: prefer_wait(headers, door)?,
        })
    }
}

pub(crate) async fn send(
    State(door): State<Door>,
    Extension(Caller(actor)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let asked = Asked::read(&door, &actor, path, &headers, body)?;
    let herald = &door.herald;
    let mut dispatch = herald
        .dispatch_json(&asked.name, &asked.body)?
        .actor(actor.clone());
    if let Some(id) = asked.command_id {
        dispatch = dispatch.command_id(id);
    }
    if let Some(version) = asked.expected_version {
        dispatch = dispatch.expected_version(version);
    }
    if let Some(parent) = trace_parent(&headers) {
        dispatch = dispatch.trace_parent(parent);
    }
    let dispatched = dispatch.await?;
    respond(&door, &actor, &dispatched, asked.wait).await
}

/// The request's W3C trace context, kept with its events.
pub(crate) fn trace_parent(headers: &HeaderMap) -> Option<crate::telemetry::TraceParent> {
    headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(crate::telemetry::TraceParent::parse)
}

/// The response to a committed dispatch (a command's or a recorded event's): its result,
/// after waiting for the consumers of `Prefer: wait-for` when asked; the stream version
/// as `ETag`, `Idempotent-Replayed` for a repeat.
pub(crate) async fn respond(
    door: &Door,
    actor: &Actor,
    dispatched: &Dispatched,
    wait: Option<(Vec<String>, Duration)>,
) -> Result<Response, Problem> {
    let mut applied = None;
    let mut missed = None;
    if let Some((consumers, timeout)) = wait {
        let waited = door
            .herald
            .consumers()
            .wait_for(&committed(dispatched), &consumers, timeout)
            .await;
        match waited {
            Ok(()) => applied = Some(prefer_applied(&consumers, timeout)),
            Err(error) => missed = Some(Problem::from(&error).to_json()),
        }
    }
    // It committed: say so, with its result, so that nobody sends it again blindly.
    let status = match missed {
        Some(_) => StatusCode::ACCEPTED,
        None => StatusCode::OK,
    };
    let told = wire::Told {
        trace: door.shows_trace(actor),
        repeat: Some(dispatched.is_repeat()),
        missed: missed.as_ref(),
    };
    let body = wire::dispatched(dispatched, told);
    let mut response = wire::json_response(status, body);
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(dispatched.version()));
    if dispatched.is_repeat() {
        headers.insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    if let Some(applied) = applied {
        headers.insert(HeaderName::from_static("preference-applied"), applied);
    }
    Ok(response)
}

/// Every event a dispatch committed, its reactions' too.
fn committed(dispatched: &Dispatched) -> Vec<crate::store::RecordedEvent> {
    dispatched
        .events()
        .iter()
        .chain(dispatched.caused())
        .cloned()
        .collect()
}

/// A stream version as an entity tag: `"3"`.
pub(crate) fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits")
}

/// The body must say it is JSON.
pub(crate) fn json_body(headers: &HeaderMap) -> Result<(), Problem> {
    let unsupported = |detail: String| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported(
            "send the command as JSON, with `Content-Type: application/json`".into(),
        ));
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    let media = media.to_ascii_lowercase();
    if media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(unsupported(format!(
            "the body is `{}`; send JSON, with `Content-Type: application/json`",
            String::from_utf8_lossy(value.as_bytes()).escape_debug()
        )))
    }
}

/// A body that could not be read: too large, or cut off.
pub(crate) fn body_problem(rejection: BytesRejection) -> Problem {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(status, "body_too_large", rejection.body_text())
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            rejection.body_text(),
        )
    }
}

/// The command id an `Idempotency-Key` stands for: derived from the tenant and the key,
/// so that a key another tenant used tells nothing.
fn idempotency_key(headers: &HeaderMap, actor: &Actor) -> Result<Option<Uuid>, Problem> {
    let mut keys = headers.get_all("idempotency-key").iter();
    let Some(key) = keys.next() else {
        return Ok(None);
    };
    let bad = |detail: &str| {
        Problem::bad_request("invalid_idempotency_key", detail.to_owned())
            .with("header", "Idempotency-Key")
    };
    if keys.next().is_some() {
        return Err(bad("send one `Idempotency-Key`, not several"));
    }
    let key = key.as_bytes();
    if key.is_empty() || key.len() > KEY_LIMIT || !key.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(bad(
            "an `Idempotency-Key` is 1 to 255 printable ASCII characters",
        ));
    }
    let mut name = Vec::with_capacity(actor.tenant().len() + 1 + key.len());
    name.extend_from_slice(actor.tenant().as_bytes());
    name.push(0);
    name.extend_from_slice(key);
    Ok(Some(Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, &name)))
}

/// The expected stream version of an `If-Match: "3"`.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let version = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|v| i64::try_from(*v).is_ok());
    version.map(Some).ok_or_else(|| {
        Problem::bad_request(
            "invalid_if_match",
            format!(
                "`If-Match` is the stream version this API sent as `ETag`, like `\"3\"`, not `{}`",
                String::from_utf8_lossy(value.as_bytes()).escape_debug()
            ),
        )
        .with("header", "If-Match")
    })
}

/// `Prefer: wait-for="profiles stats", wait=5`: the consumers to wait for and how long
/// (RFC 7240's `wait`, in seconds; at most the router's longest wait, which is also the
/// default).
fn prefer_wait(
    headers: &HeaderMap,
    door: &Door,
) -> Result<Option<(Vec<String>, Duration)>, Problem> {
    let bad =
        |detail: String| Problem::bad_request("invalid_prefer", detail).with("header", "Prefer");
    let mut consumers = None;
    let mut wait = None;
    for value in headers.get_all("prefer") {
        let text = value
            .to_str()
            .map_err(|_| bad("`Prefer` is not printable ASCII".into()))?;
        for preference in split_outside_quotes(text) {
            let (name, value) = preference.split_once('=').unwrap_or((preference, ""));
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "wait-for" => {
                    let names: Vec<String> = value
                        .split([' ', ','])
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if names.is_empty() {
                        return Err(bad(
                            "`wait-for` names no consumer: `wait-for=\"profiles\"`".into()
                        ));
                    }
                    consumers = Some(names);
                }
                "wait" => {
                    let seconds = value.parse::<u32>().map_err(|_| {
                        bad(format!(
                            "`wait` is a number of seconds, not `{}`",
                            value.escape_debug()
                        ))
                    })?;
                    wait = Some(Duration::from_secs(seconds.into()));
                }
                // Preferences this API does not know are ignored, as RFC 7240 says.
                _ => {}
            }
        }
    }
    let Some(consumers) = consumers else {
        return Ok(None);
    };
    let registry = door.herald.registry();
    if let Some(unknown) = consumers
        .iter()
        .find(|c| registry.eventual_named(c).is_none())
    {
        return Err(bad(format!("`wait-for` names `{unknown}`, which is no eventual projector or processor of this application"))
            .with("consumer", unknown.as_str()));
    }
    let longest = door.settings.longest_wait;
    Ok(Some((consumers, wait.unwrap_or(longest).min(longest))))
}

fn prefer_applied(consumers: &[String], timeout: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "wait-for=\"{}\", wait={}",
        consumers.join(" "),
        timeout.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("wait-for"))
}

/// The comma-separated parts of a header, commas inside quotes kept.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' | ';' if !quoted => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::split_outside_quotes;

    #[test]
    fn splits_preferences_outside_quotes() {
        assert_eq!(
            split_outside_quotes(r#"wait-for="profiles, stats", wait=5"#),
            vec![r#"wait-for="profiles, stats""#, "wait=5"]
        );
        assert_eq!(
            split_outside_quotes("respond-async; wait=2"),
            vec!["respond-async", "wait=2"]
        );
    }
}
