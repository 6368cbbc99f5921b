//! Instructions a dispatch costs, counted by callgrind, which repeats to the instruction
//! where wall-clock figures on a shared machine do not. Runs N commands over 10 streams on
//! a SQLite file (or PostgreSQL with `CG_PG=<url>`); run it with two N and take the
//! difference, so that start-up cancels out:
//!
//! ```text
//! cargo bench -p herald --features postgres --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> 100
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> 300
//! # (Ir(300) - Ir(100)) / 200 = instructions per dispatch, in this process
//! ```
use herald::prelude::*;

mod counter;
use counter::Add;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let path = std::env::temp_dir().join(format!("herald-instructions-{}.db", std::process::id()));
    let builder = Herald::builder().modules(["instructions"]);
    let builder = match std::env::var("CG_PG") {
        Ok(url) => builder.store(herald::store::PostgresStore::connect(&url).await.unwrap()),
        Err(_) => builder.store(herald::store::SqliteStore::open(&path).await.unwrap()),
    };
    let herald = builder.build().await.unwrap();
    for i in 0..n {
        herald.dispatch(Add { id: i % 10, by: 1 }).await.unwrap();
    }
    let _ = std::fs::remove_file(&path);
}
