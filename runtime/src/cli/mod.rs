//! The operators' command line (feature `cli`): see what a Herald store holds and steer
//! its consumers from a terminal.
//!
//! It comes in two layers with the same commands:
//!
//! - the standalone `herald` binary of this crate (`cargo install herald --features
//!   cli`), which opens any store by URL (`--url` or `DATABASE_URL`: `sqlite://app.db`,
//!   a file path, `postgres://…`) and needs none of the application's code. It shows
//!   stored JSON as stored: without the application's `#[upcast]` functions nothing is
//!   upcast, and it cannot run handlers;
//! - [`run`], called from the application's own binary with its [`HeraldBuilder`], which
//!   adds what needs the handlers: `rebuild` a projector aside and swap it in, `replay` a
//!   consumer from a position, `dead-letters retry`, `snapshot` a projector's tables to
//!   a file and `restore` them from one.
//!
//! Every command takes `--json`. A command that changes something (`archive`,
//! `discard`, `dead-letters skip`, `replay`, `restore`) first says what it will touch and asks;
//! `--yes` answers for you. The exit codes are [`Exit`]'s.
//!
//! ```no_run
//! // The application's `src/bin/ops.rs`: its handlers, its store, Herald's commands.
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     herald::cli::run(herald::Herald::builder().url("app.db")).await
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::base::time::rfc3339;
use crate::consumer::{
    ARCHIVE, Layout, Partition, RebuildProgress, SnapshotInfo, SnapshotProgress, archive_store,
    lag, passed_by_all,
};
use crate::engine::handler::reaction::Reaction;
use crate::facade::runtime::{Herald, HeraldBuilder};
use crate::outcome::trace::Trace;
use crate::route::Pattern;
use crate::store::{
    self, Archive, DeadLetter, EventStore, Position, ReadThrough, RecordedEvent, StoreError,
    StreamKey,
};

/// How a command ended, as the process's exit code.
///
/// | code | meaning |
/// |---:|---|
/// | 0 | done |
/// | 1 | failed: the store or a handler returned an error (printed) |
/// | 2 | usage: an unknown command, a bad argument, position, pattern or id |
/// | 3 | not found: no such command, stream, consumer or dead letter |
/// | 4 | refused: the confirmation prompt was not answered yes |
/// | 5 | needs the application: run it from the application's binary ([`run`]) |
/// | 6 | incompatible: the snapshot does not fit the projector ([`ErrorKind::SnapshotMismatch`](crate::ErrorKind::SnapshotMismatch)) |
///
/// ```
/// assert_eq!(herald::cli::Exit::NotFound.code(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// Done.
    Ok,
    /// The store or a handler returned an error.
    Failed,
    /// A bad command line.
    Usage,
    /// What was asked for does not exist.
    NotFound,
    /// The confirmation prompt was not answered yes.
    Refused,
    /// The command needs the application's handlers.
    NeedsApplication,
    /// The snapshot does not fit the projector it was to be restored into.
    Incompatible,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Refused => 4,
            Exit::NeedsApplication => 5,
            Exit::Incompatible => 6,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

const EXIT_CODES: &str = "\
Exit codes: 0 done, 1 failed, 2 usage, 3 not found, 4 refused at the prompt, \
5 needs the application's binary (herald::cli::run), 6 the snapshot does not fit the projector.

Stored JSON is shown as stored: the standalone binary has none of the application's \
code, so no upcasting happens and no handler runs.";

/// Herald's operators' commands.
#[derive(Parser, Debug)]
#[command(name = "herald", version, about = "See and steer a Herald store", after_help = EXIT_CODES)]
struct Cli {
    /// The store: `sqlite://app.db`, a SQLite file path, or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    url: Option<String>,
    /// Writes JSON (one document per line for `events tail`) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// The global order of events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// One stream.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// A committed command: its result and trace tree.
    #[command(subcommand)]
    Command(CommandCommand),
    /// The consumers of the global order.
    #[command(subcommand)]
    Consumers(ConsumersCommand),
    /// Events consumers parked.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
    /// Copies the events every consumer has passed into an archive store.
    Archive(ArchiveArgs),
    /// Archives, then deletes the archived events from this store (each stream's last
    /// event and parked events stay).
    Discard(ArchiveArgs),
    /// Rebuilds an eventual projector's tables aside and swaps them in (application's
    /// binary only).
    Rebuild {
        /// The projector.
        projector: String,
        /// Only events whose routes match these patterns.
        #[arg(long = "only")]
        only: Vec<String>,
    },
    /// Backs up an eventual projector's declared tables, checkpoints and dead letters into
    /// a file, at one position, while commands go on (application's binary only).
    Snapshot {
        /// The projector.
        projector: String,
        /// The file to write (replaced once the snapshot is whole).
        path: std::path::PathBuf,
    },
    /// Restores an eventual projector's tables, checkpoints and dead letters from a
    /// snapshot file, holding its leases; it then catches up from there (application's
    /// binary only).
    Restore {
        /// The projector.
        projector: String,
        /// The snapshot file.
        path: std::path::PathBuf,
        /// Answers yes to the confirmation prompt.
        #[arg(long)]
        yes: bool,
    },
    /// Moves a consumer's checkpoint so that it handles again every event after the
    /// position (application's binary only).
    Replay {
        /// The consumer.
        consumer: String,
        /// Where to start: a position as this tool prints them (`v1.0.0` is the start).
        #[arg(long)]
        from: String,
        /// Answers yes to the confirmation prompt.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// Prints events in the global order.
    Tail {
        /// Starts after this position (default: the start).
        #[arg(long)]
        after: Option<String>,
        /// Only events whose routes match one of these patterns (`user.*`, `order.:id.placed`).
        #[arg(long = "pattern", short = 'p')]
        patterns: Vec<String>,
        /// Stops after this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// Keeps waiting for new events.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Subcommand, Debug)]
enum StreamCommand {
    /// Prints a stream's events.
    Show {
        /// The stream type (the aggregate's name).
        stream_type: String,
        /// The stream id.
        id: String,
        /// The tenant.
        #[arg(long, default_value = crate::Actor::DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Subcommand, Debug)]
enum CommandCommand {
    /// Prints a command's stored result, its trace tree and its events.
    Show {
        /// The command id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum ConsumersCommand {
    /// Each consumer's position, lag, parked events, lease holder and last error.
    List,
}

#[derive(Subcommand, Debug)]
enum DeadLettersCommand {
    /// The parked events, of one consumer or all.
    List {
        /// Only this consumer's.
        consumer: Option<String>,
    },
    /// Gives up on a parked event: it leaves the dead letters without running.
    Skip {
        /// The consumer that parked it.
        consumer: String,
        /// The event's id.
        event_id: String,
        /// Answers yes to the confirmation prompt.
        #[arg(long)]
        yes: bool,
    },
    /// Runs the handler on a parked event again, then the events parked behind it
    /// (application's binary only).
    Retry {
        /// The consumer that parked it.
        consumer: String,
        /// The event's id.
        event_id: String,
    },
}

#[derive(Args, Debug)]
struct ArchiveArgs {
    /// The archive store: `sqlite://archive.db` or `postgres://…`.
    #[arg(long)]
    to: String,
    /// Only counts what would be touched.
    #[arg(long)]
    dry_run: bool,
    /// Answers yes to the confirmation prompt.
    #[arg(long)]
    yes: bool,
}

/// A command that did not succeed: what to print, and the exit code.
#[derive(Debug)]
struct Fail {
    exit: Exit,
    message: String,
}

impl Fail {
    fn new(exit: Exit, message: impl Into<String>) -> Self {
        Fail {
            exit,
            message: message.into(),
        }
    }
}

impl From<crate::Error> for Fail {
    fn from(error: crate::Error) -> Self {
        let exit = match error.code() {
            "no_such_consumer" => Exit::NotFound,
            "snapshot_mismatch" => Exit::Incompatible,
            _ => Exit::Failed,
        };
        Fail::new(exit, error.to_string())
    }
}

impl From<StoreError> for Fail {
    fn from(error: StoreError) -> Self {
        Fail::new(Exit::Failed, error.to_string())
    }
}

type Done = Result<(), Fail>;

/// The standalone `herald` binary's `main`: parses the process's arguments and runs the
/// command on the store they name, without the application's code.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     herald::cli::main()
/// }
/// ```
pub fn main() -> std::process::ExitCode {
    let Some(cli) = parse(std::env::args_os()) else {
        return Exit::Usage.into();
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return report(Fail::new(Exit::Failed, error.to_string())).into(),
    };
    let exit = runtime.block_on(async move {
        match standalone(cli).await {
            Ok(()) => Exit::Ok,
            Err(fail) => report(fail),
        }
    });
    exit.into()
}

/// Runs Herald's commands inside the application's own binary: the process's arguments
/// are parsed, the runtime is built from `builder` (with the store of `--url` or
/// `DATABASE_URL` when given, and no consumer workers of its own), and the command runs
/// with the application's handlers, so `rebuild`, `replay`, `dead-letters retry`,
/// `snapshot` and `restore` are there as well. Returns the [`Exit`] code to end the process with.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     let builder = herald::Herald::builder().modules(["my_app"]).url("app.db");
///     herald::cli::run(builder).await
/// }
/// ```
pub async fn run(builder: HeraldBuilder) -> std::process::ExitCode {
    let Some(cli) = parse(std::env::args_os()) else {
        return Exit::Usage.into();
    };
    let builder = match &cli.url {
        Some(url) => builder.url(url.clone()),
        None => builder,
    };
    let herald = match builder.run_consumers(false).build().await {
        Ok(herald) => herald,
        Err(error) => return report(error.into()).into(),
    };
    let exit = match application(&herald, cli).await {
        Ok(()) => Exit::Ok,
        Err(fail) => report(fail),
    };
    herald.shutdown().await;
    exit.into()
}

/// The arguments, or `None` once clap printed why not (help and version are printed
/// and end the process with 0).
fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<Cli> {
    match Cli::try_parse_from(args) {
        Ok(cli) => Some(cli),
        Err(error) => {
            let _ = error.print();
            if !error.use_stderr() {
                std::process::exit(0);
            }
            None
        }
    }
}

fn report(fail: Fail) -> Exit {
    eprintln!("error: {}", fail.message);
    fail.exit
}

/// The standalone binary: the store by URL, nothing else.
async fn standalone(cli: Cli) -> Done {
    let Some(url) = cli.url.clone() else {
        return Err(Fail::new(
            Exit::Usage,
            "no store: give `--url sqlite://app.db` (or `postgres://…`), or set DATABASE_URL",
        ));
    };
    let store: Arc<dyn EventStore> = store::connect(&url)
        .await
        .map_err(|e| Fail::new(Exit::Failed, format!("opening the store `{url}`: {e}")))?
        .into();
    let place = Place {
        store: &*store,
        shared: Some(store.clone()),
        herald: None,
        url,
        json: cli.json,
    };
    place.run(cli.command).await
}

/// Inside the application: its runtime's store and handlers.
async fn application(herald: &Herald, cli: Cli) -> Done {
    let place = Place {
        store: herald.store(),
        shared: None,
        herald: Some(herald),
        url: cli
            .url
            .clone()
            .unwrap_or_else(|| herald.store().kind().to_owned()),
        json: cli.json,
    };
    place.run(cli.command).await
}

/// Where a command runs: the store, and the application's runtime when there is one.
struct Place<'a> {
    store: &'a dyn EventStore,
    /// The standalone binary's store, to read through an archive.
    shared: Option<Arc<dyn EventStore>>,
    herald: Option<&'a Herald>,
    /// The store, as named in messages.
    url: String,
    json: bool,
}

impl Place<'_> {
    async fn run(&self, command: Top) -> Done {
        match command {
            Top::Events(EventsCommand::Tail {
                after,
                patterns,
                limit,
                follow,
            }) => self.tail(after, patterns, limit, follow).await,
            Top::Stream(StreamCommand::Show {
                stream_type,
                id,
                tenant,
            }) => self.stream(&tenant, &stream_type, &id).await,
            Top::Command(CommandCommand::Show { id }) => self.command(&id).await,
            Top::Consumers(ConsumersCommand::List) => self.consumers().await,
            Top::DeadLetters(DeadLettersCommand::List { consumer }) => {
                self.dead_letters(consumer).await
            }
            Top::DeadLetters(DeadLettersCommand::Skip {
                consumer,
                event_id,
                yes,
            }) => self.skip(&consumer, &event_id, yes).await,
            Top::DeadLetters(DeadLettersCommand::Retry { consumer, event_id }) => {
                self.retry(&consumer, &event_id).await
            }
            Top::Archive(args) => self.archive(args, false).await,
            Top::Discard(args) => self.archive(args, true).await,
            Top::Rebuild { projector, only } => self.rebuild(&projector, only).await,
            Top::Snapshot { projector, path } => self.snapshot(&projector, &path).await,
            Top::Restore {
                projector,
                path,
                yes,
            } => self.restore(&projector, &path, yes).await,
            Top::Replay {
                consumer,
                from,
                yes,
            } => self.replay(&consumer, &from, yes).await,
        }
    }

    fn herald(&self, command: &str) -> Result<&Herald, Fail> {
        self.herald.ok_or_else(|| {
            Fail::new(
                Exit::NeedsApplication,
                format!(
                    "`{command}` runs the application's handlers, which this binary does not have: \
                     run it from the application's own binary (`herald::cli::run`)"
                ),
            )
        })
    }

    async fn tail(
        &self,
        after: Option<String>,
        patterns: Vec<String>,
        limit: Option<u64>,
        follow: bool,
    ) -> Done {
        let mut at = match after {
            Some(text) => position(&text, "--after")?,
            None => Position::START,
        };
        let patterns = patterns
            .iter()
            .map(|p| {
                Pattern::parse(p).map_err(|e| Fail::new(Exit::Usage, format!("pattern `{p}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut commits = self.store.consumers().commits();
        let mut printed = 0;
        let mut out = std::io::stdout().lock();
        loop {
            let page = self.store.read_matching(at, 500, &patterns).await?;
            for event in &page.events {
                if limit.is_some_and(|limit| printed >= limit) {
                    return Ok(());
                }
                let line = match self.json {
                    true => event.to_wire_json().to_string(),
                    false => event_line(event),
                };
                if writeln!(out, "{line}").is_err() {
                    return Ok(()); // the reader went away (`| head`)
                }
                printed += 1;
            }
            let _ = out.flush();
            if limit.is_some_and(|limit| printed >= limit) {
                return Ok(());
            }
            if page.next == at {
                if !follow {
                    return Ok(());
                }
                // Woken by a commit (any process, on PostgreSQL), or a look now and then.
                let _ = tokio::time::timeout(Duration::from_millis(500), commits.changed()).await;
            }
            at = page.next;
        }
    }

    async fn stream(&self, tenant: &str, stream_type: &str, id: &str) -> Done {
        let key = StreamKey::new(tenant, stream_type, id)
            .map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
        let events = self.store.read_stream(&key, 0).await?;
        if events.is_empty() {
            return Err(Fail::new(
                Exit::NotFound,
                format!("stream `{key}` has no events"),
            ));
        }
        if self.json {
            let events: Vec<Value> = events.iter().map(RecordedEvent::to_wire_json).collect();
            let body = json!({ "stream": key.to_wire_json(), "events": events });
            println!("{body}");
        } else {
            println!("stream {key}: {} events", events.len());
            for event in &events {
                println!("{}", event_line(event));
            }
        }
        Ok(())
    }

    async fn command(&self, id: &str) -> Done {
        let id: Uuid = id
            .parse()
            .map_err(|_| Fail::new(Exit::Usage, format!("`{id}` is not a command id (a UUID)")))?;
        let Some(recorded) = self.store.read_command(id).await? else {
            return Err(Fail::new(
                Exit::NotFound,
                format!("no command {id} is recorded in this store"),
            ));
        };
        let result = &recorded.result;
        // Its own events: the last `events` versions of its stream.
        let stream: Option<StreamKey> = serde_json::from_value(result["stream"].clone()).ok();
        let version = result["version"].as_u64().unwrap_or(0);
        let count = result["events"].as_u64().unwrap_or(0);
        let events = match &stream {
            Some(stream) if count > 0 => {
                let mut events = self
                    .store
                    .read_stream(stream, version.saturating_sub(count))
                    .await?;
                events.truncate(count as usize);
                events
            }
            _ => Vec::new(),
        };
        if self.json {
            let events: Vec<Value> = events.iter().map(RecordedEvent::to_wire_json).collect();
            let body = json!({ "command_id": id, "result": result, "events": events });
            println!("{body}");
            return Ok(());
        }
        println!("command {id}");
        for (label, key) in [("route", "route"), ("correlation", "correlation_id")] {
            if let Some(value) = result[key].as_str() {
                println!("  {label}: {value}");
            }
        }
        if let Some(stream) = &stream {
            println!("  stream: {stream} at version {version}");
        }
        match serde_json::from_value::<Trace>(result["trace"].clone()) {
            Ok(trace) => {
                println!("trace:");
                for line in trace.to_string().lines() {
                    println!("  {line}");
                }
            }
            Err(_) => println!("trace (as stored): {}", result["trace"]),
        }
        println!("events ({}):", events.len());
        for event in &events {
            println!("  {}", event_line(event));
        }
        Ok(())
    }

    async fn consumers(&self) -> Done {
        let log = self.store.consumers();
        let checkpoints = log.checkpoints().await?;
        let leases: BTreeMap<String, Uuid> = match log.leases("").await {
            Ok(leases) => leases.into_iter().map(|l| (l.consumer, l.owner)).collect(),
            Err(_) => BTreeMap::new(),
        };
        // Each key with its position; the application's consumers that have none yet at
        // the start.
        let mut rows: BTreeMap<String, (Position, Option<SystemTime>, &'static str)> =
            BTreeMap::new();
        for checkpoint in &checkpoints {
            let kind = kind_of(&checkpoint.consumer);
            rows.insert(
                checkpoint.consumer.clone(),
                (checkpoint.position, Some(checkpoint.updated_at), kind),
            );
        }
        if let Some(herald) = self.herald {
            for handler in herald.registry().eventual_handlers() {
                let kind = match handler {
                    Reaction::Process(..) => "processor",
                    _ => "projector",
                };
                for (_, key) in Layout::of(handler).keys() {
                    rows.entry(key).or_insert((Position::START, None, kind)).2 = kind;
                }
            }
        }
        let mut letters: BTreeMap<String, Vec<DeadLetter>> = BTreeMap::new();
        let mut listed = Vec::new();
        let now = SystemTime::now();
        for (key, (position, updated, kind)) in rows {
            let (name, partition) = split_key(&key);
            if !letters.contains_key(name) {
                letters.insert(name.to_owned(), log.dead_letters(name).await?);
            }
            let parked: Vec<&DeadLetter> = letters[name]
                .iter()
                .filter(|l| partition.is_none_or(|p| Partition::of(&l.stream, p.count) == p))
                .collect();
            let last_error = parked
                .iter()
                .filter(|l| l.attempts > 0)
                .max_by_key(|l| l.last_failed_at)
                .map(|l| l.error.clone());
            let (behind, exact) = lag(log, position).await?;
            // How long the oldest event it has not passed has waited.
            let waiting = match behind {
                0 => Duration::ZERO,
                _ => match self.store.read_all(position, 1).await?.first() {
                    Some(next) => now.duration_since(next.recorded_at).unwrap_or_default(),
                    None => Duration::ZERO,
                },
            };
            listed.push(ConsumerRow {
                key: key.clone(),
                kind,
                position,
                updated,
                lag: behind,
                lag_exact: exact,
                lag_time: waiting,
                parked: parked.len(),
                lease: leases.get(&key).copied(),
                last_error,
            });
        }
        if self.json {
            let rows: Vec<Value> = listed.iter().map(ConsumerRow::json).collect();
            println!("{}", Value::Array(rows));
            return Ok(());
        }
        if listed.is_empty() {
            println!("no consumers have a checkpoint in this store");
            return Ok(());
        }
        println!(
            "{:<28} {:<9} {:<12} {:>10} {:>9} {:>6}  {:<36}  last error",
            "consumer", "kind", "position", "lag", "lag time", "parked", "lease holder"
        );
        for row in &listed {
            let lag = match row.lag_exact {
                true => row.lag.to_string(),
                false => format!("~{}", row.lag),
            };
            println!(
                "{:<28} {:<9} {:<12} {:>10} {:>9} {:>6}  {:<36}  {}",
                row.key,
                row.kind,
                row.position.to_wire(),
                lag,
                seconds(row.lag_time),
                row.parked,
                row.lease.map_or("-".into(), |o| o.to_string()),
                row.last_error.as_deref().unwrap_or("-")
            );
        }
        if listed.iter().any(|r| !r.lag_exact) {
            println!(
                "~: more than {} events behind, estimated from positions",
                crate::consumer::EXACT_LAG
            );
        }
        Ok(())
    }

    async fn dead_letters(&self, consumer: Option<String>) -> Done {
        let log = self.store.consumers();
        let names: BTreeSet<String> = match consumer {
            Some(name) => [name].into(),
            None => {
                let mut names: BTreeSet<String> = log
                    .checkpoints()
                    .await?
                    .iter()
                    .map(|c| split_key(&c.consumer).0.to_owned())
                    .collect();
                if let Some(herald) = self.herald {
                    names.extend(
                        herald
                            .registry()
                            .eventual_handlers()
                            .iter()
                            .map(|h| h.name().to_owned()),
                    );
                }
                names
            }
        };
        let mut all = Vec::new();
        for name in &names {
            all.extend(log.dead_letters(name).await?);
        }
        if self.json {
            let letters: Vec<Value> = all.iter().map(letter_json).collect();
            println!("{}", Value::Array(letters));
            return Ok(());
        }
        if all.is_empty() {
            println!("no dead letters");
        }
        for letter in &all {
            let why = match letter.behind {
                Some(head) => format!("waits behind {head}"),
                None => format!("failed {} times: {}", letter.attempts, letter.error),
            };
            println!(
                "{} {} {} {} {}  {why}",
                letter.consumer,
                letter.event_id,
                letter.position.to_wire(),
                letter.stream,
                letter.route
            );
        }
        Ok(())
    }

    async fn skip(&self, consumer: &str, event_id: &str, yes: bool) -> Done {
        let event_id = event_id_of(event_id)?;
        let log = self.store.consumers();
        let letters = log.dead_letters(consumer).await?;
        let Some(letter) = letters.iter().find(|l| l.event_id == event_id) else {
            return Err(Fail::new(
                Exit::NotFound,
                format!("consumer `{consumer}` has not parked event {event_id}"),
            ));
        };
        let behind = letters
            .iter()
            .filter(|l| l.behind == Some(event_id))
            .count();
        self.confirm(
            &format!(
                "skip event {event_id} ({}, {}) parked by `{consumer}`: it leaves the dead letters \
                 and is never handled by it{}",
                letter.route,
                letter.stream,
                match behind {
                    0 => String::new(),
                    n => format!("; the {n} events parked behind it run"),
                }
            ),
            yes,
        )?;
        if let Some(herald) = self.herald {
            herald.consumers().skip(consumer, event_id).await?;
        } else {
            if behind > 0 {
                return Err(Fail::new(
                    Exit::NeedsApplication,
                    format!(
                        "{behind} events of its stream wait behind it and must run when it is skipped: \
                         skip it from the application's own binary (`herald::cli::run`)"
                    ),
                ));
            }
            // Holding the consumer (the partition of its stream) while the letter goes.
            let checkpoints = log.checkpoints().await?;
            let key =
                checkpoints
                    .iter()
                    .map(|c| c.consumer.as_str())
                    .find(|key| match split_key(key) {
                        (name, None) => name == consumer,
                        (name, Some(p)) => {
                            name == consumer && Partition::of(&letter.stream, p.count) == p
                        }
                    });
            let mut tx = self.store.begin().await?;
            if let Some(key) = key {
                tx.claim_consumer(key).await?;
            }
            let gone = tx.unpark(consumer, event_id).await?;
            tx.commit().await?;
            if !gone {
                return Err(Fail::new(
                    Exit::NotFound,
                    format!("event {event_id} left the dead letters of `{consumer}` meanwhile"),
                ));
            }
        }
        self.done(json!({ "skipped": event_id, "consumer": consumer }), || {
            format!("skipped event {event_id} of `{consumer}`")
        });
        Ok(())
    }

    async fn retry(&self, consumer: &str, event_id: &str) -> Done {
        let herald = self.herald("dead-letters retry")?;
        let event_id = event_id_of(event_id)?;
        herald.consumers().retry(consumer, event_id).await?;
        self.done(json!({ "retried": event_id, "consumer": consumer }), || {
            format!("retried event {event_id} of `{consumer}`: handled")
        });
        Ok(())
    }

    async fn archive(&self, args: ArchiveArgs, discard: bool) -> Done {
        let keys: Vec<String> = match self.herald {
            Some(herald) => herald
                .registry()
                .eventual_handlers()
                .iter()
                .flat_map(|h| Layout::of(*h).keys())
                .map(|(_, key)| key)
                .collect(),
            None => Vec::new(),
        };
        // The dry run: what one pass would take, read without writing anything.
        let log = self.store.consumers();
        let (horizon, held_back_by) = passed_by_all(self.store, &keys).await?;
        let archived_to = log
            .checkpoints()
            .await?
            .into_iter()
            .find(|c| c.consumer == ARCHIVE)
            .map_or(Position::START, |c| c.position);
        let count = match horizon > archived_to {
            true => log.count_after(archived_to).await? - log.count_after(horizon).await?,
            false => 0,
        };
        let to_discard = match discard {
            true => log.count_after(Position::START).await? - log.count_after(horizon).await?,
            false => 0,
        };
        let what = match discard {
            true => format!(
                "archive {count} events (after {} up to {}) from {} into {}, then delete from {} \
                 the archived events up to {} but each stream's last and the parked ones (at most {to_discard})",
                archived_to.to_wire(),
                horizon.to_wire(),
                self.url,
                args.to,
                self.url,
                horizon.to_wire()
            ),
            false => format!(
                "archive {count} events (after {} up to {}) from {} into {}",
                archived_to.to_wire(),
                horizon.to_wire(),
                self.url,
                args.to
            ),
        };
        let held = held_back_by.as_ref().map(|by| format!("held back by {by}"));
        if self.herald.is_none() {
            eprintln!(
                "note: only consumers with a checkpoint are counted; one of the application's that \
                 never ran is not (run this from the application's binary to count them)"
            );
        }
        if args.dry_run || (count == 0 && to_discard == 0) {
            self.done(
                json!({
                    "dry_run": true, "archive": count, "discard_at_most": to_discard,
                    "after": archived_to.to_wire(), "up_to": horizon.to_wire(),
                    "held_back_by": held_back_by,
                }),
                || {
                    let mut line = format!("would {what}");
                    if let Some(held) = &held {
                        line.push_str(&format!("; {held}"));
                    }
                    line
                },
            );
            return Ok(());
        }
        self.confirm(&what, args.yes)?;
        let archive = Archive::connect(&args.to)
            .await
            .map_err(|e| {
                Fail::new(
                    Exit::Failed,
                    format!("opening the archive `{}`: {e}", args.to),
                )
            })?
            .discard(discard);
        let done = match (self.herald, &self.shared) {
            (_, Some(shared)) => {
                let through = ReadThrough::new(shared.clone(), archive.clone());
                archive_store(&through, &**shared, &archive, &keys).await?
            }
            (Some(herald), None) => {
                // The application's store, read through the archive given here.
                let active = herald.active_store();
                let through = ReadThrough::new(active.clone(), archive.clone());
                archive_store(&through, &*active, &archive, &keys).await?
            }
            (None, None) => unreachable!("a place has a runtime or a store of its own"),
        };
        self.done(
            json!({
                "archived": done.archived, "discarded": done.discarded,
                "up_to": done.up_to.to_wire(), "held_back_by": done.held_back_by,
            }),
            || {
                format!(
                    "archived {} events, discarded {}, archive up to {}",
                    done.archived,
                    done.discarded,
                    done.up_to.to_wire()
                )
            },
        );
        Ok(())
    }

    async fn rebuild(&self, projector: &str, only: Vec<String>) -> Done {
        let herald = self.herald("rebuild")?;
        let bar = match self.json {
            true => indicatif::ProgressBar::hidden(),
            false => indicatif::ProgressBar::new(0),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} events, {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("rebuilding {projector}"));
        bar.set_message("starting");
        let mut rebuild = herald.consumers().rebuild(projector);
        if !only.is_empty() {
            rebuild = rebuild.only(only);
        }
        let progress = bar.clone();
        let rebuilt = rebuild
            .on_progress(move |p: &RebuildProgress| {
                progress.set_length(p.total.max(p.done));
                progress.set_position(p.done);
                let left = p
                    .eta()
                    .map_or("?".into(), |eta| format!("{:.0}s", eta.as_secs_f64()));
                progress.set_message(format!("{:.0}/s, {left} left", p.rate()));
            })
            .await;
        match rebuilt {
            Ok(rebuilt) => {
                bar.finish();
                self.done(
                    json!({
                        "rebuilt": projector, "events": rebuilt.events,
                        "handled": rebuilt.handled, "position": rebuilt.position.to_wire(),
                    }),
                    || {
                        format!(
                            "rebuilt {projector}: {} events read, {} handled, swapped in at {}",
                            rebuilt.events,
                            rebuilt.handled,
                            rebuilt.position.to_wire()
                        )
                    },
                );
                Ok(())
            }
            Err(error) => {
                // The bar stays where it stopped, and the error goes below it.
                bar.abandon();
                Err(Fail::new(
                    Exit::Failed,
                    format!("rebuilding {projector} failed; its tables are as they were: {error}"),
                ))
            }
        }
    }

    /// A progress bar of rows, hidden with `--json`.
    fn rows_bar(&self, prefix: String) -> indicatif::ProgressBar {
        let bar = match self.json {
            true => indicatif::ProgressBar::hidden(),
            false => indicatif::ProgressBar::new(0),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} rows, {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix);
        bar.set_message("starting");
        bar
    }

    async fn snapshot(&self, projector: &str, path: &std::path::Path) -> Done {
        let herald = self.herald("snapshot")?;
        let bar = self.rows_bar(format!("snapshot of {projector}"));
        let progress = bar.clone();
        let taken = herald
            .consumers()
            .snapshot(projector, path)
            .on_progress(move |p: &SnapshotProgress| show_rows(&progress, p))
            .await;
        let taken = match taken {
            Ok(taken) => taken,
            Err(error) => {
                bar.abandon();
                return Err(error.into());
            }
        };
        bar.finish_and_clear();
        let at = positions_text(&taken.checkpoints);
        self.done(snapshot_json("snapshot", path, &taken), || {
            format!(
                "snapshot of {projector} (version {}) in {}: {} rows, {} dead letters, {} bytes, at {at}",
                taken.projector_version,
                path.display(),
                taken.rows(),
                taken.dead_letters,
                taken.bytes
            )
        });
        Ok(())
    }

    async fn restore(&self, projector: &str, path: &std::path::Path, yes: bool) -> Done {
        let herald = self.herald("restore")?;
        // What it will touch, from the file's header and the store, before it asks.
        let info = SnapshotInfo::read(path)?;
        if herald.registry().eventual_named(projector).is_none() {
            return Err(Fail::new(
                Exit::NotFound,
                format!("no eventual projector is called `{projector}` in this application"),
            ));
        }
        let checkpoints = self.store.consumers().checkpoints().await?;
        let now: Vec<(String, Position)> = (info.checkpoints.iter())
            .map(|(key, _)| {
                let at = (checkpoints.iter()).find(|c| &c.consumer == key);
                (key.clone(), at.map_or(Position::START, |c| c.position))
            })
            .collect();
        let from = info
            .checkpoints
            .iter()
            .map(|(_, p)| *p)
            .min()
            .unwrap_or(Position::START);
        let again = self.store.consumers().count_after(from).await?;
        let tables: Vec<String> = (info.tables.iter())
            .map(|(table, rows)| format!("`{table}` ({rows} rows)"))
            .collect();
        self.confirm(
            &format!(
                "replace the tables of `{projector}` in {} with the snapshot's {} taken {}, its dead letters with the snapshot's {}, \
                 and move its checkpoint from {} to {}: it handles the {again} events after it again",
                self.url,
                tables.join(", "),
                info.taken_at,
                info.dead_letters,
                positions_text(&now),
                positions_text(&info.checkpoints),
            ),
            yes,
        )?;
        let bar = self.rows_bar(format!("restoring {projector}"));
        let progress = bar.clone();
        let restored = herald
            .consumers()
            .restore(projector, path)
            .on_progress(move |p: &SnapshotProgress| show_rows(&progress, p))
            .await;
        let restored = match restored {
            Ok(restored) => restored,
            Err(error) => {
                bar.abandon();
                let mut fail = Fail::from(error);
                fail.message = format!(
                    "restoring {projector} failed; its tables are as they were: {}",
                    fail.message
                );
                return Err(fail);
            }
        };
        bar.finish_and_clear();
        self.done(snapshot_json("restored", path, &restored), || {
            format!(
                "restored {projector} from {}: {} rows, {} dead letters, at {}; it catches up from there",
                path.display(),
                restored.rows(),
                restored.dead_letters,
                positions_text(&restored.checkpoints)
            )
        });
        Ok(())
    }

    async fn replay(&self, consumer: &str, from: &str, yes: bool) -> Done {
        let herald = self.herald("replay")?;
        let at = position(from, "--from")?;
        // Known before it asks.
        if herald.registry().eventual_named(consumer).is_none() {
            return Err(Fail::new(
                Exit::NotFound,
                format!(
                    "no eventual projector or processor is called `{consumer}` in this application"
                ),
            ));
        }
        let again = self.store.consumers().count_after(at).await?;
        self.confirm(
            &format!(
                "move the checkpoint of `{consumer}` to {}: it handles the {again} events after it again",
                at.to_wire()
            ),
            yes,
        )?;
        herald.consumers().reset(consumer, at).await?;
        self.done(json!({ "replay": consumer, "from": at.to_wire() }), || {
            format!("`{consumer}` replays from {}", at.to_wire())
        });
        Ok(())
    }

    /// Says what will be touched and asks; `yes` answers for the operator.
    fn confirm(&self, what: &str, yes: bool) -> Done {
        if yes {
            return Ok(());
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "This will {what}.\nGo on? [y/N] ");
        let _ = err.flush();
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer);
        match (read, answer.trim()) {
            (Ok(_), "y" | "Y" | "yes") => Ok(()),
            _ => Err(Fail::new(
                Exit::Refused,
                match std::io::stdin().is_terminal() {
                    true => "not confirmed: nothing was changed",
                    false => "not confirmed (no terminal: give --yes): nothing was changed",
                },
            )),
        }
    }

    /// Prints what a command did: `body` with `--json`, else the line.
    fn done(&self, body: Value, line: impl FnOnce() -> String) {
        match self.json {
            true => println!("{body}"),
            false => println!("{}", line()),
        }
    }
}

/// Moves a bar of rows to where `p` says.
fn show_rows(bar: &indicatif::ProgressBar, p: &SnapshotProgress) {
    bar.set_length(p.total.max(p.rows));
    bar.set_position(p.rows);
    let left = p
        .eta()
        .map_or("?".into(), |eta| format!("{:.0}s", eta.as_secs_f64()));
    bar.set_message(format!("{:.0}/s, {left} left", p.rate()));
}

/// `key v1.0.3, key#1/2 v1.0.5`.
fn positions_text(checkpoints: &[(String, Position)]) -> String {
    let each: Vec<String> = (checkpoints.iter())
        .map(|(key, at)| format!("{key} {}", at.to_wire()))
        .collect();
    each.join(", ")
}

/// A snapshot taken or restored, in JSON.
fn snapshot_json(done: &str, path: &std::path::Path, info: &SnapshotInfo) -> Value {
    let checkpoints: Vec<Value> = (info.checkpoints.iter())
        .map(|(key, at)| json!({ "consumer": key, "position": at.to_wire() }))
        .collect();
    let tables: Vec<Value> = (info.tables.iter())
        .map(|(table, rows)| json!({ "table": table, "rows": rows }))
        .collect();
    json!({
        done: info.projector,
        "path": path.display().to_string(),
        "projector_version": info.projector_version,
        "store": info.store,
        "taken_at": info.taken_at,
        "rows": info.rows(),
        "tables": tables,
        "checkpoints": checkpoints,
        "dead_letters": info.dead_letters,
        "bytes": info.bytes,
    })
}

/// A consumer as `consumers list` prints it.
struct ConsumerRow {
    key: String,
    kind: &'static str,
    position: Position,
    updated: Option<SystemTime>,
    lag: u64,
    lag_exact: bool,
    lag_time: Duration,
    parked: usize,
    lease: Option<Uuid>,
    last_error: Option<String>,
}

impl ConsumerRow {
    fn json(&self) -> Value {
        json!({
            "consumer": self.key,
            "kind": self.kind,
            "position": self.position.to_wire(),
            "updated_at": self.updated.map(rfc3339),
            "lag": self.lag,
            "lag_exact": self.lag_exact,
            "lag_seconds": self.lag_time.as_secs_f64(),
            "parked": self.parked,
            "lease_holder": self.lease,
            "last_error": self.last_error,
        })
    }
}

/// What a checkpoint's name says it is.
fn kind_of(key: &str) -> &'static str {
    if key.starts_with("remote:") {
        "remote"
    } else if key == ARCHIVE {
        "archive"
    } else {
        "consumer"
    }
}

/// A checkpoint's consumer and partition: `meters#1/4` is partition 1 of 4 of `meters`.
fn split_key(key: &str) -> (&str, Option<Partition>) {
    let Some((name, rest)) = key.split_once('#') else {
        return (key, None);
    };
    let parsed = rest
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
    match parsed {
        Some((index, count)) => (name, Some(Partition::new(index, count))),
        None => (key, None),
    }
}

fn position(text: &str, what: &str) -> Result<Position, Fail> {
    Position::from_wire(text).ok_or_else(|| {
        Fail::new(
            Exit::Usage,
            format!("{what}: `{text}` is not a position as herald prints them (`v1.0.42`)"),
        )
    })
}

fn event_id_of(text: &str) -> Result<Uuid, Fail> {
    text.parse()
        .map_err(|_| Fail::new(Exit::Usage, format!("`{text}` is not an event id (a UUID)")))
}

fn seconds(time: Duration) -> String {
    format!("{:.1}s", time.as_secs_f64())
}

fn event_line(event: &RecordedEvent) -> String {
    format!(
        "{} {} {} v{} {} {}@{} {}",
        event.position.to_wire(),
        rfc3339(event.recorded_at),
        event.stream,
        event.version,
        event.route.as_str(),
        event.name,
        event.schema_version,
        event.payload
    )
}

fn letter_json(letter: &DeadLetter) -> Value {
    json!({
        "consumer": letter.consumer,
        "event_id": letter.event_id,
        "position": letter.position.to_wire(),
        "stream": letter.stream.to_wire_json(),
        "route": letter.route,
        "error": letter.error,
        "attempts": letter.attempts,
        "behind": letter.behind,
        "first_failed_at": rfc3339(letter.first_failed_at),
        "last_failed_at": rfc3339(letter.last_failed_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_split_and_other_names_stay_whole() {
        assert_eq!(split_key("meters"), ("meters", None));
        let (name, partition) = split_key("meters#1/4");
        assert_eq!(
            (name, partition.map(|p| (p.index, p.count))),
            ("meters", Some((1, 4)))
        );
        assert_eq!(split_key("odd#name"), ("odd#name", None));
    }
}
