//! Archiving: the events every consumer has passed move to the runtime's [`Archive`].

use crate::outcome::error::{Error, ErrorKind};
use crate::store::{Archive, EventStore, Position, StoreError};

use super::{Consumers, Layout, describe};

/// The name of the archive's checkpoint in the store: how far it copied.
pub(crate) const ARCHIVE: &str = "herald:archive";

/// Events copied or deleted per transaction.
const PAGE: usize = 1000;

/// What one archiving pass did ([`Consumers::archive`]).
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let archive = herald::store::Archive::connect("sqlite::memory:").await?;
/// let herald = herald::Herald::builder()
///     .modules(["herald_doc_fixtures"])
///     .archive(archive)
///     .build()
///     .await?;
/// herald.consumers().remote("acme").register("billing", ["account.*"]).await?;
/// let opened = herald.dispatch(OpenAccount { account_id: 1 }).await?;
/// let consumers = herald.consumers();
/// let every = ["statements", "reopen"];
/// consumers.wait_for(opened.events(), every, std::time::Duration::from_secs(5)).await?;
/// let report = consumers.archive().await?;
/// assert_eq!(report.archived, 0);
/// assert_eq!(report.held_back_by.as_deref(), Some("remote consumer `billing` of tenant `acme`"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Archived {
    /// Events this pass wrote to the archive (again, for those a pass that stopped
    /// halfway had written).
    pub archived: u64,
    /// Events deleted from the active store by this pass.
    pub discarded: u64,
    /// Every event up to this position is in the archive.
    pub up_to: Position,
    /// The consumer that has passed the fewest events, when it kept this pass from
    /// archiving all of them: `consumer `statements``, or `remote consumer `billing` of
    /// tenant `acme`` (`None` when every consumer has passed every event).
    pub held_back_by: Option<String>,
}

impl Consumers<'_> {
    /// Copies the events every consumer has passed into the runtime's
    /// [archive](crate::HeraldBuilder::archive) and, when it
    /// [discards](crate::store::Archive::discard), deletes them from the active store. Every consumer
    /// means each checkpoint in the store (those of other runtimes and relays as well)
    /// and each consumer of this runtime, which has passed nothing before its first
    /// checkpoint; a [remote consumer](Consumers::remote) has one from when it is
    /// registered until it is deleted. [`Archived::held_back_by`] names the one furthest
    /// behind when it held the pass back. Events a consumer parked, and the last event of each stream, stay in
    /// the active store as well.
    ///
    /// A pass that stops halfway (the process dies) loses nothing: events are archived
    /// before they are discarded, and the next pass goes on from the newest archived one.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let archive = herald::store::Archive::connect("sqlite::memory:").await?.discard(true);
    /// let herald = herald::Herald::builder()
    ///     .modules(["herald_doc_fixtures"])
    ///     .archive(archive)
    ///     .build()
    ///     .await?;
    /// let opened = herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// herald.dispatch(Deposit { account_id: 1, amount: 5 }).await?;
    /// let consumers = herald.consumers();
    /// let every = ["statements", "reopen"]; // nothing is archived before all passed it
    /// consumers.wait_for(opened.events(), every, std::time::Duration::from_secs(5)).await?;
    /// let report = consumers.archive().await?;
    /// assert!(report.archived >= 1);
    /// // The stream still loads whole, read through to the archive.
    /// assert_eq!(herald.load::<Account>(1).await?.version(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn archive(&self) -> Result<Archived, Error> {
        let hub = self.hub;
        let Some(archive) = hub.archive() else {
            return Err(fail("archiving")(StoreError::Unsupported(
                "this runtime has no archive: give it one with `HeraldBuilder::archive`".into(),
            )));
        };
        let registered = hub.registry().eventual_handlers();
        let keys: Vec<String> = registered
            .iter()
            .flat_map(|h| Layout::of(*h).keys())
            .map(|(_, key)| key)
            .collect();
        archive_store(hub.store(), hub.active_store(), archive, &keys).await
    }
}

/// One archiving pass over `store` (read through to `archive`, whose events `active`
/// holds), counting the checkpoints in the store and `keys` (consumers that may have
/// none yet): what [`Consumers::archive`] does, also for a tool without the
/// application's handlers.
pub(crate) async fn archive_store(
    store: &dyn EventStore,
    active: &dyn EventStore,
    archive: &Archive,
    keys: &[String],
) -> Result<Archived, Error> {
    let (horizon, held_back_by) = passed_by_all(store, keys).await?;
    // How far this store's events are archived: its own checkpoint, not the archive's
    // newest event, so that an archive given to a second store by mistake refuses
    // that store's events (their places are taken) instead of counting them as held.
    let mut at = archived_to(store, None).await?;
    let mut archived = 0;
    while at < horizon {
        // This store's own events: read through, a page could come from the archive.
        let page = active.read_all(at, PAGE).await;
        let page = page.map_err(fail("reading events to archive"))?;
        let events: Vec<_> = page
            .into_iter()
            .take_while(|e| e.position <= horizon)
            .collect();
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        archive
            .put(&events)
            .await
            .map_err(fail("writing to the archive"))?;
        archived += events.len() as u64;
        at = archived_to(store, Some(last)).await?;
    }
    // The archive may hold more than every consumer has passed (a consumer was
    // reset, say): only what they all passed goes.
    let discard_to = at.min(horizon);
    let (mut discarded, mut from) = (0, Position::START);
    while archive.discards() {
        let deleted = store.discard(from, discard_to, PAGE).await;
        let deleted = deleted.map_err(fail("discarding archived events"))?;
        // Positions only move on (a store that returned an earlier one would loop).
        let Some(&last) = deleted.last().filter(|&&last| last > from) else {
            break;
        };
        discarded += deleted.len() as u64;
        from = last;
    }
    Ok(Archived {
        archived,
        discarded,
        up_to: at,
        held_back_by,
    })
}

/// The archive's checkpoint in the store, moved on to `to` first when given.
async fn archived_to(store: &dyn EventStore, to: Option<Position>) -> Result<Position, Error> {
    let mut tx = store.begin().await.map_err(fail("beginning"))?;
    let at = tx.claim_consumer(ARCHIVE).await;
    let mut at = at.map_err(fail("reading its checkpoint"))?;
    if let Some(to) = to.filter(|&to| to > at) {
        let saved = tx.save_checkpoint(ARCHIVE, to).await;
        saved.map_err(fail("saving its checkpoint"))?;
        at = to;
    }
    tx.commit().await.map_err(fail("committing"))?;
    Ok(at)
}

/// The position every consumer has passed: the oldest checkpoint in the store, and
/// the start when one of `keys` has none yet; and the consumer at it, when it is
/// behind the head.
pub(crate) async fn passed_by_all(
    store: &dyn EventStore,
    keys: &[String],
) -> Result<(Position, Option<String>), Error> {
    let log = store.consumers();
    let mut checkpoints = log
        .checkpoints()
        .await
        .map_err(fail("listing checkpoints"))?;
    checkpoints.retain(|c| c.consumer != ARCHIVE);
    let mut missing = keys
        .iter()
        .filter(|key| !checkpoints.iter().any(|c| c.consumer == **key));
    if let Some(key) = missing.next() {
        return Ok((Position::START, Some(describe(key))));
    }
    let head = log.head().await.map_err(fail("reading the head"))?;
    // The oldest, the first by name among equals (they come by name).
    let oldest = checkpoints.iter().min_by_key(|c| c.position);
    match oldest {
        Some(oldest) if oldest.position < head => {
            Ok((oldest.position, Some(describe(&oldest.consumer))))
        }
        Some(oldest) => Ok((oldest.position, None)),
        // No consumer at all: every event is passed.
        None => Ok((head, None)),
    }
}

/// A store or archive failure while archiving, saying what was being done.
fn fail(doing: &'static str) -> impl Fn(StoreError) -> Error {
    move |source| {
        ErrorKind::Store {
            context: format!("archiving: {doing}"),
            source,
        }
        .into()
    }
}
