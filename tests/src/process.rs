//! Real child processes for crash tests: a test binary runs one of its own ignored tests
//! as a child, on a store the parent names, and the parent kills it (SIGKILL).

use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;

use herald::Uuid;
use herald::store::{EventStore, PostgresStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;

use crate::backends::{database_url, drop_schema, remove_sqlite_files, scratch_file};

/// Where a child's store is: a SQLite file, or a PostgreSQL schema. Removed on drop.
#[derive(Debug)]
pub enum Place {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A schema of the test database.
    Postgres(String),
}

/// The environment variable that tells a child where its store is.
pub const PLACE: &str = "HERALD_CHILD_PLACE";

impl Place {
    /// A new scratch SQLite file.
    pub fn sqlite() -> Place {
        Place::Sqlite(scratch_file())
    }

    /// A new schema in the test database.
    pub async fn postgres() -> Place {
        let schema = format!("herald_test_{}", Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(&database_url()).await.unwrap();
        let create = format!("CREATE SCHEMA {schema}");
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        Place::Postgres(schema)
    }

    /// The place a parent gave this child process, if it is one (the parent removes it).
    pub fn of_child() -> Option<ManuallyDrop<Place>> {
        let text = std::env::var(PLACE).ok()?;
        let place = match text.split_once(':') {
            Some(("sqlite", path)) => Place::Sqlite(PathBuf::from(path)),
            Some(("postgres", schema)) => Place::Postgres(schema.to_owned()),
            _ => panic!("not a place: {text}"),
        };
        Some(ManuallyDrop::new(place))
    }

    /// The store's URL, as a program given `--url` opens it (a PostgreSQL schema as the
    /// `search_path` option).
    pub fn url(&self) -> String {
        match self {
            Place::Sqlite(path) => format!("sqlite://{}", path.display()),
            Place::Postgres(schema) => {
                let url = database_url();
                let join = if url.contains('?') { '&' } else { '?' };
                format!("{url}{join}options[search_path]={schema}")
            }
        }
    }

    fn encode(&self) -> String {
        match self {
            Place::Sqlite(path) => format!("sqlite:{}", path.display()),
            Place::Postgres(schema) => format!("postgres:{schema}"),
        }
    }

    /// Opens the store (a new connection, as another process would).
    pub async fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Place::Sqlite(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
            Place::Postgres(schema) => {
                let options = PgConnectOptions::from_str(&database_url())
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                Arc::new(PostgresStore::connect_with(options).await.unwrap())
            }
        }
    }

    /// Runs the ignored test `test` of the current test binary as a child process on
    /// this place, with `env` set.
    pub fn spawn(&self, test: &str, env: &[(&str, String)]) -> ChildProcess {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--ignored", "--nocapture"])
            .env(PLACE, self.encode())
            .stdout(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        ChildProcess(command.spawn().unwrap())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        match self {
            Place::Sqlite(path) => remove_sqlite_files(path),
            Place::Postgres(schema) => drop_schema(schema.clone()),
        }
    }
}

/// A child process, killed (SIGKILL) when dropped, so that a failing test leaves none
/// running.
#[derive(Debug)]
pub struct ChildProcess(Child);

impl ChildProcess {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Kills it (SIGKILL) and waits for it to end.
    pub fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
