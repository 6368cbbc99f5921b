//! The saga log of a SQL store, on a pool of its own (see [`crate::store::saga`]).

use std::time::Duration;

use sqlx::SqlStr;
use sqlx::types::Json;
use uuid::Uuid;

use super::db::{Args, Db};
use super::dialect::Dialect;
use super::rows::{self, duration_micros, micros};
use super::statements;
use crate::BoxFuture;
use crate::store::contract::{StoreError, backend};
use crate::store::saga::{SagaLog, SagaOutcome, SagaStep};

/// The saga log of a SQL store. Owners' heartbeats and the test for a dead one read the
/// database's clock, so that machines whose clocks differ agree on who is alive.
#[derive(Debug)]
pub(super) struct SqlSagaLog<D: Dialect> {
    pool: sqlx::Pool<D::Db>,
    /// The statements that read the database's clock (a dialect's fragment).
    heartbeat: SqlStr,
    claim_orphans: SqlStr,
}

impl<D: Dialect> Clone for SqlSagaLog<D> {
    fn clone(&self) -> Self {
        SqlSagaLog {
            pool: self.pool.clone(),
            heartbeat: self.heartbeat.clone(),
            claim_orphans: self.claim_orphans.clone(),
        }
    }
}

impl<D: Dialect> SqlSagaLog<D> {
    pub(super) fn new(pool: sqlx::Pool<D::Db>) -> Self {
        SqlSagaLog {
            pool,
            heartbeat: statements::sql(format!(
                "INSERT INTO herald_saga_owners (owner, heartbeat) VALUES ($1, {}) \
                 ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat",
                D::NOW_MICROS
            )),
            claim_orphans: statements::sql(format!(
                "UPDATE herald_saga_steps SET owner = $1, updated_at = $2 \
                 WHERE status IN ('started', 'completed') \
                 AND owner NOT IN (SELECT owner FROM herald_saga_owners WHERE heartbeat >= {} - $3) \
                 RETURNING saga_id, command_id, step, name, payload, route, actor, output",
                D::NOW_MICROS
            )),
        }
    }

    async fn execute(
        &self,
        query: sqlx::query::Query<'_, D::Db, <D::Db as sqlx::Database>::Arguments>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        query
            .execute(D::Db::executor(&mut conn))
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn now() -> i64 {
    micros(std::time::SystemTime::now())
}

impl<D: Dialect> SagaLog for SqlSagaLog<D> {
    fn started<'a>(
        &'a self,
        step: &'a SagaStep,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.execute(
            sqlx::query::<D::Db>(
                "INSERT INTO herald_saga_steps (saga_id, command_id, step, name, payload, route, \
                 actor, status, owner, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'started', $8, $9)",
            )
            .arg(step.saga_id)
            .arg(step.command_id)
            .arg(i64::from(step.step))
            .arg(step.name.as_str())
            .arg(Json(&step.payload))
            .arg(step.route.as_str())
            .arg(Json(&step.actor))
            .arg(owner)
            .arg(now()),
        ))
    }

    fn completed<'a>(
        &'a self,
        saga_id: Uuid,
        step: u32,
        output: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.execute(
            sqlx::query::<D::Db>(
                "UPDATE herald_saga_steps SET status = 'completed', output = $1, updated_at = $2 \
                 WHERE saga_id = $3 AND step = $4",
            )
            .arg(Json(output))
            .arg(now())
            .arg(saga_id)
            .arg(i64::from(step)),
        ))
    }

    fn settle(&self, saga_id: Uuid, outcome: SagaOutcome) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(
            self.execute(
                sqlx::query::<D::Db>(
                    "UPDATE herald_saga_steps SET status = $1, updated_at = $2 WHERE saga_id = $3",
                )
                .arg(outcome.as_str())
                .arg(now())
                .arg(saga_id),
            ),
        )
    }

    fn heartbeat(&self, owner: Uuid) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.execute(sqlx::query::<D::Db>(self.heartbeat.clone()).arg(owner)))
    }

    fn claim_orphans(
        &self,
        owner: Uuid,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<SagaStep>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(backend)?;
            let rows = sqlx::query::<D::Db>(self.claim_orphans.clone())
                .arg(owner)
                .arg(now())
                .arg(duration_micros(lease))
                .fetch_all(D::Db::executor(&mut conn))
                .await
                .map_err(backend)?;
            let mut steps = rows
                .iter()
                .map(rows::saga_step)
                .collect::<Result<Vec<_>, _>>()?;
            steps.sort_by_key(|s| (s.saga_id, s.step));
            Ok(steps)
        })
    }
}
