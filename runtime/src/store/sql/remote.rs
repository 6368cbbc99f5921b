//! Remote consumers' registrations in a SQL store: `herald_remote_consumers`, each with
//! its checkpoint in `herald_checkpoints`, both written in one transaction.

use std::time::SystemTime;

use serde_json::Value;
use sqlx::types::Json;

use super::consumer::{claim, save_checkpoint};
use super::db::{Args, Columns, Db};
use super::dialect::Dialect;
use super::rows::{from_micros, micros, position};
use super::statements::Statements;
use super::store::{Connection, SqlStore};
use crate::BoxFuture;
use crate::model::record::Position;
use crate::store::contract::{StoreError, backend};
use crate::store::remote::{
    Acknowledged, RemoteConsumerLog, RemoteRegistration, remote_checkpoint,
};

impl<D: Dialect> RemoteConsumerLog for SqlStore<D> {
    fn register<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        patterns: &'a [String],
        start: Position,
    ) -> BoxFuture<'a, Result<(RemoteRegistration, bool), StoreError>> {
        Box::pin(async move {
            let (mut tx, turn) = self.dialect.begin().await?;
            let statements = &self.statements;
            // A concurrent registration of the same name makes this wait until it ends;
            // if it committed, nothing is inserted and its row is read below.
            let patterns = Value::from(patterns.to_vec());
            let inserted = sqlx::query::<D::Db>(statements.remote.insert.clone())
                .arg(tenant)
                .arg(name)
                .arg(Json(&patterns))
                .arg(micros(SystemTime::now()))
                .execute(D::Db::executor(&mut tx))
                .await
                .map_err(backend)?;
            let new = D::Db::rows_affected(&inserted) == 1;
            if new {
                let key = remote_checkpoint(tenant, name);
                save_checkpoint::<D>(&mut tx, statements, &key, start).await?;
            }
            let found = registration::<D>(&mut tx, statements, tenant, name).await?;
            tx.commit().await.map_err(backend)?;
            drop(turn);
            let found = found.ok_or_else(|| {
                let message = format!("remote consumer `{name}` was registered and is not there");
                StoreError::Backend(message.into())
            })?;
            Ok((found, new))
        })
    }

    fn registration<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<RemoteRegistration>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            registration::<D>(&mut conn, &self.statements, tenant, name).await
        })
    }

    fn registrations<'a>(
        &'a self,
        tenant: &'a str,
    ) -> BoxFuture<'a, Result<Vec<RemoteRegistration>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query::<D::Db>(self.statements.remote.of_tenant.clone())
                .arg(tenant)
                .fetch_all(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            rows.iter().map(registered).collect()
        })
    }

    fn acknowledge<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
        at: Position,
    ) -> BoxFuture<'a, Result<Option<Acknowledged>, StoreError>> {
        Box::pin(async move {
            let (mut tx, turn) = self.dialect.begin().await?;
            let statements = &self.statements;
            // The registration first, then its checkpoint (as `unregister` takes them):
            // a consumer deleted meanwhile is not given a checkpoint again.
            let found = sqlx::query::<D::Db>(statements.remote.lock.clone())
                .arg(tenant)
                .arg(name)
                .fetch_optional(D::Db::executor(&mut tx))
                .await
                .map_err(backend)?;
            let key = remote_checkpoint(tenant, name);
            let checkpoint = match found {
                Some(_) => Some(claim::<D>(&mut tx, statements, &key).await?),
                None => None,
            };
            if checkpoint.is_none_or(|c| at <= c) {
                // Nothing to change; the locks go first, then the turn.
                tx.rollback().await.map_err(backend)?;
                drop(turn);
                return Ok(checkpoint.map(|c| Acknowledged::new(c, false)));
            }
            save_checkpoint::<D>(&mut tx, statements, &key, at).await?;
            sqlx::query::<D::Db>(statements.remote.acked.clone())
                .arg(tenant)
                .arg(name)
                .arg(micros(SystemTime::now()))
                .execute(D::Db::executor(&mut tx))
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            drop(turn);
            Ok(Some(Acknowledged::new(at, true)))
        })
    }

    fn unregister<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let (mut tx, turn) = self.dialect.begin().await?;
            let deleted = sqlx::query::<D::Db>(
                "DELETE FROM herald_remote_consumers WHERE tenant = $1 AND name = $2",
            )
            .arg(tenant)
            .arg(name)
            .execute(D::Db::executor(&mut tx))
            .await
            .map_err(backend)?;
            let removed = D::Db::rows_affected(&deleted) > 0;
            if removed {
                sqlx::query::<D::Db>("DELETE FROM herald_checkpoints WHERE consumer = $1")
                    .arg(remote_checkpoint(tenant, name))
                    .execute(D::Db::executor(&mut tx))
                    .await
                    .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)?;
            drop(turn);
            Ok(removed)
        })
    }
}

/// The registration of `name` of `tenant` with its checkpoint, read on `conn`.
async fn registration<D: Dialect>(
    conn: &mut Connection<D>,
    statements: &Statements,
    tenant: &str,
    name: &str,
) -> Result<Option<RemoteRegistration>, StoreError> {
    let row = sqlx::query::<D::Db>(statements.remote.one.clone())
        .arg(tenant)
        .arg(name)
        .fetch_optional(D::Db::executor(conn))
        .await
        .map_err(backend)?;
    row.as_ref().map(registered).transpose()
}

/// A row of the registrations joined with their checkpoints.
fn registered(row: &impl Columns) -> Result<RemoteRegistration, StoreError> {
    let Json(patterns) = row.col::<Json<Value>>("patterns")?;
    let patterns = serde_json::from_value(patterns).map_err(backend)?;
    let mut found = RemoteRegistration::new(
        &row.col::<String>("tenant")?,
        &row.col::<String>("name")?,
        &[],
        position(row)?,
    );
    found.patterns = patterns;
    found.registered_at = from_micros(row.col("registered_us")?);
    found.acked_at = row.col::<Option<i64>>("acked_us")?.map(from_micros);
    Ok(found)
}
