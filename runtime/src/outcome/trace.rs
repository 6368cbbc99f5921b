//! Every step of a dispatch, timed: a tree of what ran, for how long, and how it ended.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::field::Empty;
use tracing::{Level, Span};

use crate::base::json_text::JsonText;

/// What a trace node timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// The whole dispatch of one command.
    Dispatch,
    /// Checking the actor's roles.
    Authorize,
    /// Waiting for the commands of this runtime ahead of it on its stream (only when
    /// there were some: see
    /// [`HeraldBuilder::stream_queue_wait`](crate::HeraldBuilder::stream_queue_wait)).
    Queue,
    /// Opening the transaction.
    Begin,
    /// Looking up (and claiming) a command id the caller gave: a repeat finds the first
    /// run here.
    Record,
    /// Loading the aggregate from its stream.
    Load,
    /// The aggregate's `#[handle]` method.
    Handle,
    /// Applying the new events to the aggregate.
    Apply,
    /// Appending the events with the expected version.
    Append,
    /// Storing a snapshot of the aggregate.
    Snapshot,
    /// Storing the command's row: its id, result and trace.
    Finish,
    /// A `#[hook]` (before or after).
    Hook,
    /// A `#[saga_step]`, with its retries.
    Saga,
    /// A saga step's compensation, after the command failed.
    Reverse,
    /// A strong `#[projector]` writing an event into a read model.
    Project,
    /// A strong `#[processor]` deciding follow-up commands (each a nested `Dispatch`).
    Process,
    /// A `#[dispatcher]` deriving side events from an event.
    Dispatcher,
    /// Committing.
    Commit,
    /// Rolling back.
    Rollback,
}

impl Operation {
    /// The operation's name, as in traces and `tracing` spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Dispatch => "dispatch",
            Operation::Authorize => "authorize",
            Operation::Queue => "queue",
            Operation::Begin => "begin",
            Operation::Record => "record",
            Operation::Load => "load",
            Operation::Handle => "handle",
            Operation::Apply => "apply",
            Operation::Append => "append",
            Operation::Snapshot => "snapshot",
            Operation::Finish => "finish",
            Operation::Hook => "hook",
            Operation::Saga => "saga",
            Operation::Reverse => "reverse",
            Operation::Project => "project",
            Operation::Process => "process",
            Operation::Dispatcher => "dispatcher",
            Operation::Commit => "commit",
            Operation::Rollback => "rollback",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a step ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It succeeded.
    #[default]
    Ok,
    /// Another writer got to the stream first (the command may be tried again).
    Conflict,
    /// It failed with this error.
    Failed(String),
}

/// One timed step and the steps inside it. Stored with each command as compact JSON
/// (times in nanoseconds, empty fields left out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceNode {
    /// What was timed.
    #[serde(rename = "op")]
    pub operation: Operation,
    /// The handler that ran (`Account::deposit`), or the aggregate or command concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// The concrete route concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// A detail, such as how many events were loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When it started, counted from the start of the dispatch.
    #[serde(with = "nanos")]
    pub start: Duration,
    /// How long it took.
    #[serde(rename = "took", with = "nanos")]
    pub duration: Duration,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Outcome::is_ok")]
    pub outcome: Outcome,
    /// The steps inside it, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TraceNode>,
}

/// A duration as a whole number of nanoseconds.
mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(of(*d))
    }

    pub(super) fn of(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_nanos)
    }
}

impl Outcome {
    /// Whether the step succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

impl TraceNode {
    /// This node and every node below it, depth first.
    pub fn walk(&self) -> impl Iterator<Item = &TraceNode> + '_ {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let node = stack.pop()?;
            stack.extend(node.children.iter().rev());
            Some(node)
        })
    }
}

/// The trace of one dispatch: a tree rooted at the [`Operation::Dispatch`] node.
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::trace::Operation;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let dispatched = herald.dispatch(OpenAccount { account_id: 1 }).await?;
/// let trace = dispatched.trace();
/// assert_eq!(trace.root().operation, Operation::Dispatch);
/// assert!(trace.nodes().any(|n| n.handler.as_deref() == Some("Account::open")));
/// println!("{trace}"); // an indented tree with durations
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Trace {
    root: TraceNode,
}

impl Trace {
    /// The dispatch's node.
    pub fn root(&self) -> &TraceNode {
        &self.root
    }

    /// Every node, depth first from the root.
    pub fn nodes(&self) -> impl Iterator<Item = &TraceNode> + '_ {
        self.root.walk()
    }

    /// Writes the trace as its `Serialize` writes it to JSON.
    #[cfg(test)]
    pub(crate) fn write_json(&self, text: &mut JsonText) {
        write_node(text, &self.root, self.root.duration, &[], Instant::now());
    }
}

/// Writes `node` as its `Serialize` writes it to JSON, but with `duration` for how long
/// it took, and with the open nodes `open_below` (outermost first) as its last child and
/// theirs: the trace so far of an open node, without a copy of it made.
fn write_node(
    text: &mut JsonText,
    node: &TraceNode,
    duration: Duration,
    open_below: &[Open],
    now: Instant,
) {
    text.open_object().key("op").string(node.operation.as_str());
    for (key, part) in [
        ("handler", &node.handler),
        ("route", &node.route),
        ("detail", &node.detail),
    ] {
        if let Some(part) = part {
            text.key(key).string(part);
        }
    }
    text.key("start").u64(nanos::of(node.start));
    text.key("took").u64(nanos::of(duration));
    match &node.outcome {
        Outcome::Ok => {}
        Outcome::Conflict => {
            text.key("outcome").string("conflict");
        }
        Outcome::Failed(error) => {
            text.key("outcome")
                .open_object()
                .key("failed")
                .string(error);
            text.close_object();
        }
    }
    if !node.children.is_empty() || !open_below.is_empty() {
        text.key("children").open_array();
        for child in &node.children {
            write_node(text, child, child.duration, &[], now);
        }
        if let Some((next, below)) = open_below.split_first() {
            write_node(text, &next.node, now - next.started, below, now);
        }
        text.close_array();
    }
    text.close_object();
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn line(f: &mut fmt::Formatter<'_>, node: &TraceNode, depth: usize) -> fmt::Result {
            write!(f, "{:indent$}{}", "", node.operation, indent = depth * 2)?;
            for part in [&node.handler, &node.route, &node.detail]
                .into_iter()
                .flatten()
            {
                write!(f, " {part}")?;
            }
            write!(f, "  {:.3} ms", node.duration.as_secs_f64() * 1e3)?;
            match &node.outcome {
                Outcome::Ok => writeln!(f)?,
                Outcome::Conflict => writeln!(f, "  conflict")?,
                Outcome::Failed(error) => writeln!(f, "  failed: {error}")?,
            }
            node.children
                .iter()
                .try_for_each(|child| line(f, child, depth + 1))
        }
        line(f, &self.root, 0)
    }
}

/// How an error shows in a trace.
pub(crate) trait TraceOutcome {
    fn outcome(&self) -> Outcome;
}

/// Builds a trace as the loop runs: nodes are opened and closed like a stack, and each
/// open node also has a `tracing` span (`herald.<operation>`, see
/// [`crate::telemetry`]), whose parent is the span of the node it is in: explicit, so
/// that a step run by another task than its dispatch's still sits below it.
pub(crate) struct Tracer {
    origin: Instant,
    /// Open nodes, outermost first.
    open: Vec<Open>,
}

/// An open node: when it started, and its span.
struct Open {
    node: TraceNode,
    started: Instant,
    span: Span,
}

/// What a step's span says beyond its operation and handler (see [`Tracer::time_at`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct At<'a> {
    /// The route concerned (also the trace node's).
    pub(crate) route: Option<&'a str>,
    /// The stream concerned.
    pub(crate) stream: Option<&'a crate::store::StreamKey>,
    /// A stream version.
    pub(crate) version: Option<u64>,
}

impl<'a> At<'a> {
    /// A step on `stream`.
    pub(crate) fn stream(stream: &'a crate::store::StreamKey) -> Self {
        At {
            stream: Some(stream),
            ..At::default()
        }
    }
}

/// The span of a node of `operation` below `parent` (the current span for a root).
/// Each name is a callsite of its own: a span's name must be known when it compiles.
fn span_of(operation: Operation, parent: Option<&Span>, handler: Option<&str>) -> Span {
    // The parent's id, or, for a root or below a span that is not recorded, the
    // current span's: evaluated only when the span is enabled.
    let parent = || parent.and_then(Span::id).or_else(|| Span::current().id());
    macro_rules! step {
        ($name:literal) => {
            tracing::span!(
                parent: parent(),
                Level::DEBUG,
                $name,
                handler,
                route = Empty,
                stream = Empty,
                version = Empty,
                outcome = Empty,
                otel.status_code = Empty,
            )
        };
    }
    match operation {
        Operation::Dispatch => tracing::span!(
            parent: parent(),
            Level::INFO,
            "herald.dispatch",
            command = handler,
            command_id = Empty,
            correlation_id = Empty,
            route = Empty,
            stream = Empty,
            version = Empty,
            outcome = Empty,
            otel.status_code = Empty,
        ),
        Operation::Authorize => step!("herald.authorize"),
        Operation::Queue => step!("herald.queue"),
        Operation::Begin => step!("herald.begin"),
        Operation::Record => step!("herald.record"),
        Operation::Load => step!("herald.load"),
        Operation::Handle => step!("herald.handle"),
        Operation::Apply => step!("herald.apply"),
        Operation::Append => step!("herald.append"),
        Operation::Snapshot => step!("herald.snapshot"),
        Operation::Finish => step!("herald.finish"),
        Operation::Hook => step!("herald.hook"),
        Operation::Saga => step!("herald.saga"),
        Operation::Reverse => step!("herald.reverse"),
        Operation::Project => step!("herald.project"),
        Operation::Process => step!("herald.process"),
        Operation::Dispatcher => step!("herald.dispatcher"),
        Operation::Commit => step!("herald.commit"),
        Operation::Rollback => step!("herald.rollback"),
    }
}

/// Records how a node ended on its span: nothing for success, the outcome else (never
/// the error's message, which may quote a payload).
fn record_outcome(span: &Span, outcome: &Outcome) {
    let outcome = match outcome {
        Outcome::Ok => return,
        Outcome::Conflict => "conflict",
        Outcome::Failed(_) => "failed",
    };
    span.record("outcome", outcome);
    span.record("otel.status_code", "ERROR");
}

impl Tracer {
    pub(crate) fn new(operation: Operation, handler: &str) -> Self {
        let origin = Instant::now();
        let mut tracer = Tracer {
            origin,
            open: Vec::with_capacity(4),
        };
        tracer.open(operation, Some(handler));
        tracer
    }

    pub(crate) fn open(&mut self, operation: Operation, handler: Option<&str>) {
        let now = Instant::now();
        let span = span_of(operation, self.open.last().map(|o| &o.span), handler);
        let node = TraceNode {
            operation,
            handler: handler.map(str::to_owned),
            route: None,
            detail: None,
            start: now - self.origin,
            duration: Duration::ZERO,
            outcome: Outcome::Ok,
            children: Vec::new(),
        };
        self.open.push(Open {
            node,
            started: now,
            span,
        });
    }

    /// The span of the innermost open node.
    pub(crate) fn span(&self) -> &Span {
        &self.open.last().expect("the root is open").span
    }

    /// Sets the route of the innermost open node.
    pub(crate) fn route(&mut self, route: &str) {
        if let Some(open) = self.open.last_mut() {
            open.span.record("route", route);
            open.node.route = Some(route.to_owned());
        }
    }

    /// Closes the innermost open node; the root stays open until [`finish`](Self::finish).
    pub(crate) fn close(&mut self, outcome: Outcome) {
        if self.open.len() < 2 {
            return;
        }
        let Open {
            mut node,
            started,
            span,
        } = self.open.pop().expect("two nodes are open");
        node.duration = started.elapsed();
        record_outcome(&span, &outcome);
        drop(span);
        node.outcome = outcome;
        self.open
            .last_mut()
            .expect("the parent is open")
            .node
            .children
            .push(node);
    }

    /// Sets the detail of the node closed last.
    pub(crate) fn detail(&mut self, detail: String) {
        if let Some(node) = self
            .open
            .last_mut()
            .and_then(|parent| parent.node.children.last_mut())
        {
            node.detail = Some(detail);
        }
    }

    /// Runs `step` as a node of its own, inside its span.
    pub(crate) async fn time<T, E: TraceOutcome>(
        &mut self,
        operation: Operation,
        handler: Option<&str>,
        step: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.time_at(operation, handler, At::default(), step).await
    }

    /// [`time`](Self::time), with what its span says about it.
    pub(crate) async fn time_at<T, E: TraceOutcome>(
        &mut self,
        operation: Operation,
        handler: Option<&str>,
        at: At<'_>,
        step: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.open(operation, handler);
        let open = self.open.last_mut().expect("opened above");
        if let Some(route) = at.route {
            open.node.route = Some(route.to_owned());
        }
        let span = &open.span;
        if !span.is_none() {
            if let Some(route) = at.route {
                span.record("route", route);
            }
            if let Some(stream) = at.stream {
                span.record("stream", tracing::field::display(stream));
            }
            if let Some(version) = at.version {
                span.record("version", version);
            }
        }
        // What `Instrument` does, with the span borrowed: no clone to make and drop.
        let mut step = std::pin::pin!(step);
        let result = std::future::poll_fn(|cx| {
            let _entered = span.enter();
            step.as_mut().poll(cx)
        })
        .await;
        self.close(
            result
                .as_ref()
                .map_or_else(TraceOutcome::outcome, |_| Outcome::Ok),
        );
        result
    }

    /// Runs `step`, which does not wait, as a node of its own.
    pub(crate) fn time_sync<T>(
        &mut self,
        operation: Operation,
        handler: Option<&str>,
        step: impl FnOnce() -> T,
    ) -> T {
        self.open(operation, handler);
        let result = {
            let _entered = self.span().enter();
            step()
        };
        self.close(Outcome::Ok);
        result
    }

    /// Marks the node closed last as failed (for a step whose failure is decided after
    /// it returns).
    pub(crate) fn fail_last(&mut self, outcome: Outcome) {
        if let Some(node) = self
            .open
            .last_mut()
            .and_then(|parent| parent.node.children.last_mut())
        {
            node.outcome = outcome;
        }
    }

    /// How many nodes are open: the level of the next one opened.
    pub(crate) fn depth(&self) -> usize {
        self.open.len()
    }

    /// The trace so far below the open node at `level` (0: the root), with the open
    /// nodes as they are at `now`: what [`write_current_at`](Self::write_current_at)
    /// writes.
    #[cfg(test)]
    fn current_at(&self, level: usize, now: Instant) -> Trace {
        let mut open = self.open[level..].iter().rev();
        let last = open.next().expect("the root is open");
        let mut node = TraceNode {
            duration: now - last.started,
            ..last.node.clone()
        };
        for parent in open {
            let mut parent = TraceNode {
                duration: now - parent.started,
                ..parent.node.clone()
            };
            parent.children.push(node);
            node = parent;
        }
        Trace { root: node }
    }

    /// How long the open node at `level` has been open.
    pub(crate) fn open_for(&self, level: usize) -> Duration {
        self.open[level].started.elapsed()
    }

    /// Writes [`current_at`](Self::current_at)`(level)` as JSON, without building it.
    pub(crate) fn write_current_at(&self, level: usize, text: &mut JsonText) {
        self.write_current(level, Instant::now(), text);
    }

    fn write_current(&self, level: usize, now: Instant, text: &mut JsonText) {
        let (node, below) = self.open[level..].split_first().expect("the root is open");
        write_node(text, &node.node, now - node.started, below, now);
    }

    /// Closes every open node; the root ends with `outcome`.
    pub(crate) fn finish(mut self, outcome: Outcome) -> Trace {
        while self.open.len() > 1 {
            self.close(Outcome::Failed("interrupted".to_owned()));
        }
        let Open {
            node: mut root,
            started,
            span,
        } = self.open.pop().expect("the root is open until finish");
        root.duration = started.elapsed();
        record_outcome(&span, &outcome);
        root.outcome = outcome;
        Trace { root }
    }
}

impl TraceOutcome for super::error::Error {
    fn outcome(&self) -> Outcome {
        match self.kind() {
            super::error::ErrorKind::Conflict { .. } => Outcome::Conflict,
            _ => Outcome::Failed(self.to_string()),
        }
    }
}

impl TraceOutcome for crate::store::StoreError {
    fn outcome(&self) -> Outcome {
        match self {
            crate::store::StoreError::Conflict(_) => Outcome::Conflict,
            other => Outcome::Failed(other.to_string()),
        }
    }
}

/// A handler's own error: the node shows its cause; the dispatch's error adds the rest.
impl TraceOutcome for crate::BoxError {
    fn outcome(&self) -> Outcome {
        Outcome::Failed(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace with every kind of field, open nodes at three levels, and text to escape.
    fn tracer() -> Tracer {
        let mut tracer = Tracer::new(Operation::Dispatch, "Open\"Account\"");
        tracer.route("open.account.1");
        tracer.time_sync(Operation::Authorize, Some("system"), || ());
        tracer.open(Operation::Load, Some("Account"));
        tracer.close(Outcome::Conflict);
        tracer.detail("loaded\n3 events".to_owned());
        tracer.open(Operation::Process, Some("Ledger::on_open"));
        tracer.open(Operation::Dispatch, Some("Credit"));
        tracer.route("credit.account.2");
        tracer.open(Operation::Hook, None);
        tracer.close(Outcome::Failed("refused: \u{1}\t\"no\" ✓".to_owned()));
        tracer.open(Operation::Append, None);
        tracer
    }

    #[test]
    fn the_trace_so_far_is_written_as_serde_writes_it() {
        let tracer = tracer();
        let now = Instant::now();
        for level in 0..tracer.depth() {
            let mut text = JsonText::with_capacity(0);
            tracer.write_current(level, now, &mut text);
            let expected = serde_json::to_string(&tracer.current_at(level, now)).unwrap();
            assert_eq!(text.into_string(), expected, "level {level}");
        }
    }

    #[test]
    fn a_finished_trace_is_written_as_serde_writes_it_and_reads_back() {
        let trace = tracer().finish(Outcome::Failed("interrupted".to_owned()));
        let mut text = JsonText::with_capacity(0);
        trace.write_json(&mut text);
        let text = text.into_string();
        assert_eq!(text, serde_json::to_string(&trace).unwrap());
        assert_eq!(serde_json::from_str::<Trace>(&text).unwrap(), trace);
    }
}
