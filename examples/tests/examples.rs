//! The README's examples, run as a user runs them: the sign-up on a fresh SQLite file
//! (twice: the file keeps the first user) and on PostgreSQL (`--url`, a schema of its
//! own), and the bank on both.

use std::path::PathBuf;
use std::process::Command;

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "herald-examples-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs example `bin` in `dir` with `args`; its standard output, which must say `expect`.
fn run(bin: &str, dir: &PathBuf, args: &[&str], expect: &[&str]) -> String {
    let output = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{bin} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in expect {
        assert!(
            stdout.contains(line),
            "{bin} {args:?} did not say {line:?}:\n{stdout}"
        );
    }
    stdout
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema on the test database, and a URL whose connections use it.
fn scratch_schema(name: &str) -> (String, String) {
    let schema = format!("herald_test_{name}_{}", std::process::id());
    let psql = |sql: &str| {
        let done = Command::new("psql")
            .args([database_url().as_str(), "-qc", sql])
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .status()
            .unwrap();
        assert!(done.success(), "psql {sql}");
    };
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    psql(&format!("CREATE SCHEMA {schema}"));
    let url = format!("{}?options=-csearch_path%3D{schema}", database_url());
    (schema, url)
}

fn drop_schema(schema: &str) {
    let _ = Command::new("psql")
        .args([
            database_url().as_str(),
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .status();
}

#[test]
fn signup_runs_on_a_fresh_sqlite_file_and_remembers() {
    let dir = scratch_dir();
    let signup = env!("CARGO_BIN_EXE_signup");
    run(
        signup,
        &dir,
        &[],
        &[
            "store: signup.db (sqlite)",
            "user.u1.created",
            "caught up: sign-ups by domain [(\"example.com\", 1)]",
            "is already signed up",
        ],
    );
    run(signup, &dir, &["--fail"], &["refused:", "stored: nothing"]);
    run(
        signup,
        &dir,
        &["--rebuild"],
        &["user.u2.created", "rebuilt signups_by_domain"],
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn signup_and_bank_run_on_postgres_with_a_url() {
    let dir = scratch_dir();
    let (schema, url) = scratch_schema("signup");
    run(
        env!("CARGO_BIN_EXE_signup"),
        &dir,
        &["--url", &url],
        &[
            "(postgres)",
            "caught up: sign-ups by domain [(\"example.com\", 1)]",
        ],
    );
    run(
        env!("CARGO_BIN_EXE_bank"),
        &dir,
        &["--url", &url],
        &["account 1 of Ada"],
    );
    drop_schema(&schema);
    let _ = std::fs::remove_dir_all(dir);
}
