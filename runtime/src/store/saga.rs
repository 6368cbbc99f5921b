//! The saga log: a row for each saga step, written outside the command's transaction
//! and where writing it never waits on that transaction (on SQLite a file of its own; on
//! PostgreSQL other connections; in memory a list of its own), so that a process that
//! dies mid-saga can settle it when it starts again.

use crate::BoxFuture;
use std::time::Duration;

use uuid::Uuid;

use super::StoreError;

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

/// The microseconds since the Unix epoch, as the SQL logs keep times.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The saga log of a SQL store, on its own pool: `$n` parameters and these types read the
/// same on SQLite and PostgreSQL.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! sql_saga_log {
    // `$now`: the database's clock in microseconds since the Unix epoch, as SQL: owners'
    // heartbeats and the test for a dead one read it, so that machines whose clocks
    // differ agree on who is alive.
    ($log:ident, $pool:ty, $row:ty, $now:literal) => {
        /// The saga log of a SQL store.
        #[derive(Clone, Debug)]
        pub(crate) struct $log {
            pub(crate) pool: $pool,
        }

        impl $crate::store::saga::SagaLog for $log {
            fn started<'a>(
                &'a self,
                step: &'a $crate::store::saga::SagaStep,
                owner: ::uuid::Uuid,
            ) -> $crate::store::BoxFuture<'a, Result<(), $crate::store::StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO herald_saga_steps (saga_id, command_id, step, name, payload, route, actor, status, owner, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'started', $8, $9)",
                    )
                    .bind(step.saga_id)
                    .bind(step.command_id)
                    .bind(i64::from(step.step))
                    .bind(&step.name)
                    .bind(sqlx::types::Json(&step.payload))
                    .bind(&step.route)
                    .bind(sqlx::types::Json(&step.actor))
                    .bind(owner)
                    .bind($crate::store::saga::now_micros())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::backend)?;
                    Ok(())
                })
            }

            fn completed<'a>(
                &'a self,
                saga_id: ::uuid::Uuid,
                step: u32,
                output: &'a serde_json::Value,
            ) -> $crate::store::BoxFuture<'a, Result<(), $crate::store::StoreError>> {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE herald_saga_steps SET status = 'completed', output = $1, updated_at = $2 \
                         WHERE saga_id = $3 AND step = $4",
                    )
                    .bind(sqlx::types::Json(output))
                    .bind($crate::store::saga::now_micros())
                    .bind(saga_id)
                    .bind(i64::from(step))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::backend)?;
                    Ok(())
                })
            }

            fn settle(
                &self,
                saga_id: ::uuid::Uuid,
                outcome: $crate::store::saga::SagaOutcome,
            ) -> $crate::store::BoxFuture<'_, Result<(), $crate::store::StoreError>> {
                Box::pin(async move {
                    sqlx::query("UPDATE herald_saga_steps SET status = $1, updated_at = $2 WHERE saga_id = $3")
                        .bind(outcome.as_str())
                        .bind($crate::store::saga::now_micros())
                        .bind(saga_id)
                        .execute(&self.pool)
                        .await
                        .map_err($crate::store::backend)?;
                    Ok(())
                })
            }

            fn heartbeat(
                &self,
                owner: ::uuid::Uuid,
            ) -> $crate::store::BoxFuture<'_, Result<(), $crate::store::StoreError>> {
                Box::pin(async move {
                    sqlx::query(concat!(
                        "INSERT INTO herald_saga_owners (owner, heartbeat) VALUES ($1, ",
                        $now,
                        ") ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat"
                    ))
                    .bind(owner)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::backend)?;
                    Ok(())
                })
            }

            fn claim_orphans(
                &self,
                owner: ::uuid::Uuid,
                lease: std::time::Duration,
            ) -> $crate::store::BoxFuture<
                '_,
                Result<Vec<$crate::store::saga::SagaStep>, $crate::store::StoreError>,
            > {
                Box::pin(async move {
                    use sqlx::Row;
                    let now = $crate::store::saga::now_micros();
                    let lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
                    let rows: Vec<$row> = sqlx::query(concat!(
                        "UPDATE herald_saga_steps SET owner = $1, updated_at = $2 \
                         WHERE status IN ('started', 'completed') \
                         AND owner NOT IN (SELECT owner FROM herald_saga_owners WHERE heartbeat >= ",
                        $now,
                        " - $3) \
                         RETURNING saga_id, command_id, step, name, payload, route, actor, output"
                    ))
                    .bind(owner)
                    .bind(now)
                    .bind(lease)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::backend)?;
                    let mut steps = rows
                        .iter()
                        .map(|row| {
                            let sqlx::types::Json(payload) = row.try_get("payload")?;
                            let sqlx::types::Json(actor) = row.try_get("actor")?;
                            let output: Option<sqlx::types::Json<serde_json::Value>> =
                                row.try_get("output")?;
                            Ok($crate::store::saga::SagaStep {
                                saga_id: row.try_get("saga_id")?,
                                command_id: row.try_get("command_id")?,
                                step: u32::try_from(row.try_get::<i64, _>("step")?).unwrap_or(u32::MAX),
                                name: row.try_get("name")?,
                                payload,
                                route: row.try_get("route")?,
                                actor,
                                output: output.map(|sqlx::types::Json(v)| v),
                            })
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                        .map_err($crate::store::backend)?;
                    steps.sort_by_key(|s| (s.saga_id, s.step));
                    Ok(steps)
                })
            }
        }
    };
}
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use sql_saga_log;

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
