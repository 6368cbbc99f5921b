//! Signs up users on a SQLite file kept between runs (`signup.db`) and prints each
//! command's trace: hooks, the saga step, the aggregate, the projector, the processor's
//! nested command and the dispatcher's side event; then the eventual projector catching
//! up after the commit. `--fail` makes the profile projector fail, to watch the saga's
//! compensation and see that nothing was stored.
//!
//! `--rebuild` then rebuilds the eventual projector's table from every event, aside,
//! with a progress bar, and swaps it in. `--nats` then relays every committed event to NATS JetStream (stream `SIGNUP`,
//! subjects `signup.<route>`, the server on `NATS_URL`, default `127.0.0.1:4222`), for
//! `signup-worker` to consume on another machine.
//!
//! The store is the SQLite file unless `--url` (or `HERALD_URL`) names another:
//! `--url postgres://postgres@127.0.0.1:5432/test` runs the same application on
//! PostgreSQL.
//!
//! ```text
//! cargo run -p herald-examples --bin signup
//! cargo run -p herald-examples --bin signup -- --url postgres://postgres@127.0.0.1:5432/test
//! cargo run -p herald-examples --bin signup -- --fail
//! cargo run -p herald-examples --bin signup -- --rebuild
//! cargo run -p herald-examples --bin signup -- --nats
//! ```

use std::sync::atomic::Ordering;

use herald::Herald;
use herald::nats::{Nats, Relay};
use herald::store::Position;
use herald_examples::signup::{CRM, CreateUser, FAIL_PROJECTION, create_tables, signups};

#[tokio::main]
async fn main() -> Result<(), herald::BoxError> {
    let fail = std::env::args().any(|a| a == "--fail");
    FAIL_PROJECTION.store(fail, Ordering::Relaxed);
    let url = herald_examples::store_url("signup.db");
    let herald = Herald::builder()
        .modules(["herald_examples::signup"])
        .url(&url)
        .build()
        .await?;
    println!("store: {url} ({})", herald.store().kind());
    create_tables(&herald).await?;
    let before = herald
        .store()
        .read_all(Position::START, 100_000)
        .await?
        .len();
    let signed_up = herald
        .store()
        .read_all(Position::START, 100_000)
        .await?
        .iter()
        .filter(|e| e.route.as_str().starts_with("user."))
        .count();
    let user_id = format!("u{}", signed_up + 1);
    let email = format!("Ada.{}@Example.com", signed_up + 1);

    println!(
        "create.user.{user_id} <{email}>{}\n",
        if fail { " (with --fail)" } else { "" }
    );
    match herald
        .dispatch(CreateUser {
            user_id: user_id.clone(),
            email,
            crm_reference: None,
        })
        .await
    {
        Ok(done) => {
            println!("{}", done.trace());
            let after = herald.store().read_all(Position::START, 100_000).await?;
            println!("stored:");
            for event in &after[before..] {
                println!(
                    "  {:<28} in {}  {}",
                    event.route, event.stream, event.payload
                );
            }
            // The eventual projector runs after the commit, in a worker of this runtime.
            let consumers = herald.consumers();
            let status = consumers.list().await?;
            for consumer in &status {
                println!(
                    "\neventual {} `{}`, right after the commit: {} events behind",
                    consumer.kind, consumer.name, consumer.lag
                );
            }
            let timeout = std::time::Duration::from_secs(10);
            consumers
                .wait_for(done.events(), ["signups_by_domain"], timeout)
                .await?;
            let by_domain = signups(&herald).await?;
            println!("caught up: sign-ups by domain {by_domain:?}");
        }
        Err(error) => {
            println!("refused: {error}\n");
            if let Some(trace) = error.trace() {
                println!("{trace}");
            }
            let after = herald
                .store()
                .read_all(Position::START, 100_000)
                .await?
                .len();
            println!("stored: nothing ({} events before, {after} after)", before);
        }
    }
    println!(
        "CRM registrations in this process: {:?}",
        CRM.lock().unwrap()
    );

    // The same address again is refused by the before hook.
    let again = herald
        .dispatch(CreateUser {
            user_id: format!("{user_id}-again"),
            email: "ada.1@example.com".into(),
            crm_reference: None,
        })
        .await;
    if let Err(error) = again {
        println!("\nsigning up ada.1@example.com again: {error}");
    }
    if std::env::args().any(|a| a == "--rebuild") {
        rebuild(&herald).await?;
    }
    if std::env::args().any(|a| a == "--nats") {
        relay(&herald).await?;
    }
    herald.shutdown().await;
    Ok(())
}

/// Rebuilds `signups_by_domain` aside from every event, with a progress bar, and swaps
/// it in.
async fn rebuild(herald: &Herald) -> Result<(), herald::BoxError> {
    use std::io::Write;
    println!();
    let rebuilt = herald
        .consumers()
        .rebuild("signups_by_domain")
        .on_progress(|p| {
            let width = 30;
            let filled = (p.done * width / p.total.max(1)).min(width) as usize;
            let eta = p
                .eta()
                .map_or("?".into(), |eta| format!("{:.1} s", eta.as_secs_f64()));
            eprint!(
                "\rrebuilding signups_by_domain [{}{}] {}/{} events, {:.0}/s, ETA {eta}   ",
                "#".repeat(filled),
                " ".repeat(width as usize - filled),
                p.done,
                p.total,
                p.rate()
            );
            let _ = std::io::stderr().flush();
        })
        .await?;
    eprintln!();
    println!(
        "rebuilt signups_by_domain: {} events read, {} users counted, swapped in at {}",
        rebuilt.events, rebuilt.handled, rebuilt.position
    );
    Ok(())
}

/// Publishes every committed event to JetStream, then stops once it has caught up.
async fn relay(herald: &Herald) -> Result<(), herald::BoxError> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into());
    let nats = Nats::connect(&url, "SIGNUP", "signup").await?;
    let relay = Relay::start(herald, &nats).await?;
    let head = herald.store().consumers().head().await?;
    loop {
        let checkpoints = herald.store().consumers().checkpoints().await?;
        let relayed = checkpoints.iter().find(|c| c.consumer == "relay:SIGNUP");
        if relayed.is_some_and(|c| c.position >= head) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    relay.stop().await;
    println!("\nrelayed every event to NATS at {url}: stream SIGNUP, subjects signup.<route>");
    Ok(())
}
