//! Group commit: concurrent top-level commands share one transaction and one commit, so
//! that eight writers pay for one flush to disk, not eight.
//!
//! A command joins the open batch (a new one when none is open) and waits for the
//! batch's transaction, which its members use one at a time: the first to run opens it,
//! each later one runs its steps under a savepoint of its own, so that one that fails
//! (rejected, conflicting, a failing strong handler) is undone alone and its neighbours
//! never see it. When every member has run its steps the batch is sealed and committed
//! by the last of them, in its own task, while the next batch gathers: commands that
//! arrive during a commit join the next one. A lone command is a batch of one and waits
//! for no one, nor for another task.
//!
//! What keeps it free of deadlocks: a batch's commit waits only for its own members'
//! steps, and only one batch runs steps at a time (one that is full makes newcomers wait
//! until it is sealed), so two batches never wait for each other's locks; a command
//! whose id is in a batch not committed yet waits for that batch to end (it will find
//! the first run's result). What runs inside a member's steps never joins a batch (see
//! [`is_inside`]).
//!
//! Which commands join is for [`dispatch`](super::dispatch) to say: top-level commands
//! without a saga step, outside a caller's transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedMutexGuard, watch};
use uuid::Uuid;

use crate::store::{EventStore, Savepoint, StoreError, StoreTransaction};

tokio::task_local! {
    /// Set while a member runs its steps: a command dispatched from inside them (a hook
    /// calling the runtime) must not wait for the transaction its caller holds.
    static INSIDE: ();
}

/// Whether this task is running a member's steps.
pub(crate) fn is_inside() -> bool {
    INSIDE.try_with(|_| ()).is_ok()
}

/// Runs `steps` as a member's: what they dispatch joins no batch.
pub(crate) async fn inside<F: Future>(steps: F) -> F::Output {
    INSIDE.scope((), steps).await
}

/// The group commits of one runtime.
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// The most commands one transaction holds: each takes a savepoint, and PostgreSQL
    /// keeps at most 64 subtransactions per transaction in memory.
    limit: usize,
}

#[derive(Default)]
struct State {
    /// The batch that newcomers join, while its members run their steps.
    open: Option<Arc<Batch>>,
    /// The command ids of the batches not committed yet.
    ids: HashMap<Uuid, Arc<Batch>>,
}

/// Commands that commit together.
struct Batch {
    /// The transaction, used by one member at a time.
    shared: Arc<tokio::sync::Mutex<Shared>>,
    progress: Mutex<Progress>,
    stage: watch::Sender<Stage>,
}

#[derive(Default)]
struct Shared {
    /// Opened by the first member to run.
    tx: Option<Box<dyn StoreTransaction>>,
    /// Whether a member's work is in `tx`: one that finds none there runs without a
    /// savepoint, and if it fails the transaction is rolled back whole.
    holds_work: bool,
    /// Why the transaction must not commit: a member's work could not be undone.
    broken: Option<String>,
}

#[derive(Default)]
struct Progress {
    members: usize,
    /// Members that ran their steps (or left).
    finished: usize,
    /// Members whose work is in the transaction.
    kept: usize,
    ids: Vec<Uuid>,
}

/// Where a batch is.
#[derive(Clone, Debug)]
enum Stage {
    /// Members run their steps; more may join.
    Open,
    /// Sealed: every member ran its steps, the commit is under way.
    Committing,
    /// Committed with this many commands, or failed (nothing of it was written, or
    /// whether it was is unknown).
    Committed(usize),
    Failed(String),
}

/// The transaction of a batch could not commit: what each of its commands is told.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BatchFailed(String);

impl GroupCommit {
    pub(crate) fn new(limit: usize) -> Self {
        GroupCommit {
            state: Mutex::default(),
            limit: limit.max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A seat in the open batch for command `id`. Waits first while a batch not
    /// committed yet holds `id`, or while the open batch is full.
    pub(crate) async fn join(self: &Arc<Self>, id: Uuid) -> Member {
        loop {
            let (mut stage, until) = {
                let mut state = self.state();
                if let Some(batch) = state.ids.get(&id) {
                    let done = |stage: &Stage| !matches!(stage, Stage::Open | Stage::Committing);
                    (batch.stage.subscribe(), done as fn(&Stage) -> bool)
                } else {
                    let open = state
                        .open
                        .clone()
                        .filter(|b| b.progress().members < self.limit);
                    match (open, state.open.clone()) {
                        (None, Some(full)) => {
                            let sealed = |stage: &Stage| !matches!(stage, Stage::Open);
                            (full.stage.subscribe(), sealed as fn(&Stage) -> bool)
                        }
                        (open, _) => {
                            let batch = open.unwrap_or_else(|| {
                                let batch = Arc::new(Batch::new());
                                state.open = Some(batch.clone());
                                batch
                            });
                            {
                                let mut progress = batch.progress();
                                progress.members += 1;
                                progress.ids.push(id);
                            }
                            state.ids.insert(id, batch.clone());
                            return Member {
                                group: self.clone(),
                                batch,
                                running: None,
                                finished: false,
                                commits: false,
                            };
                        }
                    }
                }
            };
            // A closed channel: the batch ended without saying how; seat again.
            let _ = stage.wait_for(until).await;
        }
    }

    /// Seals `batch` if it is the open one: no one else joins it.
    fn seal(&self, state: &mut State, batch: &Arc<Batch>) {
        if state
            .open
            .as_ref()
            .is_some_and(|open| Arc::ptr_eq(open, batch))
        {
            state.open = None;
            batch.stage.send_replace(Stage::Committing);
        }
    }

    /// A member of `batch` ran its steps (its work is in the transaction if `kept`) or
    /// left. Returns whether it was the last: then the batch is sealed, and it is the
    /// caller's to commit.
    fn finished(&self, batch: &Arc<Batch>, kept: bool) -> bool {
        let mut state = self.state();
        let mut progress = batch.progress();
        progress.finished += 1;
        progress.kept += usize::from(kept);
        let last = progress.finished == progress.members;
        drop(progress);
        if last {
            self.seal(&mut state, batch);
        }
        last
    }

    /// Commits `batch` from a task of its own, for a last member that will not wait for
    /// the commit (it failed, left, or was given up).
    fn commit_apart(self: &Arc<Self>, batch: &Arc<Batch>) {
        let (group, owned) = (self.clone(), batch.clone());
        self.go_on_apart(batch, Box::pin(async move { group.commit(owned).await }));
    }

    /// Runs `commit` (of `batch`, begun or not) in a task of its own. With no runtime to
    /// run it on, it is dropped (the transaction rolls back) and the members are told.
    fn go_on_apart(&self, batch: &Arc<Batch>, commit: crate::BoxFuture<'static, ()>) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(commit)),
            Err(_) => {
                drop(commit);
                self.ended(batch, Stage::Failed("no async runtime".to_owned()));
            }
        }
    }

    /// Commits `batch`, whose members all ran their steps.
    async fn commit(&self, batch: Arc<Batch>) {
        let kept = batch.progress().kept;
        let mut shared = batch.shared.lock().await;
        let stage = match (shared.tx.take(), shared.broken.take()) {
            (None, _) => Stage::Committed(0),
            (Some(tx), Some(why)) => {
                let _ = tx.rollback().await;
                Stage::Failed(why)
            }
            (Some(tx), None) if kept == 0 => {
                let _ = tx.rollback().await;
                Stage::Committed(0)
            }
            (Some(tx), None) => match tx.commit().await {
                Ok(()) => Stage::Committed(kept),
                Err(error) => Stage::Failed(error.to_string()),
            },
        };
        drop(shared);
        self.ended(&batch, stage);
    }

    fn ended(&self, batch: &Arc<Batch>, stage: Stage) {
        let mut state = self.state();
        for id in &batch.progress().ids {
            if state.ids.get(id).is_some_and(|b| Arc::ptr_eq(b, batch)) {
                state.ids.remove(id);
            }
        }
        batch.stage.send_replace(stage);
    }
}

impl Batch {
    fn new() -> Self {
        Batch {
            shared: Arc::default(),
            progress: Mutex::default(),
            stage: watch::Sender::new(Stage::Open),
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A command's seat in a batch. Dropped before it ran its steps, it leaves; dropped in
/// the middle of them (the caller gave up on the dispatch), its writes are undone before
/// the next member runs.
pub(crate) struct Member {
    group: Arc<GroupCommit>,
    batch: Arc<Batch>,
    running: Option<Running>,
    finished: bool,
    /// The last to finish, its work kept: it commits the batch when it waits for the
    /// commit ([`committed`](Self::committed)), in its own task (a lone command waits
    /// for no other task), or from a task of its own if it is dropped first.
    commits: bool,
}

/// A member running its steps: it holds the transaction.
struct Running {
    shared: OwnedMutexGuard<Shared>,
    savepoint: Option<Savepoint>,
}

/// What waiting for the batch's transaction came to.
pub(crate) enum Start {
    /// The member holds it: [`Member::tx`].
    Ready,
    /// The batch broke before the member's turn: it left, and seats again.
    Broken,
    /// The members ahead held the transaction longer than a command's steps take
    /// ([`SHARE_WAIT`]): it left, and commits alone, where the store's own bounded wait
    /// for its writer or a connection applies (a busy store is an error, never a wait
    /// without end).
    Alone,
}

/// How long a member waits for the members ahead of it before it commits alone.
const SHARE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

impl Member {
    /// Waits for the batch's transaction, opening it when the member is the first to
    /// run, and takes a savepoint when others' work is in it.
    pub(crate) async fn start(&mut self, store: &dyn EventStore) -> Result<Start, StoreError> {
        let shared = self.batch.shared.clone().lock_owned();
        let Ok(mut shared) = tokio::time::timeout(SHARE_WAIT, shared).await else {
            self.leave();
            return Ok(Start::Alone);
        };
        if shared.broken.is_some() {
            drop(shared);
            self.leave();
            return Ok(Start::Broken);
        }
        if shared.tx.is_none() {
            match store.begin().await {
                Ok(mut tx) => {
                    // The members' command rows go in with the commit, in one statement.
                    tx.write_commands_at_commit();
                    shared.tx = Some(tx);
                }
                Err(error) => {
                    drop(shared);
                    self.leave();
                    return Err(error);
                }
            }
            shared.holds_work = false;
        }
        let savepoint = match shared.holds_work {
            false => None,
            true => {
                let tx = shared.tx.as_mut().expect("opened above");
                // Taken with the member's first statement where the store can.
                match tx.defer_savepoint().await {
                    Ok(savepoint) => Some(savepoint),
                    Err(error) => {
                        shared.broken = Some(format!("a savepoint could not be taken: {error}"));
                        drop(shared);
                        self.leave();
                        return Ok(Start::Broken);
                    }
                }
            }
        };
        self.running = Some(Running { shared, savepoint });
        Ok(Start::Ready)
    }

    /// The transaction, while the member runs its steps.
    pub(crate) fn tx(&mut self) -> &mut dyn StoreTransaction {
        let running = self.running.as_mut().expect("started");
        &mut **running.shared.tx.as_mut().expect("opened by start")
    }

    /// After its steps: keeps their writes for the batch's commit, or undoes them; the
    /// next member runs. An undo that fails breaks the batch (nothing of it commits)
    /// and is returned.
    pub(crate) async fn end(&mut self, keep: bool) -> Result<(), StoreError> {
        let Running {
            mut shared,
            savepoint,
        } = self.running.take().expect("started");
        let undone = match (keep, savepoint) {
            // Released by the commit: a RELEASE would cost a round trip.
            (true, _) => Ok(()),
            (false, Some(savepoint)) => {
                let tx = shared.tx.as_mut().expect("opened by start");
                tx.rollback_to(savepoint).await
            }
            // Nothing but this member's work is in the transaction.
            (false, None) => match shared.tx.take() {
                Some(tx) => tx.rollback().await,
                None => Ok(()),
            },
        };
        match &undone {
            Ok(()) => shared.holds_work |= keep,
            Err(error) => {
                shared.broken = Some(format!(
                    "a command's writes could not be undone to its savepoint: {error}"
                ));
            }
        }
        drop(shared);
        if undone.is_err() {
            self.group.seal(&mut self.group.state(), &self.batch);
        }
        self.finished = true;
        let kept = keep && undone.is_ok();
        if self.group.finished(&self.batch, kept) {
            match kept {
                true => self.commits = true,
                false => self.group.commit_apart(&self.batch),
            }
        }
        undone
    }

    /// Waits for the batch's commit (running it, when this member is the last to have
    /// finished): how many commands it committed, or why it failed.
    pub(crate) async fn committed(&mut self) -> Result<usize, StoreError> {
        if std::mem::take(&mut self.commits) {
            match tracing::Span::current().is_none() {
                true => self.commit_here().await,
                // A span is current (telemetry is on): the commit runs in a task of its
                // own, with none. The SQLite driver keeps the span of each statement a
                // moment after it answered, which would hold the dispatch's span open
                // (and unexported) after the dispatch returned.
                false => self.group.commit_apart(&self.batch),
            }
        }
        let mut stage = self.batch.stage.subscribe();
        let ended = stage
            .wait_for(|stage| matches!(stage, Stage::Committed(_) | Stage::Failed(_)))
            .await
            .map(|stage| stage.clone());
        match ended {
            Ok(Stage::Committed(commands)) => Ok(commands),
            Ok(Stage::Failed(why)) => Err(StoreError::Backend(Box::new(BatchFailed(format!(
                "the transaction this command shared with others did not commit: {why}"
            ))))),
            _ => Err(StoreError::Backend(Box::new(BatchFailed(
                "the transaction this command shared with others ended before its commit"
                    .to_owned(),
            )))),
        }
    }

    /// Commits the batch in this member's task; given up mid-way, the commit goes on in
    /// a task of its own (see [`Committing`]).
    async fn commit_here(&self) {
        let (group, batch) = (self.group.clone(), self.batch.clone());
        let mut commit = Committing {
            rest: Some(Box::pin(async move { group.commit(batch).await })),
            group: self.group.clone(),
            batch: self.batch.clone(),
        };
        if let Some(running) = commit.rest.as_mut() {
            running.await;
        }
        commit.rest = None;
    }

    /// Leaves the batch without work in it.
    fn leave(&mut self) {
        self.finished = true;
        if self.group.finished(&self.batch, false) {
            self.group.commit_apart(&self.batch);
        }
    }
}

/// A batch's commit under way in a member's task: dropped before it ended (the caller
/// gave up on the dispatch), it goes on in a task of its own, so that the neighbours'
/// commit does not depend on this caller's patience.
struct Committing {
    /// The commit, until it ended.
    rest: Option<crate::BoxFuture<'static, ()>>,
    group: Arc<GroupCommit>,
    batch: Arc<Batch>,
}

impl Drop for Committing {
    fn drop(&mut self) {
        if let Some(rest) = self.rest.take() {
            self.group.go_on_apart(&self.batch, rest);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if self.commits {
            // Given up before it waited for the commit that is its to run.
            self.group.commit_apart(&self.batch);
        }
        if let Some(running) = self.running.take() {
            // Given up in the middle of its steps: undo them before anyone else runs.
            let member = Member {
                group: self.group.clone(),
                batch: self.batch.clone(),
                running: Some(running),
                finished: false,
                commits: false,
            };
            self.finished = true;
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn(async move {
                    let mut member = member;
                    let _ = member.end(false).await;
                })),
                Err(_) => {
                    let mut member = member;
                    if let Some(running) = member.running.as_mut() {
                        running.shared.broken = Some("a command was given up mid-way".to_owned());
                    }
                    drop(member.running.take());
                    member.leave();
                }
            }
        }
        if !self.finished {
            self.leave();
        }
    }
}
