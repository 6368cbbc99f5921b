//! One command's whole tree, read from what the store already keeps: the command's
//! stored result and trace (its strong steps, timed), the events it committed, then for
//! each event the eventual consumers that take it — handled or pending from their
//! checkpoints, parked from the dead letters — and the commands an eventual processor
//! dispatched for it (found by the ids derived from the event, the processor and an
//! index), with their own trees in turn. Nothing is recorded per handled event: that
//! would slow every consumer's catch-up; how long an eventual handler took is for the
//! `tracing` spans.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::consumer::{Layout, position_of};
use crate::engine::dispatch::{Dispatched, recorded};
use crate::engine::handler::processor::derived_id;
use crate::engine::handler::reaction::Reaction;
use crate::facade::runtime::Herald;
use crate::http::wire;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Outcome, TraceNode};
use crate::route::Pattern;
use crate::store::{Checkpoint, DeadLetter, Position, RecordedEvent, StoreError};

/// The most nodes one tree holds; past it the tree says it was cut.
pub(crate) const MOST_NODES: usize = 5_000;

/// The most commands one eventual processor is looked up for, per event.
const MOST_COMMANDS_PER_EVENT: usize = 100;

/// One node of the tree, as the page draws it.
struct Node {
    parent: Option<usize>,
    kind: &'static str,
    label: String,
    at: Option<SystemTime>,
    took: Option<Duration>,
    status: &'static str,
    detail: Map<String, Value>,
}

/// A command still to add, under the node that caused it.
struct Pending {
    dispatched: Dispatched,
    parent: Option<usize>,
}

/// The remote consumers of the tenant: name, patterns, checkpoint.
type Remote = (String, Vec<Pattern>, Position);

/// What the tree is read against: the consumers' state, read once, checkpoints first
/// (a letter parked after they were read then shows its event as pending, never as
/// handled).
struct Explorer<'h> {
    herald: &'h Herald,
    tenant: &'h str,
    checkpoints: Vec<Checkpoint>,
    letters: HashMap<&'static str, Vec<DeadLetter>>,
    remote: Vec<Remote>,
    nodes: Vec<Node>,
    truncated: bool,
}

fn store_error(context: &str) -> impl FnOnce(StoreError) -> Error + '_ {
    move |source| {
        ErrorKind::Store {
            context: context.to_owned(),
            source,
        }
        .into()
    }
}

/// The tree of command `command_id` of `tenant`, as JSON; `None` when the tenant
/// committed no such command.
pub(crate) async fn tree(
    herald: &Herald,
    tenant: &str,
    command_id: Uuid,
) -> Result<Option<Value>, Error> {
    let store = herald.store();
    let Some(root) = recorded(store, tenant, command_id).await? else {
        return Ok(None);
    };
    let log = store.consumers();
    let checkpoints = log
        .checkpoints()
        .await
        .map_err(store_error("reading the checkpoints"))?;
    let mut letters = HashMap::new();
    for handler in herald.registry().eventual_handlers() {
        let parked = log
            .dead_letters(handler.name())
            .await
            .map_err(store_error("reading the dead letters"))?;
        letters.insert(handler.name(), parked);
    }
    // A store that keeps no remote consumers has none to show.
    let remote = match store.remote_consumers().registrations(tenant).await {
        Ok(found) => found
            .into_iter()
            .map(|r| {
                let patterns = r.patterns.iter().filter_map(|p| Pattern::parse(p).ok());
                (r.name, patterns.collect(), r.position)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut explorer = Explorer {
        herald,
        tenant,
        checkpoints,
        letters,
        remote,
        nodes: Vec::new(),
        truncated: false,
    };
    let origin = root
        .started_at()
        .or_else(|| root.events().first().map(|e| e.recorded_at));
    let correlation = root.correlation_id();
    explorer.explore(root).await?;
    Ok(Some(explorer.into_json(command_id, correlation, origin)))
}

impl Explorer<'_> {
    fn push(&mut self, node: Node) -> Option<usize> {
        if self.nodes.len() >= MOST_NODES {
            self.truncated = true;
            return None;
        }
        self.nodes.push(node);
        Some(self.nodes.len() - 1)
    }

    /// Adds `root` and, breadth first, every command caused after it.
    async fn explore(&mut self, root: Dispatched) -> Result<(), Error> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([Pending {
            dispatched: root,
            parent: None,
        }]);
        while let Some(Pending { dispatched, parent }) = queue.pop_front() {
            if !seen.insert(dispatched.command_id()) {
                continue;
            }
            let Some(command) = self.command(&dispatched, parent) else {
                break;
            };
            let events = dispatched.events().iter().chain(dispatched.caused());
            for event in events {
                let Some(at) = self.push(event_node(event, command)) else {
                    break;
                };
                for (caused, consumer) in self.consumers(event, at).await? {
                    queue.push_back(Pending {
                        dispatched: caused,
                        parent: Some(consumer),
                    });
                }
            }
        }
        Ok(())
    }

    /// The command's node and its steps; `None` once the tree is full.
    fn command(&mut self, dispatched: &Dispatched, parent: Option<usize>) -> Option<usize> {
        let trace = dispatched.trace();
        let root = trace.root();
        let stream = dispatched.stream();
        let mut detail = Map::new();
        detail.insert("command_id".into(), json!(dispatched.command_id()));
        detail.insert("correlation_id".into(), json!(dispatched.correlation_id()));
        detail.insert("stream".into(), stream.to_wire_json());
        detail.insert("version".into(), json!(dispatched.version()));
        detail.insert("command".into(), json!(root.handler));
        let started = dispatched.started_at();
        let at = self.push(Node {
            parent,
            kind: "command",
            label: dispatched.route().to_string(),
            at: started,
            took: Some(root.duration),
            status: status(&root.outcome),
            detail,
        })?;
        // Its steps, depth first, each placed from the command's start.
        let mut stack: Vec<(&TraceNode, usize)> =
            root.children.iter().rev().map(|n| (n, at)).collect();
        while let Some((step, parent)) = stack.pop() {
            let offset = step.start.saturating_sub(root.start);
            let node = Node {
                parent: Some(parent),
                kind: "step",
                label: step_label(step),
                at: started.map(|s| s + offset),
                took: Some(step.duration),
                status: status(&step.outcome),
                detail: step_detail(step),
            };
            let id = self.push(node)?;
            stack.extend(step.children.iter().rev().map(|n| (n, id)));
        }
        Some(at)
    }

    /// The eventual consumers that take `event`, under its node, and the commands its
    /// eventual processors dispatched for it (each with the node it goes under).
    async fn consumers(
        &mut self,
        event: &RecordedEvent,
        parent: usize,
    ) -> Result<Vec<(Dispatched, usize)>, Error> {
        let mut caused = Vec::new();
        let handlers = self.herald.registry().eventual_handlers();
        for handler in handlers.into_iter().filter(|h| h.takes(event)) {
            let name = handler.name();
            let key = Layout::of(handler).key_of(&event.stream);
            let checkpoint = position_of(&self.checkpoints, &key);
            let letter = self
                .letters
                .get(name)
                .and_then(|l| l.iter().find(|l| l.event_id == event.event_id))
                .cloned();
            let kind = match handler {
                Reaction::Process(..) => "processor",
                _ => "projector",
            };
            let mut detail = Map::new();
            detail.insert("consumer".into(), json!(name));
            detail.insert("kind".into(), json!(kind));
            detail.insert("checkpoint".into(), json!(key));
            detail.insert("position".into(), json!(wire::position(checkpoint)));
            let handled = letter.is_none() && checkpoint >= event.position;
            // What a processor dispatched for the event: committed with the checkpoint.
            let mut commands = Vec::new();
            if handled && kind == "processor" {
                for index in 0..MOST_COMMANDS_PER_EVENT {
                    let id = derived_id(event.event_id, name, index);
                    match recorded(self.herald.store(), self.tenant, id).await? {
                        Some(command) => commands.push(command),
                        None => break,
                    }
                }
            }
            let (status, at, took) = match &letter {
                Some(letter) => {
                    letter_detail(letter, &mut detail);
                    let took = (letter.last_failed_at)
                        .duration_since(letter.first_failed_at)
                        .unwrap_or_default();
                    ("parked", Some(letter.first_failed_at), Some(took))
                }
                // Handled by the time its first command started.
                None if handled => {
                    let by = commands.iter().filter_map(Dispatched::started_at).min();
                    let took = by.and_then(|by| by.duration_since(event.recorded_at).ok());
                    ("handled", Some(event.recorded_at), took)
                }
                None => ("pending", Some(event.recorded_at), None),
            };
            let node = Node {
                parent: Some(parent),
                kind: "consumer",
                label: name.to_owned(),
                at,
                took,
                status,
                detail,
            };
            let Some(id) = self.push(node) else {
                return Ok(caused);
            };
            caused.extend(commands.into_iter().map(|c| (c, id)));
        }
        let remote: Vec<(String, Position)> = self
            .remote
            .iter()
            .filter(|(_, patterns, _)| {
                patterns.is_empty() || patterns.iter().any(|p| p.matches(event.route.as_str()))
            })
            .map(|(name, _, position)| (name.clone(), *position))
            .collect();
        for (name, position) in remote {
            let handled = position >= event.position;
            let mut detail = Map::new();
            detail.insert("consumer".into(), json!(name));
            detail.insert("kind".into(), json!("remote"));
            detail.insert("position".into(), json!(wire::position(position)));
            let node = Node {
                parent: Some(parent),
                kind: "consumer",
                label: format!("remote {name}"),
                at: Some(event.recorded_at),
                took: None,
                status: if handled { "handled" } else { "pending" },
                detail,
            };
            if self.push(node).is_none() {
                break;
            }
        }
        Ok(caused)
    }

    fn into_json(self, command_id: Uuid, correlation: Uuid, origin: Option<SystemTime>) -> Value {
        let origin = origin.unwrap_or_else(SystemTime::now);
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let nodes: Vec<Value> = (self.nodes.into_iter().enumerate())
            .map(|(id, node)| {
                // Before the origin (a clock that moved back) counts as at it.
                let start = node
                    .at
                    .map(|at| micros(at.duration_since(origin).unwrap_or_default()));
                json!({
                    "id": id,
                    "parent": node.parent,
                    "kind": node.kind,
                    "label": node.label,
                    "start_us": start,
                    "took_us": node.took.map(micros),
                    "status": node.status,
                    "detail": node.detail,
                })
            })
            .collect();
        json!({
            "command_id": command_id,
            "correlation_id": correlation,
            "origin": wire::rfc3339(origin),
            "nodes": nodes,
            "truncated": self.truncated,
        })
    }
}

fn status(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Conflict => "conflict",
        _ => "failed",
    }
}

fn step_label(step: &TraceNode) -> String {
    let mut label = step.operation.as_str().to_owned();
    for part in [&step.handler, &step.route].into_iter().flatten() {
        label.push(' ');
        label.push_str(part);
    }
    label
}

fn step_detail(step: &TraceNode) -> Map<String, Value> {
    let mut detail = Map::new();
    detail.insert("operation".into(), json!(step.operation.as_str()));
    for (key, value) in [
        ("handler", &step.handler),
        ("route", &step.route),
        ("detail", &step.detail),
    ] {
        if let Some(value) = value {
            detail.insert(key.into(), json!(value));
        }
    }
    if let Outcome::Failed(error) = &step.outcome {
        detail.insert("error".into(), json!(error));
    }
    detail
}

fn event_node(event: &RecordedEvent, command: usize) -> Node {
    let meta = &event.metadata;
    let mut detail = Map::new();
    detail.insert("event_id".into(), json!(event.event_id));
    detail.insert("name".into(), json!(event.name));
    detail.insert("position".into(), json!(wire::position(event.position)));
    detail.insert("stream".into(), event.stream.to_wire_json());
    detail.insert("version".into(), json!(event.version));
    detail.insert("command_id".into(), json!(meta.command_id));
    detail.insert("correlation_id".into(), json!(meta.correlation_id));
    detail.insert("causation_id".into(), json!(meta.causation_id));
    detail.insert("actor".into(), json!(meta.actor));
    detail.insert(
        "recorded_at".into(),
        json!(wire::rfc3339(event.recorded_at)),
    );
    detail.insert("payload".into(), event.payload.clone());
    Node {
        parent: Some(command),
        kind: "event",
        label: event.route.to_string(),
        at: Some(event.recorded_at),
        took: None,
        status: "ok",
        detail,
    }
}

fn letter_detail(letter: &DeadLetter, detail: &mut Map<String, Value>) {
    detail.insert("attempts".into(), json!(letter.attempts));
    detail.insert("error".into(), json!(letter.error));
    if let Some(behind) = letter.behind {
        detail.insert("behind".into(), json!(behind));
    }
    detail.insert(
        "first_failed_at".into(),
        json!(wire::rfc3339(letter.first_failed_at)),
    );
    detail.insert(
        "last_failed_at".into(),
        json!(wire::rfc3339(letter.last_failed_at)),
    );
}
