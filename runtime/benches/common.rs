//! What the benches share: a scratch database of each backend, with a pool for the
//! hand-written side (the measuring is in `measure.rs`).

#![allow(dead_code, reason = "each bench uses part of it")]

use std::str::FromStr;
use std::sync::Arc;

use herald::prelude::*;
use herald::store::{EventStore, PostgresStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::types::Json;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The store under test and a pool for the hand-written side, on the same database.
pub(crate) struct Db {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) raw: Raw,
    /// The scratch SQLite file or PostgreSQL schema, removed by [`Db::remove`].
    pub(crate) scratch: String,
}

/// Removes SQLite files with their journals (`-wal`, `-shm`).
pub(crate) fn remove_sqlite_files(files: &[&str]) {
    for file in files {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{file}{suffix}"));
        }
    }
}

impl Db {
    /// Removes the scratch database, so that runs leave nothing behind.
    pub(crate) async fn remove(self) {
        match self.raw {
            Raw::Sqlite(pool) => {
                pool.close().await;
                let sagas = self.scratch.replace(".db", ".sagas.db");
                let raw_sagas = self.scratch.replace(".db", ".rawsagas.db");
                remove_sqlite_files(&[&self.scratch, &sagas, &raw_sagas]);
            }
            Raw::Postgres(pool) => {
                pool.close().await;
                let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
                let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.scratch);
                sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&admin)
                    .await
                    .unwrap();
            }
        }
    }
}

pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[derive(Clone)]
pub(crate) enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

pub(crate) const RAW_SQLITE: &str = "CREATE TABLE raw_events (position INTEGER PRIMARY KEY AUTOINCREMENT, event_id BLOB NOT NULL UNIQUE, \
    tenant TEXT NOT NULL, stream_type TEXT NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL, route TEXT NOT NULL, \
    name TEXT NOT NULL, schema_version INTEGER NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL, recorded_at INTEGER NOT NULL DEFAULT 0, \
    UNIQUE (tenant, stream_type, stream_id, version))";
pub(crate) const RAW_POSTGRES: &str = "CREATE TABLE raw_events (position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
    event_id UUID NOT NULL UNIQUE, tenant TEXT NOT NULL, stream_type TEXT NOT NULL, stream_id TEXT NOT NULL, \
    version BIGINT NOT NULL, route TEXT NOT NULL, name TEXT NOT NULL, schema_version INTEGER NOT NULL, payload JSONB NOT NULL, \
    metadata JSONB NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(), \
    UNIQUE (tenant, stream_type, stream_id, version))";

pub(crate) async fn open(backend: Backend) -> Db {
    match backend {
        Backend::Sqlite => {
            let path =
                std::env::temp_dir().join(format!("herald-bench-{}.db", Uuid::now_v7().simple()));
            let store = SqliteStore::open(&path).await.unwrap();
            let pool = store.pool().clone();
            sqlx::query(RAW_SQLITE).execute(&pool).await.unwrap();
            Db {
                store: Arc::new(store),
                raw: Raw::Sqlite(pool),
                scratch: path.display().to_string(),
            }
        }
        Backend::Postgres => {
            let url = database_url();
            let schema = format!("herald_bench_{}", Uuid::now_v7().simple());
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .unwrap();
            let options = PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", schema.as_str())]);
            let store = PostgresStore::connect_with(options.clone()).await.unwrap();
            // The floor's own pool, as Herald's was when the floor was frozen: 16
            // connections, each pinged before every transaction (sqlx's default).
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .connect_with(options)
                .await
                .unwrap();
            sqlx::query(RAW_POSTGRES).execute(&pool).await.unwrap();
            Db {
                store: Arc::new(store),
                raw: Raw::Postgres(pool),
                scratch: schema,
            }
        }
    }
}

/// One command by hand: the stream's last version, one event row, commit. The raw
/// one-transaction-per-command floor that the `dispatch` and `peers` benches divide by,
/// frozen as it was measured before group commit (issue 15): make it neither weaker nor
/// stronger, or the ratios before and after stop comparing.
pub(crate) async fn raw_command(raw: &Raw, stream: &str, by: i64) {
    let payload = serde_json::json!({ "id": stream, "by": by, "total": 0 });
    let metadata = serde_json::json!({ "event_id": Uuid::now_v7(), "command_id": Uuid::now_v7(), "actor": "system" });
    let route = format!("counter.{stream}.added");
    match raw {
        Raw::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            let version: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM raw_events WHERE tenant = ? AND stream_type = ? AND stream_id = ?",
            )
            .bind("default")
            .bind("counter")
            .bind(stream)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO raw_events (event_id, tenant, stream_type, stream_id, version, route, name, schema_version, \
                 payload, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(Uuid::now_v7())
            .bind("default")
            .bind("counter")
            .bind(stream)
            .bind(version + 1)
            .bind(&route)
            .bind("Added")
            .bind(1)
            .bind(Json(&payload))
            .bind(Json(&metadata))
            .bind(0_i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        Raw::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            let version: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM raw_events WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3",
            )
            .bind("default")
            .bind("counter")
            .bind(stream)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO raw_events (event_id, tenant, stream_type, stream_id, version, route, name, schema_version, \
                 payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(Uuid::now_v7())
            .bind("default")
            .bind("counter")
            .bind(stream)
            .bind(version + 1)
            .bind(&route)
            .bind("Added")
            .bind(1_i32)
            .bind(Json(&payload))
            .bind(Json(&metadata))
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
    }
}
