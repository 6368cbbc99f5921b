//! Rebuilding an eventual projector: its declared tables filled aside from the whole
//! global order, then swapped in at once with its checkpoint, so readers never see a
//! half-built projection; and resetting a consumer to replay from a position.

// Without a SQL store built in, a rebuild can only refuse.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(unused))]

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use super::handle::handle_as;
use super::{Consumers, Layout, consumer_store_error};
use crate::BoxFuture;
use crate::consumer::hub::Hub;
use crate::engine::handler::ProjectorRow;
use crate::engine::handler::reaction::Reaction;
use crate::outcome::error::{Error, ErrorKind};
use crate::route::Pattern;
use crate::store::{Position, RecordedEvent, StoreError};

mod tables;
pub(in crate::consumer) use tables::{Aside, check_swappable, copy_table, swap_table};

/// How a rebuild is going, reported after each batch (see [`Rebuild::on_progress`]).
///
/// ```
/// fn line(p: &herald::consumer::RebuildProgress) -> String {
///     let eta = p.eta().map_or("?".into(), |eta| format!("{:.0} s", eta.as_secs_f64()));
///     format!("{}/{} events, {:.0}/s, {eta} left", p.done, p.total, p.rate())
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RebuildProgress {
    /// Events read so far (handled, or not the projector's).
    pub done: u64,
    /// Events to read, as counted when the rebuild started (more may commit meanwhile).
    pub total: u64,
    /// Time since the rebuild started.
    pub elapsed: Duration,
}

impl RebuildProgress {
    /// Events read per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The time left at the rate so far, once there is one.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (self.done > 0 && rate > 0.0)
            .then(|| Duration::from_secs_f64(self.total.saturating_sub(self.done) as f64 / rate))
    }
}

/// What a rebuild did (see [`Consumers::rebuild`], whose example prints one).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebuilt {
    /// Events read.
    pub events: u64,
    /// Events the projector handled.
    pub handled: u64,
    /// Where the projector's checkpoint is now: the last event read.
    pub position: Position,
}

type OnProgress<'h> = Box<dyn FnMut(&RebuildProgress) + Send + 'h>;

/// A rebuild of an eventual projector, configured then awaited; see
/// [`Consumers::rebuild`] for an example.
#[must_use = "a rebuild does nothing until it is awaited"]
pub struct Rebuild<'h> {
    hub: &'h Hub,
    name: String,
    only: Vec<String>,
    progress: Option<OnProgress<'h>>,
}

impl<'h> Rebuild<'h> {
    /// Handles only the events whose routes match one of `patterns` (besides the
    /// projector's own pattern); the others are read past.
    pub fn only<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Called after each batch with the events done, the total, the rate and the time left.
    pub fn on_progress(mut self, report: impl FnMut(&RebuildProgress) + Send + 'h) -> Self {
        self.progress = Some(Box::new(report));
        self
    }
}

impl<'h> IntoFuture for Rebuild<'h> {
    type Output = Result<Rebuilt, Error>;
    type IntoFuture = BoxFuture<'h, Result<Rebuilt, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(rebuild(self))
    }
}

impl<'h> Consumers<'h> {
    /// Rebuilds eventual projector `name` from the whole global order into fresh copies of
    /// the tables it declares (`tables = [...]`, which it writes through
    /// [`Cx::table`](crate::Cx::table)), then swaps them in, in one transaction that also
    /// moves its checkpoint: readers see the old tables until then, the new ones after,
    /// never a half-built one. Its worker waits during the swap, then goes on from there.
    /// An event the projector fails on stops the rebuild with that error and leaves the
    /// tables as they were. Needs a SQL store.
    ///
    /// ```no_run
    /// # async fn run(herald: herald::Herald) -> Result<(), herald::Error> {
    /// let rebuilt = herald
    ///     .consumers()
    ///     .rebuild("profiles")
    ///     .on_progress(|p| eprintln!("{}/{} events, {:.0}/s", p.done, p.total, p.rate()))
    ///     .await?;
    /// println!("{} events handled", rebuilt.handled);
    /// # Ok(()) }
    /// ```
    pub fn rebuild(&self, name: &str) -> Rebuild<'h> {
        Rebuild {
            hub: self.hub,
            name: name.to_owned(),
            only: Vec::new(),
            progress: None,
        }
    }

    /// Moves consumer `name`'s checkpoint back (or on) to `position`
    /// ([`Position::START`] for the beginning), so that its worker runs it again on every
    /// later event, and drops its dead letters of those events. For handlers whose
    /// effects can be applied again (a processor's commands are never doubled); to redo a
    /// projection, [`rebuild`](Self::rebuild) it.
    ///
    /// Every partition of a handler split with `partitions = N` moves, and its
    /// checkpoints under another number of partitions (an earlier release's) are retired:
    /// they stand past every event, so that a worker of the old release reads nothing
    /// more. After changing N, stop the processes running the old layout (a reset is
    /// refused while one holds a lease), then reset to where the old checkpoints were
    /// (the workers' error says where).
    pub async fn reset(&self, name: &str, position: Position) -> Result<(), Error> {
        let layout = Layout::of(self.handler(name)?);
        let store = self.hub.store();
        let fail = consumer_store_error(name, "resetting");
        let seen = layout.look(self.hub).await?;
        layout.check_none_run_otherwise(&seen)?;
        let mut tx = store.begin().await.map_err(&fail)?;
        layout
            .move_to(&mut *tx, &seen, position)
            .await
            .map_err(&fail)?;
        let letters = tx.dead_letters(name).await.map_err(&fail)?;
        for letter in letters.iter().filter(|l| l.position > position) {
            tx.unpark(name, letter.event_id).await.map_err(&fail)?;
        }
        tx.commit().await.map_err(&fail)?;
        self.hub.workers().moved(name);
        Ok(())
    }
}

async fn rebuild(rebuild: Rebuild<'_>) -> Result<Rebuilt, Error> {
    let Rebuild {
        hub,
        name,
        only,
        mut progress,
    } = rebuild;
    let handler = hub.consumers().handler(&name)?;
    let projector = rebuildable(handler, &name)?;
    let only = patterns(&only)?;
    let takes = |event: &RecordedEvent| {
        handler.takes(event)
            && (only.is_empty() || only.iter().any(|p| p.matches(event.route.as_str())))
    };
    // Refused at once rather than after the work, when another release still runs it.
    let layout = Layout::of(handler);
    layout.check_none_run_otherwise(&layout.look(hub).await?)?;

    let rebuilding = Rebuilding {
        hub,
        handler,
        projector,
        name: &name,
    };
    make_copies(&rebuilding).await?;
    let report = fill_copies(&rebuilding, takes, &mut progress).await?;
    swap_in(&rebuilding, &layout, report.position).await?;
    Ok(report)
}

/// The projector `handler` is, when it can be rebuilt: an eventual projector that
/// declares its tables.
fn rebuildable(handler: Reaction<'_>, name: &str) -> Result<&'static ProjectorRow, Error> {
    let Reaction::Project(projector, _) = handler else {
        return Err(refused(name, "only an eventual projector can be rebuilt"));
    };
    if projector.tables.is_empty() {
        return Err(refused(
            name,
            "declare the tables it writes (`tables = [\"…\"]`) and write them through `cx.table(\"…\")`, so that a rebuild can fill them aside",
        ));
    }
    Ok(projector)
}

/// The patterns of [`Rebuild::only`], parsed.
fn patterns(only: &[String]) -> Result<Vec<Pattern>, Error> {
    only.iter()
        .map(|p| {
            Pattern::parse(p).map_err(|source| {
                Error::from(ErrorKind::Pattern {
                    pattern: p.clone(),
                    source,
                })
            })
        })
        .collect()
}

/// The copies of the projector's tables, empty, in one transaction; refused first if a
/// table cannot be swapped.
async fn make_copies(rebuilding: &Rebuilding<'_>) -> Result<(), Error> {
    let Rebuilding {
        hub,
        projector,
        name,
        ..
    } = *rebuilding;
    let mut tx = hub
        .store()
        .begin()
        .await
        .map_err(rebuilding.store_failure("beginning"))?;
    for table in projector.tables {
        check_swappable(&mut *tx, table, name, Aside::Rebuild).await?;
    }
    for table in projector.tables {
        copy_table(&mut *tx, table, name, Aside::Rebuild).await?;
    }
    tx.commit()
        .await
        .map_err(rebuilding.store_failure("creating the copies"))
}

/// A rebuild under way: the projector and the consumer it is.
struct Rebuilding<'a> {
    hub: &'a Hub,
    handler: Reaction<'a>,
    projector: &'static ProjectorRow,
    name: &'a str,
}

impl Rebuilding<'_> {
    /// The failure of a store operation of the rebuild, saying what it was doing.
    fn store_failure(&self, doing: &str) -> impl Fn(StoreError) -> Error + use<> {
        consumer_store_error(self.projector.name, doing)
    }
}

/// Fills the copies from the whole global order, a batch per transaction until none is
/// left, handling the events that `takes` and reporting progress after each batch.
async fn fill_copies(
    rebuilding: &Rebuilding<'_>,
    takes: impl Fn(&RecordedEvent) -> bool,
    progress: &mut Option<OnProgress<'_>>,
) -> Result<Rebuilt, Error> {
    let store = rebuilding.hub.store();
    let started = Instant::now();
    let total = store
        .consumers()
        .count_after(Position::START)
        .await
        .map_err(rebuilding.store_failure("counting events"))?;
    let mut report = Rebuilt {
        events: 0,
        handled: 0,
        position: Position::START,
    };
    loop {
        let events = store
            .read_all(report.position, 500)
            .await
            .map_err(rebuilding.store_failure("reading events"))?;
        if events.is_empty() {
            break;
        }
        fill_batch(rebuilding, &takes, &events, &mut report).await?;
        if let Some(progress) = progress {
            progress(&RebuildProgress {
                done: report.events,
                total: total.max(report.events),
                elapsed: started.elapsed(),
            });
        }
    }
    if let Some(progress) = progress.as_mut().filter(|_| total > report.events) {
        // Done short of the count: what is left is not readable yet (PostgreSQL reads
        // past no running transaction), and the worker takes it after the swap.
        progress(&RebuildProgress {
            done: report.events,
            total: report.events,
            elapsed: started.elapsed(),
        });
    }
    Ok(report)
}

/// One batch of `events` into the copies, in a transaction of its own; `report` counts
/// them and moves on to the last.
async fn fill_batch(
    rebuilding: &Rebuilding<'_>,
    takes: &impl Fn(&RecordedEvent) -> bool,
    events: &[RecordedEvent],
    report: &mut Rebuilt,
) -> Result<(), Error> {
    let hub = rebuilding.hub;
    let mut tx = hub
        .store()
        .begin()
        .await
        .map_err(rebuilding.store_failure("beginning"))?;
    for event in events {
        if takes(event) {
            // A projector dispatches nothing: there is no saga to settle.
            handle_as(hub.kernel(), &mut *tx, rebuilding.handler, event, true)
                .await
                .map_err(|error| abandon(rebuilding.name, error))?;
            report.handled += 1;
        }
        report.events += 1;
        report.position = event.position;
    }
    tx.commit()
        .await
        .map_err(rebuilding.store_failure("committing a batch"))
}

/// The swap: the consumer is claimed (its worker waits), the copies replace the tables
/// and the checkpoint moves to `position`, the last event they hold, together. What
/// committed since the last batch was read, the worker handles next, into the new tables.
async fn swap_in(
    rebuilding: &Rebuilding<'_>,
    layout: &Layout,
    position: Position,
) -> Result<(), Error> {
    let Rebuilding {
        hub,
        projector,
        name,
        ..
    } = *rebuilding;
    let seen = layout.look(hub).await?;
    layout.check_none_run_otherwise(&seen)?;
    let store = hub.store();
    let mut tx = store
        .begin()
        .await
        .map_err(rebuilding.store_failure("beginning the swap"))?;
    layout
        .move_to(&mut *tx, &seen, position)
        .await
        .map_err(rebuilding.store_failure("moving its checkpoints"))?;
    for table in projector.tables {
        swap_table(&mut *tx, table, name, Aside::Rebuild).await?;
    }
    // Every event up to the checkpoint was handled by the rebuild, and the worker runs
    // those after it again: no letter stands.
    let letters = tx
        .dead_letters(name)
        .await
        .map_err(rebuilding.store_failure("listing"))?;
    for letter in &letters {
        tx.unpark(name, letter.event_id)
            .await
            .map_err(rebuilding.store_failure("unparking"))?;
    }
    tx.commit()
        .await
        .map_err(rebuilding.store_failure("committing the swap"))?;
    hub.workers().moved(name);
    Ok(())
}

fn refused(name: &str, why: &str) -> Error {
    Aside::Rebuild.refused(name, why)
}

/// A rebuild stopped by a failing event: the tables stay as they were.
fn abandon(name: &str, error: Error) -> Error {
    tracing::error!(consumer = name, %error, "rebuild stopped; the tables are as they were");
    error
}
