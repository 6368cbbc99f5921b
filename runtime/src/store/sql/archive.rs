//! An archive in a SQL database (see [`Archive`](crate::store::archive::Archive)): the events'
//! columns and their place in the global order, in a table of their own.

use std::sync::Arc;

use sqlx::types::Json;
use uuid::Uuid;

use super::db::{Args, Columns, Db, value};
use super::dialect::Dialect;
use super::rows::{self, int, micros, position};
use super::statements::ArchiveStatements;
use crate::BoxFuture;
use crate::model::record::{Position, RecordedEvent, StreamKey};
use crate::store::contract::Archived;
use crate::store::contract::{StoreError, backend};

/// The archive's table in a SQL database.
#[derive(Debug)]
pub(crate) struct SqlArchive<D: Dialect> {
    pool: sqlx::Pool<D::Db>,
    statements: Arc<ArchiveStatements>,
}

/// Events an `INSERT` takes at most: 13 parameters each, and SQLite takes 32,766 in a
/// statement.
const CHUNK: usize = 1000;

impl<D: Dialect> SqlArchive<D> {
    /// The archive in the database of `pool`, whose table is there.
    pub(crate) fn new(pool: sqlx::Pool<D::Db>) -> Self {
        SqlArchive {
            pool,
            statements: Arc::new(ArchiveStatements::new::<D>()),
        }
    }

    async fn connection(&self) -> Result<sqlx::pool::PoolConnection<D::Db>, StoreError> {
        self.pool.acquire().await.map_err(backend)
    }

    /// Inserts `events` that are not archived yet, and counts how many of them the
    /// archive holds afterwards.
    async fn insert(
        &self,
        conn: &mut <D::Db as sqlx::Database>::Connection,
        events: &[RecordedEvent],
    ) -> Result<u64, StoreError> {
        let mut insert = sqlx::QueryBuilder::<D::Db>::new(self.statements.insert.as_str());
        insert.push_values(events, |mut row, e| {
            let (tx, seq) = e.position.parts();
            row.push_bind(value::<D::Db, _>(tx as i64))
                .push_bind(value::<D::Db, _>(seq as i64))
                .push_bind(value::<D::Db, _>(e.event_id))
                .push_bind(value::<D::Db, _>(e.stream.tenant()))
                .push_bind(value::<D::Db, _>(e.stream.stream_type()))
                .push_bind(value::<D::Db, _>(e.stream.stream_id()))
                .push_bind(value::<D::Db, _>(int(e.version)))
                .push_bind(value::<D::Db, _>(e.route.as_str()))
                .push_bind(value::<D::Db, _>(e.name.as_str()))
                .push_bind(value::<D::Db, _>(i64::from(e.schema_version)))
                .push_bind(value::<D::Db, _>(Json(&e.payload)))
                .push_bind(value::<D::Db, _>(Json(&e.metadata)))
                .push_bind(value::<D::Db, _>(micros(e.recorded_at)));
        });
        insert.push(") AS v WHERE true ON CONFLICT DO NOTHING");
        insert
            .build()
            .execute(D::Db::executor(&mut *conn))
            .await
            .map_err(backend)?;
        let mut count = sqlx::QueryBuilder::<D::Db>::new(
            "SELECT COUNT(*) AS count FROM herald_archive WHERE event_id IN (",
        );
        let mut ids = count.separated(", ");
        for event in events {
            ids.push_bind(value::<D::Db, _>(event.event_id));
        }
        count.push(")");
        let found = count
            .build()
            .fetch_one(D::Db::executor(conn))
            .await
            .map_err(backend)?;
        Ok(found.col::<i64>("count")? as u64)
    }
}

impl<D: Dialect> Archived for SqlArchive<D> {
    fn kind(&self) -> &'static str {
        D::KIND
    }

    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query::<D::Db>(
                "SELECT tx_order, position FROM herald_archive \
                 ORDER BY tx_order DESC, position DESC LIMIT 1",
            )
            .fetch_optional(D::Db::executor(&mut *self.connection().await?))
            .await
            .map_err(backend)?;
            row.as_ref().map_or(Ok(Position::START), position)
        })
    }

    fn read_all(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let (tx, seq) = after.parts();
            let rows = sqlx::query::<D::Db>(self.statements.read_all.clone())
                .arg(tx as i64)
                .arg(seq as i64)
                .arg(int(limit as u64))
                .fetch_all(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            rows.iter().map(rows::event).collect()
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a StreamKey,
        after_version: u64,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            let statement = &self.statements.read_stream;
            let rows =
                super::store::stream_rows::<D>(&mut conn, statement, stream, after_version).await?;
            rows.iter().map(rows::event).collect()
        })
    }

    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query::<D::Db>(self.statements.event_by_id.clone())
                .arg(event_id)
                .fetch_optional(D::Db::executor(&mut *self.connection().await?))
                .await
                .map_err(backend)?;
            row.as_ref().map(rows::event).transpose()
        })
    }

    fn put<'a>(&'a self, events: &'a [RecordedEvent]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let mut held = 0;
            for chunk in events.chunks(CHUNK) {
                held += self.insert(&mut tx, chunk).await?;
            }
            tx.commit().await.map_err(backend)?;
            Ok(held)
        })
    }
}
