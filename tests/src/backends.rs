//! A fresh, isolated store of each backend per test: memory, a temporary SQLite file, a
//! PostgreSQL schema of its own (on `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). Each is removed when the test ends.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use herald::Uuid;
use herald::store::{Archive, Durability, EventStore, MemoryStore, PostgresStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The PostgreSQL the tests use.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A store for one test, and what to remove afterwards.
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn EventStore>,
    cleanup: Cleanup,
}

enum Cleanup {
    Nothing,
    File(PathBuf),
    Schema(String),
}

impl TestStore {
    /// A new in-memory store.
    pub fn memory() -> Self {
        TestStore {
            store: Arc::new(MemoryStore::new()),
            cleanup: Cleanup::Nothing,
        }
    }

    /// A new SQLite file (`synchronous=NORMAL`: these tests are about semantics, not
    /// power loss).
    pub async fn sqlite() -> Self {
        Self::sqlite_with(|store| store).await
    }

    /// A new SQLite file, as [`TestStore::sqlite`] opens it, then configured.
    pub async fn sqlite_with(configure: impl FnOnce(SqliteStore) -> SqliteStore) -> Self {
        let path = scratch_file();
        let store = SqliteStore::open_with(&path, Durability::Normal)
            .await
            .expect("a scratch SQLite file");
        TestStore {
            store: Arc::new(configure(store)),
            cleanup: Cleanup::File(path),
        }
    }

    /// A new `sqlite::memory:` database: one connection holds it.
    pub async fn sqlite_in_memory() -> Self {
        let store = SqliteStore::connect("sqlite::memory:")
            .await
            .expect("an in-memory SQLite database");
        TestStore {
            store: Arc::new(store),
            cleanup: Cleanup::Nothing,
        }
    }

    /// A new schema in the test database.
    pub async fn postgres() -> Self {
        Self::postgres_with(PgPoolOptions::new().max_connections(16)).await
    }

    /// A new schema in the test database, on a pool with these settings.
    pub async fn postgres_with(pool: PgPoolOptions) -> Self {
        let schema = scratch_schema().await;
        let store = PostgresStore::connect_with_pool(schema_options(&schema), pool)
            .await
            .expect("a store in the scratch schema");
        TestStore {
            store: Arc::new(store),
            cleanup: Cleanup::Schema(schema),
        }
    }

    /// A second store on the same PostgreSQL schema, as another process would open it
    /// (`None` for the other backends).
    pub async fn reopen(&self) -> Option<Arc<dyn EventStore>> {
        let Cleanup::Schema(schema) = &self.cleanup else {
            return None;
        };
        let store = PostgresStore::connect_with(schema_options(schema))
            .await
            .unwrap();
        Some(Arc::new(store))
    }

    /// The store's kind: `memory`, `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.store.kind()
    }
}

/// An archive for one test, and what to remove afterwards.
pub struct TestArchive {
    /// The archive (not discarding).
    pub archive: Archive,
    cleanup: Cleanup,
}

impl TestArchive {
    /// A new SQLite file.
    pub async fn sqlite() -> Self {
        let path = scratch_file();
        let archive = Archive::connect(&path.display().to_string())
            .await
            .expect("a scratch SQLite archive");
        TestArchive {
            archive,
            cleanup: Cleanup::File(path),
        }
    }

    /// A new schema in the test database.
    pub async fn postgres() -> Self {
        let schema = scratch_schema().await;
        let archive = Archive::connect_postgres_with(schema_options(&schema))
            .await
            .expect("an archive in the scratch schema");
        TestArchive {
            archive,
            cleanup: Cleanup::Schema(schema),
        }
    }
}

impl Drop for TestArchive {
    fn drop(&mut self) {
        std::mem::replace(&mut self.cleanup, Cleanup::Nothing).run();
    }
}

/// A new, empty schema in the test database.
async fn scratch_schema() -> String {
    let schema = format!("herald_test_{}", Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&database_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is not reachable (is it running?): {e}",
                database_url()
            )
        });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    schema
}

/// Options for the test database with `schema` first on the search path.
fn schema_options(schema: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(&database_url())
        .unwrap()
        .options([("search_path", schema)])
}

/// A path for a scratch SQLite file.
pub fn scratch_file() -> PathBuf {
    let dir = std::env::temp_dir().join("herald-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.db", Uuid::now_v7().simple()))
}

/// Removes a SQLite database, its journal files and its saga log (`x.sagas.db`).
pub fn remove_sqlite_files(path: &std::path::Path) {
    let events = path.display().to_string();
    let sagas = format!("{}.sagas.db", events.strip_suffix(".db").unwrap_or(&events));
    for file in [events, sagas] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{file}{suffix}"));
        }
    }
}

/// Drops a scratch schema of the test database. Callable from drop code inside a Tokio
/// runtime: it uses a thread with a runtime of its own.
pub fn drop_schema(schema: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if let Ok(admin) = sqlx::PgPool::connect(&database_url()).await {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
                admin.close().await;
            }
        });
    })
    .join();
}

impl Cleanup {
    fn run(self) {
        match self {
            Cleanup::Nothing => {}
            Cleanup::File(path) => remove_sqlite_files(&path),
            Cleanup::Schema(schema) => drop_schema(schema),
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        std::mem::replace(&mut self.cleanup, Cleanup::Nothing).run();
    }
}

/// Runs `statement` on a SQL store (nothing in memory).
pub async fn sql(herald: &herald::Herald, statement: &str) {
    let mut tx = herald.begin().await.unwrap();
    match tx.sql() {
        herald::store::Sql::Sqlite(conn) => drop(
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(conn)
                .await
                .unwrap(),
        ),
        herald::store::Sql::Postgres(conn) => drop(
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(conn)
                .await
                .unwrap(),
        ),
        _ => {}
    }
    tx.commit().await.unwrap();
}
