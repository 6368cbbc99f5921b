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

#[event("counter.:id.added")]
struct Added {
    id: u64,
    by: i64,
    total: i64,
}

#[command("add.:id")]
struct Add {
    id: u64,
    by: i64,
}

#[aggregate(name = "counter")]
#[derive(Default)]
struct Counter {
    total: i64,
}

#[aggregate]
impl Counter {
    #[handle]
    fn add(&self, cmd: &Add) -> Result<Added, std::convert::Infallible> {
        Ok(Added {
            id: cmd.id,
            by: cmd.by,
            total: self.total + cmd.by,
        })
    }
    #[apply]
    fn added(&mut self, e: &Added) {
        self.total = e.total;
    }
}

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
