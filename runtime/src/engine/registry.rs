//! The registrations every `#[event]`, `#[command]` and `#[aggregate]` submits at link
//! time, and the checks that run before a runtime starts.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::base::json_value::BadJson;
use crate::base::schema::Schemas;
use crate::engine::handler::AnyCommand;
use crate::engine::handler::reaction::Reaction;
use crate::engine::handler::{
    ChannelRow, Consistency, DispatcherRow, HookRow, ProcessorRow, ProjectorRow, SagaStepRow, When,
};
use crate::engine::load::LoadJsonFn;
use crate::engine::record::AnyRecord;
use crate::engine::step::ExecuteFn;
use crate::model::upcast::UpcasterRow;
use crate::outcome::error::RegistryError;
use crate::route::{Pattern, Route, RouteError, RouteTable, can_match};
use crate::store::RecordedEvent;

/// An `#[event]` type. Not public API: generated code builds these.
#[doc(hidden)]
pub struct EventRow {
    pub name: &'static str,
    pub type_name: &'static str,
    pub module: &'static str,
    pub routes: &'static [&'static str],
    pub version: u32,
    /// [`Event::STREAM`](crate::Event::STREAM).
    pub stream: &'static str,
    pub decode: DecodeEventFn,
    pub schema: SchemaFn,
}

/// A `#[command]` type. Not public API: generated code builds these.
#[doc(hidden)]
pub struct CommandRow {
    pub name: &'static str,
    pub type_name: &'static str,
    pub module: &'static str,
    pub route: &'static str,
    pub roles: &'static [&'static str],
    pub id_field: &'static str,
    pub decode: DecodeFn,
    pub schema: SchemaFn,
}

/// Decodes a command of a row's type from JSON text. Not public API.
#[doc(hidden)]
pub type DecodeFn = fn(&[u8]) -> Result<Box<dyn AnyCommand>, BadJson>;

/// Decodes an event of a row's type from JSON text, to record it. Not public API.
#[doc(hidden)]
pub type DecodeEventFn = fn(&[u8]) -> Result<Box<dyn AnyRecord>, BadJson>;

/// The JSON Schema of a row's type. Not public API.
#[doc(hidden)]
pub type SchemaFn = fn(&mut Schemas) -> serde_json::Value;

/// An `#[aggregate]` struct. Not public API: generated code builds these.
#[doc(hidden)]
pub struct AggregateRow {
    pub name: &'static str,
    pub type_name: &'static str,
    pub module: &'static str,
    pub snapshot_every: u32,
    pub version: u32,
    pub applies: &'static [&'static str],
    pub load: LoadJsonFn,
}

/// A `#[handle]` method. Not public API: generated code builds these.
#[doc(hidden)]
pub struct HandlerRow {
    pub name: &'static str,
    pub aggregate: &'static str,
    pub command: &'static str,
    pub module: &'static str,
    pub command_type: fn() -> TypeId,
    pub produces: fn(&mut Vec<&'static str>),
    pub execute: ExecuteFn,
    /// For a command declared with `#[command(…, event = E)]`: `E`'s name (the "handler"
    /// appends the event made from the command; there is no aggregate).
    pub maps_to: Option<&'static str>,
}

impl fmt::Debug for EventRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRow")
            .field("name", &self.name)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for CommandRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandRow")
            .field("name", &self.name)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AggregateRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregateRow")
            .field("name", &self.name)
            .field("applies", &self.applies)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HandlerRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerRow")
            .field("name", &self.name)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

inventory::collect!(EventRow);
inventory::collect!(CommandRow);
inventory::collect!(AggregateRow);
inventory::collect!(HandlerRow);

/// The registrations a runtime is built from: every one linked into the binary, or those
/// of chosen modules, so that several applications (or many tests) in one binary do not
/// run each other's handlers.
///
/// ```
/// # use herald_doc_fixtures::*; // links the fixtures' registrations
/// use herald::Registry;
/// let registry = Registry::modules(["herald_doc_fixtures"]);
/// registry.check()?;
/// assert!(registry.command_names().any(|name| name == "OpenAccount"));
/// # Ok::<(), herald::error::RegistryError>(())
/// ```
pub struct Registry {
    events: Vec<&'static EventRow>,
    commands: Vec<&'static CommandRow>,
    aggregates: Vec<&'static AggregateRow>,
    handlers: Vec<&'static HandlerRow>,
    /// The handler of each command type; a command handled twice maps to `None`.
    by_command: HashMap<TypeId, Option<&'static HandlerRow>>,
    /// Built from chosen modules rather than everything.
    scoped: bool,
    /// The module prefixes it was built from (none: everything).
    prefixes: Vec<String>,
    upcasters: Vec<&'static UpcasterRow>,
    /// The upcaster of each event name and stored version.
    upcaster_of: HashMap<(&'static str, u32), &'static UpcasterRow>,
    /// The current schema version of each event name.
    event_versions: HashMap<&'static str, u32>,
    hooks: RouteTable<&'static HookRow>,
    projectors: RouteTable<&'static ProjectorRow>,
    processors: RouteTable<&'static ProcessorRow>,
    dispatchers: RouteTable<&'static DispatcherRow>,
    saga_steps: RouteTable<&'static SagaStepRow>,
    /// Handler patterns that do not parse (only rows written by hand: the macros check
    /// them when the crate compiles), with the handler's name.
    bad_patterns: Vec<(&'static str, RouteError)>,
    /// The channels, each with the patterns of its that parse, by name.
    channels: Vec<(&'static ChannelRow, Vec<Pattern>)>,
}

impl Registry {
    /// Every registration linked into the binary.
    pub fn all() -> Self {
        Self::filtered(|_| true, false)
    }

    /// The registrations made in the given modules or below them: `"bank"` takes
    /// `bank` and `bank::accounts`, not `banking`.
    pub fn modules<I: IntoIterator<Item = S>, S: AsRef<str>>(prefixes: I) -> Self {
        let prefixes: Vec<String> = prefixes
            .into_iter()
            .map(|p| p.as_ref().to_owned())
            .collect();
        let mut registry =
            Self::filtered(|module| prefixes.iter().any(|p| in_module(module, p)), true);
        registry.prefixes = prefixes;
        registry
    }

    fn filtered(keep: impl Fn(&str) -> bool, scoped: bool) -> Self {
        let events: Vec<&'static EventRow> = inventory::iter::<EventRow>
            .into_iter()
            .filter(|r| keep(r.module))
            .collect();
        let commands = inventory::iter::<CommandRow>
            .into_iter()
            .filter(|r| keep(r.module))
            .collect();
        let aggregates = inventory::iter::<AggregateRow>
            .into_iter()
            .filter(|r| keep(r.module))
            .collect();
        let handlers: Vec<&'static HandlerRow> = inventory::iter::<HandlerRow>
            .into_iter()
            .filter(|r| keep(r.module))
            .collect();
        let upcasters: Vec<&'static UpcasterRow> = inventory::iter::<UpcasterRow>
            .into_iter()
            .filter(|r| keep(r.module))
            .collect();
        let upcaster_of = upcasters
            .iter()
            .map(|&row| ((row.event, row.from), row))
            .collect();
        let event_versions = events
            .iter()
            .map(|row: &&'static EventRow| (row.name, row.version))
            .collect();
        let PatternTables {
            hooks,
            projectors,
            processors,
            dispatchers,
            saga_steps,
            bad_patterns,
        } = PatternTables::kept(&keep);
        let mut bad_patterns = bad_patterns;
        let mut channels: Vec<(&'static ChannelRow, Vec<Pattern>)> = inventory::iter::<ChannelRow>
            .into_iter()
            .filter(|r| keep(r.module))
            .map(|row| {
                let patterns = row
                    .patterns
                    .iter()
                    .filter_map(|text| {
                        Pattern::parse(text)
                            .map_err(|error| bad_patterns.push((row.name, error)))
                            .ok()
                    })
                    .collect();
                (row, patterns)
            })
            .collect();
        channels.sort_by_key(|(row, _)| row.name);
        Registry {
            events,
            commands,
            aggregates,
            by_command: by_command(&handlers),
            handlers,
            scoped,
            prefixes: Vec::new(),
            upcasters,
            upcaster_of,
            event_versions,
            hooks,
            projectors,
            processors,
            dispatchers,
            saga_steps,
            bad_patterns,
            channels,
        }
    }

    /// Every problem with these registrations, all at once, sorted: duplicate names, a
    /// command no aggregate handles (nor `#[command(…, event = …)]` maps to an event) or
    /// several do, an event a handler produces that its
    /// aggregate does not `#[apply]`.
    pub fn check(&self) -> Result<(), RegistryError> {
        let mut problems = Vec::new();
        self.check_duplicates(&mut problems);
        self.check_pattern_handlers(&mut problems);
        self.check_prefixes(&mut problems);
        self.check_command_handlers(&mut problems);
        self.check_handlers(&mut problems);
        self.check_upcasters(&mut problems);
        self.check_reserved_names(&mut problems);
        self.check_channels(&mut problems);
        if problems.is_empty() {
            return Ok(());
        }
        problems.sort_unstable();
        problems.dedup();
        Err(RegistryError::new(problems))
    }

    /// Channels registered twice under one name, without a pattern, carrying an event
    /// not registered here, or with a pattern that matches no registered event.
    fn check_channels(&self, problems: &mut Vec<String>) {
        duplicates(
            problems,
            "channel",
            self.channels.iter().map(|(r, _)| (r.name, r.module)),
        );
        for (row, patterns) in &self.channels {
            let name = row.name;
            if row.patterns.is_empty() {
                problems.push(format!(
                    "channel `{name}` carries no route pattern: give it one at least, `#[channel(\"user.*\")]`"
                ));
            }
            let events: Vec<&'static EventRow> = match row.event {
                Some(event) => match self.event_named(event) {
                    Some(row) => vec![row],
                    None => {
                        problems.push(format!(
                            "channel `{name}` carries event `{event}`, which is not registered in this runtime{}",
                            self.scope_hint()
                        ));
                        continue;
                    }
                },
                None => self.events.clone(),
            };
            for pattern in patterns {
                let templates = events.iter().flat_map(|e| e.routes.iter());
                if !templates
                    .into_iter()
                    .any(|t| can_match(pattern.as_str(), t))
                {
                    problems.push(format!(
                        "channel `{name}`: pattern `{pattern}` matches no event registered in this runtime{}",
                        self.scope_hint()
                    ));
                }
            }
        }
    }

    /// The channel called `name`, with its patterns.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HTTP door serves the channels")
    )]
    pub(crate) fn channel_named(&self, name: &str) -> Option<(&'static ChannelRow, &[Pattern])> {
        self.channels
            .iter()
            .find(|(row, _)| row.name == name)
            .map(|(row, patterns)| (*row, patterns.as_slice()))
    }

    /// The names of the registered channels, sorted.
    pub fn channel_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.channels.iter().map(|(r, _)| r.name)
    }

    /// Eventual handlers whose names would be taken for remote consumers' checkpoints.
    fn check_reserved_names(&self, problems: &mut Vec<String>) {
        for handler in self.eventual_handlers() {
            let name = handler.name();
            if crate::store::is_reserved(name) {
                problems.push(format!(
                    "handler `{name}`: names starting with `remote:` are reserved for remote consumers' checkpoints; give it another `name = \"…\"`"
                ));
            }
        }
    }

    /// Events, commands, aggregates or handlers registered twice under one name.
    fn check_duplicates(&self, problems: &mut Vec<String>) {
        duplicates(
            problems,
            "event",
            self.events.iter().map(|r| (r.name, r.type_name)),
        );
        duplicates(
            problems,
            "command",
            self.commands.iter().map(|r| (r.name, r.type_name)),
        );
        duplicates(
            problems,
            "aggregate",
            self.aggregates.iter().map(|r| (r.name, r.type_name)),
        );
        duplicates(
            problems,
            "handler",
            self.handlers
                .iter()
                .map(|r| (r.name, r.module))
                .chain(self.hooks.iter().map(|(_, r)| (r.name, r.module)))
                .chain(self.projectors.iter().map(|(_, r)| (r.name, r.module)))
                .chain(self.processors.iter().map(|(_, r)| (r.name, r.module)))
                .chain(self.dispatchers.iter().map(|(_, r)| (r.name, r.module)))
                .chain(self.saga_steps.iter().map(|(_, r)| (r.name, r.module))),
        );
    }

    /// A command no aggregate handles, or several do.
    fn check_command_handlers(&self, problems: &mut Vec<String>) {
        let mut handlers_of: BTreeMap<&str, Vec<&HandlerRow>> = BTreeMap::new();
        for handler in &self.handlers {
            handlers_of
                .entry(handler.command)
                .or_default()
                .push(handler);
        }
        for command in &self.commands {
            match handlers_of.get(command.name).map_or(0, Vec::len) {
                0 => problems.push(format!(
                    "command `{}` ({}) is not handled: add a `#[handle]` method taking it to an `#[aggregate] impl` block, or record it as an event with `#[command(…, event = SomeEvent)]`{}",
                    command.name,
                    command.type_name,
                    self.scope_hint()
                )),
                1 => {}
                _ if handlers_of[command.name].iter().any(|h| h.maps_to.is_some())
                    && handlers_of[command.name].iter().any(|h| h.maps_to.is_none()) =>
                {
                    let mut names: Vec<&str> = handlers_of[command.name]
                        .iter()
                        .filter(|h| h.maps_to.is_none())
                        .map(|h| h.name)
                        .collect();
                    names.sort_unstable();
                    let event = handlers_of[command.name]
                        .iter()
                        .find_map(|h| h.maps_to)
                        .unwrap_or_default();
                    problems.push(format!(
                        "command `{}` is recorded as event `{event}` (`#[command(…, event = …)]`) and also handled by {}: a command has one handler; remove `event = …` or the `#[handle]` method",
                        command.name,
                        names.join(", ")
                    ));
                }
                _ => {
                    let mut names: Vec<&str> = handlers_of[command.name].iter().map(|h| h.name).collect();
                    names.sort_unstable();
                    problems.push(format!(
                        "command `{}` is handled by several aggregates ({}): a command has one handler",
                        command.name,
                        names.join(", ")
                    ));
                }
            }
        }
    }

    /// A `#[handle]` method whose command or aggregate is not registered here, or which
    /// produces an event its aggregate does not `#[apply]`.
    fn check_handlers(&self, problems: &mut Vec<String>) {
        for handler in &self.handlers {
            if !self.commands.iter().any(|c| c.name == handler.command) {
                problems.push(format!(
                    "`{}` handles command `{}`, which is not registered in this runtime{}",
                    handler.name,
                    handler.command,
                    self.scope_hint()
                ));
            }
            if let Some(event) = handler.maps_to {
                if !self.events.iter().any(|e| e.name == event) {
                    problems.push(format!(
                        "command `{}` is recorded as event `{event}`, which is not registered in this runtime{}",
                        handler.command,
                        self.scope_hint()
                    ));
                }
                continue; // no aggregate
            }
            let Some(aggregate) = self.aggregates.iter().find(|a| a.name == handler.aggregate)
            else {
                problems.push(format!(
                    "`{}` belongs to aggregate `{}`, which is not registered in this runtime{}",
                    handler.name,
                    handler.aggregate,
                    self.scope_hint()
                ));
                continue;
            };
            let mut produced = Vec::new();
            (handler.produces)(&mut produced);
            produced.sort_unstable();
            produced.dedup();
            for event in produced
                .into_iter()
                .filter(|e| !aggregate.applies.contains(e))
            {
                problems.push(format!(
                    "aggregate `{}` has no `#[apply]` method for event `{event}`, which `{}` produces: add one (an empty body is fine for an event that changes no state)",
                    aggregate.name, handler.name
                ));
            }
        }
    }

    /// Hooks, projectors and processors: a pattern that does not parse, a command or
    /// event that is not registered here, an untyped pattern that matches no registered
    /// event.
    fn check_pattern_handlers(&self, problems: &mut Vec<String>) {
        for (name, error) in &self.bad_patterns {
            problems.push(format!("`{name}`: {error}"));
        }
        self.check_taken_commands(problems);
        self.check_taken_events(problems);
        self.check_returned_messages(problems);
    }

    /// Saga steps and hooks that take a command not registered here.
    fn check_taken_commands(&self, problems: &mut Vec<String>) {
        for (_, step) in self.saga_steps.iter() {
            if !self.commands.iter().any(|c| c.name == step.command) {
                problems.push(format!(
                    "saga step `{}` takes command `{}`, which is not registered in this runtime{}",
                    step.name,
                    step.command,
                    self.scope_hint()
                ));
            }
        }
        for (_, hook) in self.hooks.iter() {
            if !self.commands.iter().any(|c| c.name == hook.command) {
                problems.push(format!(
                    "hook `{}` takes command `{}`, which is not registered in this runtime{}",
                    hook.name,
                    hook.command,
                    self.scope_hint()
                ));
            }
        }
    }

    /// Projectors, processors and dispatchers that take an event not registered here, or
    /// whose untyped pattern matches no registered event.
    fn check_taken_events(&self, problems: &mut Vec<String>) {
        let event_handlers = self
            .projectors
            .iter()
            .map(|(pattern, p)| ("projector", p.name, pattern, p.event))
            .chain(
                self.processors
                    .iter()
                    .map(|(pattern, p)| ("processor", p.name, pattern, p.event)),
            )
            .chain(
                self.dispatchers
                    .iter()
                    .map(|(pattern, d)| ("dispatcher", d.name, pattern, d.event)),
            );
        for (kind, name, pattern, event) in event_handlers {
            match event {
                Some(event) if !self.events.iter().any(|e| e.name == event) => {
                    problems.push(format!(
                        "{kind} `{name}` takes event `{event}`, which is not registered in this runtime{}",
                        self.scope_hint()
                    ));
                }
                Some(_) => {}
                None => {
                    let templates = self.events.iter().flat_map(|e| e.routes.iter());
                    if !templates
                        .into_iter()
                        .any(|t| can_match(pattern.as_str(), t))
                    {
                        problems.push(format!(
                            "{kind} `{name}`: pattern `{pattern}` matches no event registered in this runtime{}",
                            self.scope_hint()
                        ));
                    }
                }
            }
        }
    }

    /// Dispatchers that return an event, and processors that return a command, not
    /// registered here.
    fn check_returned_messages(&self, problems: &mut Vec<String>) {
        for (_, dispatcher) in self.dispatchers.iter() {
            let mut events = Vec::new();
            (dispatcher.events)(&mut events);
            for event in events {
                if !self.events.iter().any(|e| e.name == event) {
                    problems.push(format!(
                        "dispatcher `{}` returns event `{event}`, which is not registered in this runtime{}",
                        dispatcher.name,
                        self.scope_hint()
                    ));
                }
            }
        }
        for (_, processor) in self.processors.iter() {
            let mut commands = Vec::new();
            (processor.commands)(&mut commands);
            for command in commands {
                if !self.commands.iter().any(|c| c.name == command) {
                    problems.push(format!(
                        "processor `{}` returns command `{command}`, which is not registered in this runtime{}",
                        processor.name,
                        self.scope_hint()
                    ));
                }
            }
        }
    }

    /// The hooks to run `when` for a command of type `command` on `route`, in order
    /// (ascending priority, ties by name), each with its pattern.
    pub(crate) fn hooks_of(
        &self,
        when: When,
        command: TypeId,
        route: &Route,
    ) -> Vec<(&'static HookRow, &Pattern)> {
        let mut hooks: Vec<(&'static HookRow, &Pattern)> = self
            .hooks
            .matching_entries(route.as_str())
            .filter(|(_, h)| h.when == when && (h.command_type)() == command)
            .map(|(pattern, &h)| (h, pattern))
            .collect();
        hooks.sort_by_key(|(h, _)| (h.priority, h.name));
        hooks
    }

    /// The saga steps of a command type on `route`, in order (ascending priority, ties by
    /// name), each with its pattern.
    /// Whether command `command` on `route` has a saga step: [`saga_steps_of`](Self::saga_steps_of)
    /// without collecting them, for the hot path's question.
    pub(crate) fn has_saga_steps(&self, command: TypeId, route: &Route) -> bool {
        self.saga_steps
            .matching_entries(route.as_str())
            .any(|(_, s)| (s.command_type)() == command)
    }

    pub(crate) fn saga_steps_of(
        &self,
        command: TypeId,
        route: &Route,
    ) -> Vec<(&'static SagaStepRow, &Pattern)> {
        let mut steps: Vec<(&'static SagaStepRow, &Pattern)> = self
            .saga_steps
            .matching_entries(route.as_str())
            .filter(|(_, s)| (s.command_type)() == command)
            .map(|(pattern, &s)| (s, pattern))
            .collect();
        steps.sort_by_key(|(s, _)| (s.priority, s.name));
        steps
    }

    /// The hook called `name`, with its pattern.
    pub(crate) fn hook_named(&self, name: &str) -> Option<(&'static HookRow, &Pattern)> {
        self.hooks
            .iter()
            .find(|(_, h)| h.name == name)
            .map(|(p, &h)| (h, p))
    }

    /// The projector called `name`, with its pattern.
    pub(crate) fn projector_named(&self, name: &str) -> Option<(&'static ProjectorRow, &Pattern)> {
        self.projectors
            .iter()
            .find(|(_, h)| h.name == name)
            .map(|(p, &h)| (h, p))
    }

    /// The processor called `name`, with its pattern.
    pub(crate) fn processor_named(&self, name: &str) -> Option<(&'static ProcessorRow, &Pattern)> {
        self.processors
            .iter()
            .find(|(_, h)| h.name == name)
            .map(|(p, &h)| (h, p))
    }

    /// The saga step called `name`.
    pub(crate) fn saga_step_named(&self, name: &str) -> Option<&'static SagaStepRow> {
        self.saga_steps
            .iter()
            .map(|(_, &s)| s)
            .find(|s| s.name == name)
    }

    /// The strong projectors and processors of `event`, together, in order (ascending
    /// priority, ties by name), each with its pattern.
    pub(crate) fn strong_reactions_of(&self, event: &RecordedEvent) -> Vec<Reaction<'_>> {
        let takes = |consistency: Consistency, takes: Option<&str>| {
            consistency == Consistency::Strong && takes.is_none_or(|e| e == event.name)
        };
        let route = event.route.as_str();
        let mut found: Vec<Reaction<'_>> = self
            .projectors
            .matching_entries(route)
            .filter(|(_, p)| takes(p.consistency, p.event))
            .map(|(pattern, &p)| Reaction::Project(p, pattern))
            .chain(
                self.processors
                    .matching_entries(route)
                    .filter(|(_, p)| takes(p.consistency, p.event))
                    .map(|(pattern, &p)| Reaction::Process(p, pattern)),
            )
            .chain(
                self.dispatchers
                    .matching_entries(route)
                    .filter(|(_, d)| takes(Consistency::Strong, d.event))
                    .map(|(pattern, &d)| Reaction::Dispatch(d, pattern)),
            )
            .collect();
        found.sort_by_key(Reaction::order);
        found
    }

    /// The eventual projector or processor called `name`.
    pub(crate) fn eventual_named(&self, name: &str) -> Option<Reaction<'_>> {
        let eventual = |consistency: Consistency| consistency == Consistency::Eventual;
        match (self.projector_named(name), self.processor_named(name)) {
            (Some((p, pattern)), _) if eventual(p.consistency) => {
                Some(Reaction::Project(p, pattern))
            }
            (_, Some((p, pattern))) if eventual(p.consistency) => {
                Some(Reaction::Process(p, pattern))
            }
            _ => None,
        }
    }

    /// The eventual projectors and processors: the consumers of the global order, by name.
    pub(crate) fn eventual_handlers(&self) -> Vec<Reaction<'_>> {
        let eventual = |consistency: Consistency| consistency == Consistency::Eventual;
        let mut found: Vec<Reaction<'_>> = self
            .projectors
            .iter()
            .filter(|(_, p)| eventual(p.consistency))
            .map(|(pattern, &p)| Reaction::Project(p, pattern))
            .chain(
                self.processors
                    .iter()
                    .filter(|(_, p)| eventual(p.consistency))
                    .map(|(pattern, &p)| Reaction::Process(p, pattern)),
            )
            .collect();
        found.sort_by_key(|r| r.order().1);
        found
    }

    /// Duplicate upcasters, upcasters of unknown events, and gaps in a chain.
    fn check_upcasters(&self, problems: &mut Vec<String>) {
        let mut by_step: BTreeMap<(&str, u32), Vec<&str>> = BTreeMap::new();
        for row in &self.upcasters {
            by_step
                .entry((row.event, row.from))
                .or_default()
                .push(row.name);
        }
        for ((event, from), mut names) in by_step.into_iter().filter(|(_, names)| names.len() > 1) {
            names.sort_unstable();
            problems.push(format!(
                "event `{event}` has several upcasters from version {from} ({}): keep one",
                names.join(", ")
            ));
        }
        let mut lowest: BTreeMap<&str, u32> = BTreeMap::new();
        for row in &self.upcasters {
            match self.event_versions.get(row.event) {
                None => problems.push(format!(
                    "upcaster `{}` is for event `{}`, which is not registered in this runtime{}",
                    row.name,
                    row.event,
                    self.scope_hint()
                )),
                Some(_) => {
                    let low = lowest.entry(row.event).or_insert(row.from);
                    *low = (*low).min(row.from);
                }
            }
        }
        for (event, low) in lowest {
            let current = self.event_versions[event];
            for from in low..current {
                if !self.upcaster_of.contains_key(&(event, from)) {
                    problems.push(format!(
                        "event `{event}` has upcasters from version {low} but none from version {from} to {}: add `#[upcast({event}, from = {from})]`",
                        from + 1
                    ));
                }
            }
        }
    }

    /// A module prefix that matches no registration is a typo, not an empty application.
    fn check_prefixes(&self, problems: &mut Vec<String>) {
        if self.prefixes.is_empty() {
            return; // a runtime of everything: no prefix to check, no table to walk
        }
        let modules = registered_modules();
        for prefix in &self.prefixes {
            if modules.iter().any(|m| in_module(m, prefix)) {
                continue;
            }
            let mut nearest: Vec<&str> = modules.iter().map(String::as_str).collect();
            nearest.sort_by_key(|m| (distance(m, prefix), *m));
            nearest.truncate(3);
            let nearest: Vec<String> = nearest.iter().map(|m| format!("`{m}`")).collect();
            problems.push(format!(
                "module `{prefix}` (in `.modules([...])`) holds no registration{}",
                match nearest.is_empty() {
                    true => String::new(),
                    false => format!("; the nearest that do: {}", nearest.join(", ")),
                }
            ));
        }
    }

    /// The `#[handle]` method for command type `C` that a runtime built from chosen modules
    /// leaves out, if one is linked in.
    pub(crate) fn left_out_handler_of(&self, command: TypeId) -> Option<&'static HandlerRow> {
        if !self.scoped {
            return None;
        }
        inventory::iter::<HandlerRow>
            .into_iter()
            .find(|row| (row.command_type)() == command)
    }

    fn scope_hint(&self) -> &'static str {
        if self.scoped {
            " (is its module among the runtime's modules?)"
        } else {
            ""
        }
    }

    /// The `#[handle]` method for command type `C`.
    pub(crate) fn handler_of(&self, command: TypeId) -> Option<&'static HandlerRow> {
        self.by_command.get(&command).copied().flatten()
    }

    /// The names of the registered events.
    pub fn event_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.events.iter().map(|r| r.name)
    }

    /// The names of the registered commands.
    pub fn command_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.commands.iter().map(|r| r.name)
    }

    /// The registration of the event named `name`.
    pub(crate) fn event_named(&self, name: &str) -> Option<&'static EventRow> {
        self.events.iter().copied().find(|r| r.name == name)
    }

    /// The registration of the command named `name`.
    pub(crate) fn command_named(&self, name: &str) -> Option<&'static CommandRow> {
        self.commands.iter().copied().find(|r| r.name == name)
    }

    /// The registration of the aggregate named `name`.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HTTP door loads aggregates by name")
    )]
    pub(crate) fn aggregate_named(&self, name: &str) -> Option<&'static AggregateRow> {
        self.aggregates.iter().copied().find(|r| r.name == name)
    }

    /// The registered commands, in name order.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HTTP door's OpenAPI document lists them")
    )]
    pub(crate) fn commands(&self) -> Vec<&'static CommandRow> {
        let mut rows = self.commands.clone();
        rows.sort_by_key(|r| r.name);
        rows
    }

    /// The registered events, in name order.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "the HTTP door's OpenAPI document lists them")
    )]
    pub(crate) fn events(&self) -> Vec<&'static EventRow> {
        let mut rows = self.events.clone();
        rows.sort_by_key(|r| r.name);
        rows
    }

    /// The names of the registered aggregates.
    pub fn aggregate_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.aggregates.iter().map(|r| r.name)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field(
                "events",
                &self.events.iter().map(|r| r.name).collect::<Vec<_>>(),
            )
            .field(
                "commands",
                &self.commands.iter().map(|r| r.name).collect::<Vec<_>>(),
            )
            .field(
                "aggregates",
                &self.aggregates.iter().map(|r| r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The handler of each command type; a command handled twice maps to `None`.
fn by_command(handlers: &[&'static HandlerRow]) -> HashMap<TypeId, Option<&'static HandlerRow>> {
    let mut by_command = HashMap::new();
    for &handler in handlers {
        by_command
            .entry((handler.command_type)())
            .and_modify(|found| *found = None) // handled twice: ambiguous, reported by `check`
            .or_insert(Some(handler));
    }
    by_command
}

/// The handlers that take a route pattern, indexed by it, with the patterns that do not
/// parse.
struct PatternTables {
    hooks: RouteTable<&'static HookRow>,
    projectors: RouteTable<&'static ProjectorRow>,
    processors: RouteTable<&'static ProcessorRow>,
    dispatchers: RouteTable<&'static DispatcherRow>,
    saga_steps: RouteTable<&'static SagaStepRow>,
    bad_patterns: Vec<(&'static str, RouteError)>,
}

impl PatternTables {
    /// Those of the modules `keep` keeps.
    fn kept(keep: &impl Fn(&str) -> bool) -> Self {
        let mut bad_patterns = Vec::new();
        // Each table of one kind of row, from the rows `keep` keeps.
        macro_rules! kept {
            ($row:ty) => {
                indexed(
                    inventory::iter::<$row>
                        .into_iter()
                        .filter(|r| keep(r.module))
                        .map(|r| (r.name, r.pattern, r)),
                    &mut bad_patterns,
                )
            };
        }
        let hooks = kept!(HookRow);
        let projectors = kept!(ProjectorRow);
        let processors = kept!(ProcessorRow);
        let saga_steps = kept!(SagaStepRow);
        let dispatchers = kept!(DispatcherRow);
        PatternTables {
            hooks,
            projectors,
            processors,
            dispatchers,
            saga_steps,
            bad_patterns,
        }
    }
}

/// Handler rows indexed by their pattern; a pattern that does not parse is set aside.
fn indexed<T>(
    rows: impl Iterator<Item = (&'static str, &'static str, T)>,
    bad: &mut Vec<(&'static str, RouteError)>,
) -> RouteTable<T> {
    let mut table = RouteTable::new();
    for (name, pattern, row) in rows {
        match Pattern::parse(pattern) {
            Ok(pattern) => table.insert(pattern, row),
            Err(error) => bad.push((name, error)),
        }
    }
    table
}

/// Every module that registered something, sorted, once each.
fn registered_modules() -> Vec<String> {
    let modules = inventory::iter::<EventRow>
        .into_iter()
        .map(|r| r.module)
        .chain(inventory::iter::<CommandRow>.into_iter().map(|r| r.module))
        .chain(
            inventory::iter::<AggregateRow>
                .into_iter()
                .map(|r| r.module),
        )
        .chain(inventory::iter::<HandlerRow>.into_iter().map(|r| r.module))
        .chain(inventory::iter::<HookRow>.into_iter().map(|r| r.module))
        .chain(
            inventory::iter::<ProjectorRow>
                .into_iter()
                .map(|r| r.module),
        )
        .chain(
            inventory::iter::<ProcessorRow>
                .into_iter()
                .map(|r| r.module),
        )
        .chain(
            inventory::iter::<DispatcherRow>
                .into_iter()
                .map(|r| r.module),
        )
        .chain(inventory::iter::<SagaStepRow>.into_iter().map(|r| r.module))
        .chain(inventory::iter::<ChannelRow>.into_iter().map(|r| r.module))
        .chain(inventory::iter::<UpcasterRow>.into_iter().map(|r| r.module));
    let set: std::collections::BTreeSet<&str> = modules.collect();
    set.into_iter().map(str::to_owned).collect()
}

/// The edit distance between two names (Levenshtein, by characters).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substituted = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

fn in_module(module: &str, prefix: &str) -> bool {
    module
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Reports each name registered more than once, with the places it comes from.
fn duplicates<'a>(
    problems: &mut Vec<String>,
    what: &str,
    rows: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, origin) in rows {
        by_name.entry(name).or_default().push(origin);
    }
    for (name, mut origins) in by_name.into_iter().filter(|(_, origins)| origins.len() > 1) {
        origins.sort_unstable();
        problems.push(format!(
            "{what} name `{name}` is used {} times ({}): give each a unique `name = \"…\"`",
            origins.len(),
            origins.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::in_module;

    #[test]
    fn names_are_as_near_as_their_edits() {
        use super::distance;
        assert_eq!(distance("bank", "bank"), 0);
        assert_eq!(distance("bnak", "bank"), 2);
        assert_eq!(distance("my_app::billing", "my_app::biling"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn modules_match_by_whole_path_segments() {
        assert!(in_module("bank", "bank"));
        assert!(in_module("bank::accounts", "bank"));
        assert!(!in_module("banking", "bank"));
        assert!(!in_module("app::bank", "bank"));
    }
}
