//! The saga log: a row for each saga step, written outside the command's transaction
//! and where writing it never waits on that transaction (on SQLite a file of its own; on
//! PostgreSQL other connections; in memory a list of its own), so that a process that
//! dies mid-saga can settle it when it starts again.

use crate::BoxFuture;
use std::time::Duration;

use uuid::Uuid;

use crate::store::contract::StoreError;

/// One step of a saga, as the log keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct SagaStep {
    /// This run of the command's saga (a command id sent again runs a new saga).
    pub saga_id: Uuid,
    /// The command the saga runs for.
    pub command_id: Uuid,
    /// The step's place in the command's saga, from 0.
    pub step: u32,
    /// The step's name (`#[saga_step]`'s).
    pub name: String,
    /// The command, as JSON, to reverse the step with after a restart.
    pub payload: serde_json::Value,
    /// The command's route.
    pub route: String,
    /// Who sent the command, as JSON.
    pub actor: serde_json::Value,
    /// What the step returned, once it has; `None` while it is only started.
    pub output: Option<serde_json::Value>,
}

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SagaOutcome {
    /// The command committed: the steps stand.
    Done,
    /// The command did not commit, and its steps were reversed.
    Reversed,
    /// A step could not be reversed: it stays in the log for someone to look at.
    Stuck,
}

impl SagaOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SagaOutcome::Done => "done",
            SagaOutcome::Reversed => "reversed",
            SagaOutcome::Stuck => "stuck",
        }
    }
}

/// Where saga steps are logged. Each method commits on its own.
pub trait SagaLog: Send + Sync {
    /// Logs that `step` (whose `output` is `None`) starts, owned by `owner`.
    fn started<'a>(
        &'a self,
        step: &'a SagaStep,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Logs what step `step` of saga `saga_id` returned.
    fn completed<'a>(
        &'a self,
        saga_id: Uuid,
        step: u32,
        output: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Logs how saga `saga_id` ended.
    fn settle(&self, saga_id: Uuid, outcome: SagaOutcome) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Says that `owner` is alive.
    fn heartbeat(&self, owner: Uuid) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The steps of the unsettled sagas whose owner has not said it is alive within
    /// `lease` (it died), claimed for `owner`, in the order they started.
    fn claim_orphans(
        &self,
        owner: Uuid,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<SagaStep>, StoreError>>;
}

/// The saga log of the in-memory store.
#[derive(Default)]
pub(crate) struct MemorySagaLog {
    state: std::sync::Mutex<MemorySagas>,
}

#[derive(Default)]
struct MemorySagas {
    /// Steps with their status and owner.
    steps: Vec<(SagaStep, &'static str, Uuid)>,
    heartbeats: std::collections::HashMap<Uuid, std::time::Instant>,
}

impl MemorySagaLog {
    fn with<T>(&self, f: impl FnOnce(&mut MemorySagas) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl SagaLog for MemorySagaLog {
    fn started<'a>(
        &'a self,
        step: &'a SagaStep,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|s| s.steps.push((step.clone(), "started", owner)));
        Box::pin(async { Ok(()) })
    }

    fn completed<'a>(
        &'a self,
        saga_id: Uuid,
        step: u32,
        output: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|s| {
            for (row, status, _) in &mut s.steps {
                if row.saga_id == saga_id && row.step == step {
                    row.output = Some(output.clone());
                    *status = "completed";
                }
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn settle(&self, saga_id: Uuid, outcome: SagaOutcome) -> BoxFuture<'_, Result<(), StoreError>> {
        self.with(|s| {
            for (row, status, _) in &mut s.steps {
                if row.saga_id == saga_id {
                    *status = outcome.as_str();
                }
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn heartbeat(&self, owner: Uuid) -> BoxFuture<'_, Result<(), StoreError>> {
        self.with(|s| s.heartbeats.insert(owner, std::time::Instant::now()));
        Box::pin(async { Ok(()) })
    }

    fn claim_orphans(
        &self,
        owner: Uuid,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<SagaStep>, StoreError>> {
        let claimed = self.with(|s| {
            let alive = |o: &Uuid| s.heartbeats.get(o).is_some_and(|at| at.elapsed() < lease);
            let orphans: Vec<usize> = (0..s.steps.len())
                .filter(|&i| {
                    let (_, status, o) = &s.steps[i];
                    matches!(*status, "started" | "completed") && !alive(o)
                })
                .collect();
            let mut claimed = Vec::new();
            for i in orphans {
                s.steps[i].2 = owner;
                claimed.push(s.steps[i].0.clone());
            }
            claimed.sort_by_key(|s| (s.saga_id, s.step));
            claimed
        });
        Box::pin(async move { Ok(claimed) })
    }
}
