//! The OpenAPI 3.1 document of the router, built from the registry when the router is:
//! one path per registered command and one per registered event (recorded without an
//! aggregate) with its JSON Schema (schemars), the reads, and the problem types.

use serde_json::{Map, Value, json};

use crate::base::schema::Schemas;
use crate::engine::registry::Registry;

/// Problem codes the routes answer with, by status: each has its schema in the document.
const ERRORS: &[(u16, &str)] = &[
    (
        400,
        "the request is malformed: JSON that is not the command's or the event's, a bad header, query or path",
    ),
    (401, "no credentials, or credentials that do not hold"),
    (403, "the caller may not do this"),
    (404, "no such command, event, aggregate, stream or result"),
    (
        406,
        "the response cannot be given in a type the caller accepts",
    ),
    (409, "the stream is not at the expected version"),
    (413, "the body is over the limit"),
    (415, "the body is not JSON"),
    (
        422,
        "rejected by a hook or the aggregate, or an idempotency key reused with another body",
    ),
    (429, "over the caller's rate or concurrency limit"),
    (
        503,
        "the store is saturated or unreachable: send it again later",
    ),
];

pub(crate) fn document(registry: &Registry, metrics: bool) -> Value {
    let mut schemas = Schemas::for_openapi();
    let mut paths = Map::new();
    for row in registry.commands() {
        let roles = if row.roles.is_empty() {
            String::new()
        } else {
            format!(" The caller needs one of the roles {:?}.", row.roles)
        };
        let post = Post {
            operation: format!("send_{}", row.name),
            summary: format!("Sends command `{}` (route `{}`).", row.name, row.route),
            description: format!(
                "Appends the events its aggregate decides, in one transaction.{roles}"
            ),
            tag: "commands",
            what: ("The command", "its events"),
        };
        paths.insert(
            format!("/v1/commands/{}", row.name),
            post.path((row.schema)(&mut schemas)),
        );
    }
    let mut event_schemas = Vec::new();
    for row in registry.events() {
        let schema = (row.schema)(&mut schemas);
        event_schemas.push(json!({
            "title": row.name,
            "description": format!("Event `{}` (routes {:?}), schema version {}.", row.name, row.routes, row.version),
            "allOf": [schema.clone()],
        }));
        let post = Post {
            operation: format!("record_{}", row.name),
            summary: format!(
                "Records event `{}` (routes {:?}) without an aggregate.",
                row.name, row.routes
            ),
            description: format!(
                "Appends the event to the caller's tenant's stream of type `{}`, whose id is the value of the first `:param` of its route, in one transaction with its strong handlers.",
                row.stream
            ),
            tag: "events",
            what: ("The event", "it"),
        };
        paths.insert(format!("/v1/events/{}", row.name), post.path(schema));
    }
    reads(&mut paths);
    consumers(&mut paths);
    trace(&mut paths);
    if metrics {
        paths.insert("/v1/metrics".into(), metrics_path());
    }
    let mut components = schemas.definitions();
    components.extend(fixed_schemas(event_schemas));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Herald",
            "version": "1",
            "description": "Commands, reads and the global order of a Herald application. Errors are RFC 9457 problem details whose `type` is `urn:herald:problem:<code>`.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "parameters": parameters(),
            "headers": {
                "ETag": { "description": "The stream's version, quoted: `\"3\"`.", "schema": { "type": "string" } },
            },
        },
    })
}

/// A `POST` of a command or an event: the same headers and answers, another body.
struct Post {
    operation: String,
    summary: String,
    description: String,
    tag: &'static str,
    /// What committed, and what the consumers of `wait-for` handle: for the answers.
    what: (&'static str, &'static str),
}

impl Post {
    fn path(self, body: Value) -> Value {
        let (what, handled) = self.what;
        let dispatched = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Dispatched" } } });
        let etag = json!({ "ETag": { "$ref": "#/components/headers/ETag" } });
        json!({ "post": {
            "operationId": self.operation,
            "summary": self.summary,
            "description": self.description,
            "tags": [self.tag],
            "parameters": [
                { "$ref": "#/components/parameters/IdempotencyKey" },
                { "$ref": "#/components/parameters/IfMatch" },
                { "$ref": "#/components/parameters/Prefer" },
            ],
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": body } },
            },
            "responses": responses(json!({
                "200": {
                    "description": format!("{what} committed (or had committed: `Idempotent-Replayed`)."),
                    "headers": etag,
                    "content": dispatched,
                },
                "202": {
                    "description": format!("{what} committed, but the consumers of `wait-for` had not handled {handled} within the wait."),
                    "headers": etag,
                    "content": dispatched,
                },
            })),
        }})
    }
}

/// The routes' responses: `ok` and every problem.
fn responses(ok: Value) -> Value {
    let mut responses = ok.as_object().cloned().unwrap_or_default();
    for (status, description) in ERRORS {
        responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
            }),
        );
    }
    Value::Object(responses)
}

fn read(operation: &str, summary: &str, parameters: Value, ok: Value) -> Value {
    json!({ "get": {
        "operationId": operation,
        "summary": summary,
        "tags": ["reads"],
        "parameters": parameters,
        "responses": responses(ok),
    }})
}

fn ok_json(schema: &str) -> Value {
    json!({ "200": {
        "description": "Found.",
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
    }})
}

fn in_path(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string", "minLength": 1, "maxLength": 255 } })
}

/// The query parameter `after`: a position.
fn after(description: &str) -> Value {
    json!({ "name": "after", "in": "query", "description": description,
            "schema": { "$ref": "#/components/schemas/Position" } })
}

fn limit() -> Value {
    json!({ "name": "limit", "in": "query", "description": "How many events at most.",
            "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } })
}

fn reads(paths: &mut Map<String, Value>) {
    paths.insert(
        "/v1/results/{command_id}".into(),
        read(
            "read_result",
            "A committed command's result and events.",
            json!([{ "name": "command_id", "in": "path", "required": true,
                     "schema": { "type": "string", "format": "uuid" } }]),
            ok_json("Result"),
        ),
    );
    paths.insert(
        "/v1/streams/{stream_type}/{stream_id}/events".into(),
        read(
            "read_stream",
            "A stream's events, after a version.",
            json!([
                in_path("stream_type", "The stream's type: its aggregate's name."),
                in_path("stream_id", "The stream's id."),
                { "name": "after_version", "in": "query", "description": "Events after this version.",
                  "schema": { "type": "integer", "minimum": 0, "maximum": i64::MAX } },
                limit(),
            ]),
            ok_json("StreamEvents"),
        ),
    );
    let mut aggregate = read(
        "read_aggregate",
        "An aggregate's state; its version is the `ETag`.",
        json!([
            in_path("name", "The aggregate's name."),
            in_path("id", "The aggregate's id."),
            { "name": "If-None-Match", "in": "header", "description": "The `ETag` last seen: 304 when unchanged.",
              "schema": { "type": "string" } },
        ]),
        ok_json("AggregateState"),
    );
    aggregate["get"]["responses"]["200"]["headers"] =
        json!({ "ETag": { "$ref": "#/components/headers/ETag" } });
    aggregate["get"]["responses"]["304"] = json!({
        "description": "Unchanged since the `ETag` given.",
        "headers": { "ETag": { "$ref": "#/components/headers/ETag" } },
    });
    paths.insert("/v1/aggregates/{name}/{id}".into(), aggregate);
    paths.insert(
        "/v1/events".into(),
        read(
            "read_events",
            "The caller's tenant's events after a position, in the global order.",
            json!([
                after("A position this API gave (`v1.…`); default: the start."),
                { "name": "patterns", "in": "query", "description": "Route patterns, comma-separated (`user.*,order.:id.placed`).",
                  "schema": { "type": "string" } },
                limit(),
            ]),
            ok_json("EventPage"),
        ),
    );
}

fn operation(id: &str, summary: &str, parameters: Value, body: Option<&str>, ok: Value) -> Value {
    let mut operation = json!({
        "operationId": id,
        "summary": summary,
        "tags": ["remote consumers"],
        "parameters": parameters,
        "responses": responses(ok),
    });
    if let Some(schema) = body {
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
        });
    }
    operation
}

fn consumers(paths: &mut Map<String, Value>) {
    let name = || {
        json!([{ "name": "name", "in": "path", "required": true, "description": "The consumer's name, unique in the caller's tenant.",
                 "schema": { "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$" } }])
    };
    let consumer = || ok_json("RemoteConsumer");
    let mut registered = consumer();
    registered["201"] = registered["200"].clone();
    registered["200"]["description"] = "It was registered already, with these patterns.".into();
    registered["201"]["description"] = "Registered now.".into();
    paths.insert(
        "/v1/consumers".into(),
        json!({ "get": operation("list_consumers", "The caller's tenant's remote consumers.", json!([]), None, ok_json("RemoteConsumers")) }),
    );
    paths.insert(
        "/v1/consumers/{name}".into(),
        json!({
            "get": operation("read_consumer", "A remote consumer.", name(), None, consumer()),
            "put": operation("register_consumer", "Registers a remote consumer (the same patterns again: it stays as it is).", name(), Some("Registration"), registered),
            "delete": operation("delete_consumer", "Deletes a remote consumer and its checkpoint.", name(), None,
                json!({ "204": { "description": "Deleted." } })),
        }),
    );
    let mut poll = name();
    poll.as_array_mut().expect("a list").extend([
        limit(),
        after("A position past the checkpoint to read after (read, not acknowledged yet)."),
        json!({ "name": "wait", "in": "query",
                "description": "Seconds to hold the poll open while there is nothing for the consumer: it answers as soon as an event of its own commits (at most the API's longest wait).",
                "schema": { "type": "integer", "minimum": 0 } }),
    ]);
    paths.insert(
        "/v1/consumers/{name}/events".into(),
        json!({ "get": operation("poll_consumer", "The events after the consumer's checkpoint; acknowledge `next` once handled.", poll, None, ok_json("EventPage")) }),
    );
    paths.insert(
        "/v1/consumers/{name}/ack".into(),
        json!({ "post": operation("acknowledge", "Moves the consumer's checkpoint forward to a position.", name(), Some("Ack"), ok_json("Acknowledged")) }),
    );
}

fn trace(paths: &mut Map<String, Value>) {
    use crate::http::trace::{MOST_LISTED, MOST_NODES, SCAN};
    let mut page = json!({ "get": {
        "operationId": "trace_page",
        "summary": "The trace explorer: a page that reads the two `/v1/trace/commands` routes with the caller's token.",
        "tags": ["trace"],
        "security": [],
        "responses": { "200": {
            "description": "The page (self-contained: inline script and style).",
            "content": { "text/html": { "schema": { "type": "string" } } },
        }},
    }});
    page["get"]["responses"]["406"] = responses(json!({}))["406"].clone();
    paths.insert("/v1/trace/".into(), page);
    let mut list = read(
        "trace_commands",
        &format!(
            "The caller's tenant's recent commands, newest first. A page looks at up to {SCAN} of the store's commands (every tenant's): it may be short, even empty, while `next` says more come further on."
        ),
        json!([
            { "name": "patterns", "in": "query", "description": "Route patterns of the commands, comma-separated (`sign_up.*`).",
              "schema": { "type": "string" } },
            { "name": "failed", "in": "query", "description": "Only the commands with a step that did not end well (a conflict run again, a saga step's failed try) or an event an eventual consumer parked.",
              "schema": { "type": "boolean" } },
            { "name": "before", "in": "query", "description": "The commands before this one (a `next` this route gave).",
              "schema": { "type": "string", "format": "uuid" } },
            { "name": "limit", "in": "query", "description": "How many commands at most.",
              "schema": { "type": "integer", "minimum": 1, "maximum": MOST_LISTED } },
        ]),
        ok_json("TraceCommands"),
    );
    list["get"]["tags"] = json!(["trace"]);
    list["get"]["responses"]["200"]["links"] = json!({ "TheNewestCommandsTree": {
        "operationId": "trace_command",
        "parameters": { "command_id": "$response.body#/commands/0/command_id" },
        "description": "The tree of the newest command listed.",
    }});
    paths.insert("/v1/trace/commands".into(), list);
    let mut tree = read(
        "trace_command",
        &format!(
            "A command's whole tree on one time axis: its strong steps, its events, the eventual consumers that take them and the commands their processors dispatched, transitively (at most {MOST_NODES} nodes). For callers with the trace role."
        ),
        json!([{ "name": "command_id", "in": "path", "required": true,
                 "schema": { "type": "string", "format": "uuid" } }]),
        ok_json("TraceTree"),
    );
    tree["get"]["tags"] = json!(["trace"]);
    paths.insert("/v1/trace/commands/{command_id}".into(), tree);
}

/// `GET /v1/metrics`, when the API serves it.
fn metrics_path() -> Value {
    let mut metrics = json!({ "get": {
        "operationId": "metrics",
        "summary": "The process's metrics in Prometheus's text format (version 0.0.4), for callers with the metrics role.",
        "tags": ["telemetry"],
        "responses": { "200": {
            "description": "The metrics.",
            "content": { "text/plain": { "schema": { "type": "string" } } },
        }},
    }});
    let errors = responses(json!({}));
    for status in ["401", "403", "429", "503"] {
        if let Some(response) = errors.get(status) {
            metrics["get"]["responses"][status] = response.clone();
        }
    }
    metrics
}

fn trace_schemas(out: &mut Map<String, Value>) {
    let uuid = json!({ "type": "string", "format": "uuid" });
    let time = json!({ "type": "string", "format": "date-time" });
    let micros = json!({ "type": ["integer", "null"], "minimum": 0 });
    out.insert(
        "TraceCommand".into(),
        json!({ "type": "object",
            "required": ["command_id", "route", "correlation_id", "recorded_at", "started_at", "events", "failed", "parked"],
            "properties": {
                "command_id": uuid,
                "route": { "type": "string" },
                "correlation_id": uuid,
                "command": { "type": ["string", "null"], "description": "The command's name." },
                "recorded_at": time,
                "started_at": { "type": ["string", "null"], "format": "date-time" },
                "events": { "type": "integer", "minimum": 0 },
                "failed": { "type": "boolean" },
                "parked": { "type": "integer", "minimum": 0, "description": "Its events parked by eventual consumers." },
                "took_us": { "type": "integer", "minimum": 0, "description": "How long it took, in microseconds (callers with the trace role)." },
            }}),
    );
    out.insert(
        "TraceCommands".into(),
        json!({ "type": "object", "required": ["commands", "next"], "properties": {
            "commands": { "type": "array", "items": { "$ref": "#/components/schemas/TraceCommand" } },
            "next": { "type": ["string", "null"], "format": "uuid", "description": "`before` for the next page; null: no more." },
        }}),
    );
    out.insert(
        "TraceNode".into(),
        json!({ "type": "object",
            "required": ["id", "parent", "kind", "label", "start_us", "took_us", "status", "detail"],
            "properties": {
                "id": { "type": "integer", "minimum": 0 },
                "parent": { "type": ["integer", "null"], "minimum": 0 },
                "kind": { "enum": ["command", "step", "event", "consumer"] },
                "label": { "type": "string" },
                "start_us": { "description": "Microseconds after the tree's origin; null: not known.", "allOf": [micros] },
                "took_us": { "description": "How long, in microseconds; null: not known.", "allOf": [micros] },
                "status": { "enum": ["ok", "conflict", "failed", "handled", "pending", "parked"] },
                "detail": { "type": "object" },
            }}),
    );
    out.insert(
        "TraceTree".into(),
        json!({ "type": "object", "required": ["command_id", "correlation_id", "origin", "nodes", "truncated"], "properties": {
            "command_id": uuid,
            "correlation_id": uuid,
            "origin": time,
            "nodes": { "type": "array", "items": { "$ref": "#/components/schemas/TraceNode" } },
            "truncated": { "type": "boolean" },
        }}),
    );
}

fn parameters() -> Value {
    json!({
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header",
            "description": "Makes the command id: the same key again returns the first result and runs nothing.",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$" },
        },
        "IfMatch": {
            "name": "If-Match", "in": "header",
            "description": "The stream version last seen, as the `ETag` gave it (`\"3\"`).",
            "schema": { "type": "string", "pattern": "^(W/)?\"[0-9]{1,18}\"$" },
        },
        "Prefer": {
            "name": "Prefer", "in": "header",
            "description": "`wait-for=\"<consumer> …\", wait=<seconds>`: answer once these eventual consumers handled the events.",
            "schema": { "type": "string" },
        },
    })
}

fn fixed_schemas(events: Vec<Value>) -> Map<String, Value> {
    let stream = json!({
        "type": "object",
        "required": ["tenant", "type", "id"],
        "properties": { "tenant": { "type": "string" }, "type": { "type": "string" }, "id": { "type": "string" } },
    });
    let event = json!({
        "type": "object",
        "required": ["position", "event_id", "stream", "version", "route", "name", "schema_version", "payload", "metadata", "recorded_at"],
        "properties": {
            "position": { "type": "string", "description": "Opaque: hand it back as it is." },
            "event_id": { "type": "string", "format": "uuid" },
            "stream": { "$ref": "#/components/schemas/Stream" },
            "version": { "type": "integer", "minimum": 1 },
            "route": { "type": "string" },
            "name": { "type": "string" },
            "schema_version": { "type": "integer", "minimum": 0 },
            "payload": { "description": "The event, as stored.", "anyOf": events_or_any(events) },
            "metadata": { "type": "object" },
            "recorded_at": { "type": "string", "format": "date-time" },
        },
    });
    let dispatched = json!({
        "type": "object",
        "required": ["command_id", "correlation_id", "route", "stream", "version", "events"],
        "properties": {
            "command_id": { "type": "string", "format": "uuid" },
            "correlation_id": { "type": "string", "format": "uuid" },
            "route": { "type": "string" },
            "stream": { "$ref": "#/components/schemas/Stream" },
            "version": { "type": "integer", "minimum": 0 },
            "repeat": { "type": "boolean" },
            "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } },
            "trace": { "type": "object" },
            "committed": { "type": "boolean" },
            "wait": { "$ref": "#/components/schemas/Problem" },
        },
    });
    let problem = json!({
        "type": "object",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": { "type": "string", "format": "uri" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "code": { "type": "string" },
        },
    });
    let mut out = Map::new();
    out.insert(
        "RemoteConsumer".into(),
        json!({ "type": "object", "required": ["name", "patterns", "position", "lag", "registered_at", "acked_at"], "properties": {
            "name": { "type": "string" },
            "patterns": { "type": "array", "items": { "type": "string" } },
            "position": { "$ref": "#/components/schemas/Position" },
            "lag": { "type": "integer", "minimum": 0 },
            "registered_at": { "type": "string", "format": "date-time" },
            "acked_at": { "type": ["string", "null"], "format": "date-time" },
        }}),
    );
    out.insert(
        "RemoteConsumers".into(),
        json!({ "type": "object", "required": ["consumers"], "properties": {
            "consumers": { "type": "array", "items": { "$ref": "#/components/schemas/RemoteConsumer" } },
        }}),
    );
    out.insert(
        "Registration".into(),
        json!({ "type": "object", "additionalProperties": false, "properties": {
            "patterns": { "type": "array", "items": { "type": "string" }, "description": "Route patterns; none: every route." },
            "from": { "enum": ["start", "now"], "description": "Whether it reads the events committed before (`start`, the default)." },
        }}),
    );
    out.insert(
        "Ack".into(),
        json!({ "type": "object", "additionalProperties": false, "required": ["position"], "properties": {
            "position": { "$ref": "#/components/schemas/Position" },
        }}),
    );
    out.insert(
        "Acknowledged".into(),
        json!({ "type": "object", "required": ["position", "moved"], "properties": {
            "position": { "$ref": "#/components/schemas/Position" },
            "moved": { "type": "boolean" },
        }}),
    );
    out.insert(
        "Position".into(),
        json!({ "type": "string", "pattern": "^v1\\.[0-9]{1,18}\\.[0-9]{1,18}$",
                "description": "A place in the global order, as this API writes it: hand it back as it is." }),
    );
    trace_schemas(&mut out);
    out.insert("Stream".into(), stream);
    out.insert("Event".into(), event);
    out.insert("Dispatched".into(), dispatched.clone());
    out.insert("Result".into(), dispatched);
    out.insert("Problem".into(), problem);
    out.insert(
        "StreamEvents".into(),
        json!({ "type": "object", "required": ["stream", "events", "more"], "properties": {
            "stream": { "$ref": "#/components/schemas/Stream" },
            "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } },
            "more": { "type": "boolean" },
        }}),
    );
    out.insert(
        "EventPage".into(),
        json!({ "type": "object", "required": ["events", "next"], "properties": {
            "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } },
            "next": { "type": "string", "description": "Where the next page starts." },
        }}),
    );
    out.insert(
        "AggregateState".into(),
        json!({ "type": "object", "required": ["aggregate", "id", "version", "state"], "properties": {
            "aggregate": { "type": "string" },
            "id": { "type": "string" },
            "version": { "type": "integer", "minimum": 1 },
            "state": {},
        }}),
    );
    out
}

/// The registered events' schemas, and anything (an event this build no longer has).
fn events_or_any(mut events: Vec<Value>) -> Vec<Value> {
    events.push(json!({ "description": "An event of another build, or upcast since." }));
    events
}
