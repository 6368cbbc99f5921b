//! The sign-up application's eventual handlers on another machine: consumes the events
//! `signup --nats` relayed to NATS JetStream (the server on `NATS_URL`, default
//! `127.0.0.1:4222`) from a durable consumer per handler, and runs them on a store of its
//! own (`signup-worker.db`, or the one `--url` or `HERALD_URL` names), each event once. Stops when no event came for three seconds;
//! run it again later and it goes on where it stopped.
//!
//! ```text
//! cargo run -p herald-examples --bin signup -- --nats
//! cargo run -p herald-examples --bin signup-worker
//! ```

use std::time::Duration;

use herald::Herald;
use herald::nats::{Nats, RemoteWorkers};
use herald_examples::signup::{create_tables, signups};

#[tokio::main]
async fn main() -> Result<(), herald::BoxError> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into());
    // The application's own registrations; its events come from NATS, not from this
    // store, so the runtime's local workers stay off.
    let herald = Herald::builder()
        .modules(["herald_examples::signup"])
        .url(herald_examples::store_url("signup-worker.db"))
        .run_consumers(false)
        .build()
        .await?;
    create_tables(&herald).await?;
    let nats = Nats::connect(&url, "SIGNUP", "signup").await?;
    let workers = RemoteWorkers::start(&herald, &nats).await?;
    println!("consuming stream SIGNUP from NATS at {url}");

    let mut last = None;
    let mut quiet = 0;
    while quiet < 30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let checkpoints = herald.store().consumers().checkpoints().await?;
        let now = checkpoints
            .iter()
            .find(|c| c.consumer == "signups_by_domain")
            .map(|c| c.position);
        if now == last {
            quiet += 1;
        } else {
            (last, quiet) = (now, 0);
            if let Some(at) = now {
                println!("  signups_by_domain handled events up to {at}");
            }
        }
    }
    workers.stop().await;
    let by_domain = signups(&herald).await?;
    println!("no event for 3 s; sign-ups by domain on this machine: {by_domain:?}");
    Ok(())
}
