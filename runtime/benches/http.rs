//! Commands per second sent over HTTP (`POST /v1/commands/Add` through
//! `herald::http::router`, served by `herald::http::Server` on a loopback port, a reqwest
//! client per task with keep-alive, a bearer token checked by `StaticTokens`) against the
//! same command dispatched in process (`herald.dispatch(…)`, as the same actor), on
//! SQLite (a file) and PostgreSQL (a schema of its own), with 1 and 8 clients on distinct
//! streams. The two sides alternate, round by round, so that the machine's noise hits
//! both; the table gives the median of the rounds and their ratio.
//!
//! The server and the clients share this process, and so its cores: what the client
//! spends (building the request, parsing the answer) is time the server does not get.
//! The last two columns say what each side costs: the process's CPU time (every thread,
//! client, server and store driver) per command, from `/proc/self/stat`.
//!
//! Run: `cargo bench -p herald --features postgres,http --bench http` (`-- --quick` for
//! short rounds) (PostgreSQL from `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`).

use std::time::Duration;

use herald::http::{Server, StaticTokens};
use herald::{Actor, Herald};

mod common;
mod counter;
use common::{Backend, open};
mod measure;
use counter::Add;
use measure::{cpu_seconds, median, throughput};

const TOKEN: &str = "bench-token";

fn actor() -> Actor {
    Actor::new("bench", Actor::DEFAULT_TENANT)
}

/// Commands per second, and the CPU time per command in microseconds.
async fn measured(run: impl std::future::Future<Output = f64>, window: Duration) -> (f64, f64) {
    let cpu = cpu_seconds();
    let rate = run.await;
    let used = cpu_seconds() - cpu;
    (rate, used * 1e6 / (rate * window.as_secs_f64()))
}

/// The runtime served on a free loopback port: its base URL, and what stops it.
async fn serve(herald: &Herald) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = herald::http::router(herald.clone(), StaticTokens::new().token(TOKEN, actor()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(listener, router).shutdown_on(async move {
        let _ = stopped.await;
    });
    tokio::spawn(async move { server.run().await.unwrap() });
    (base, stop)
}

async fn row(backend: Backend, name: &str, clients: usize, window: Duration, rounds: usize) {
    let db = open(backend).await;
    let herald = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let (base, stop) = serve(&herald).await;
    let url = format!("{base}/v1/commands/Add");
    // One client per task, kept across rounds: its connection stays open (keep-alive).
    let http: Vec<reqwest::Client> = (0..clients)
        .map(|_| reqwest::Client::builder().no_proxy().build().unwrap())
        .collect();
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Distinct streams per side and round; alternate which side goes first.
        let prefix = round * 100;
        for side in [round % 2, 1 - round % 2] {
            if side == 0 {
                let h = herald.clone();
                local.push(
                    measured(
                        throughput(clients, window, move |client, i| {
                            let h = h.clone();
                            async move {
                                h.dispatch(Add {
                                    id: (prefix + client) as u64,
                                    by: i as i64,
                                })
                                .actor(actor())
                                .await
                                .unwrap();
                            }
                        }),
                        window,
                    )
                    .await,
                );
            } else {
                let (http, url) = (http.clone(), url.clone());
                remote.push(
                    measured(
                        throughput(clients, window, move |client, i| {
                            let request = http[client]
                                .post(&url)
                                .bearer_auth(TOKEN)
                                .json(&serde_json::json!({ "id": prefix + 50 + client, "by": i }));
                            async move {
                                let response = request.send().await.unwrap();
                                let status = response.status();
                                let body = response.bytes().await.unwrap();
                                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                            }
                        }),
                        window,
                    )
                    .await,
                );
            }
        }
    }
    let _ = stop.send(());
    herald.shutdown().await;
    drop(herald);
    db.remove().await;
    let cpu = |side: &[(f64, f64)]| median(side.iter().map(|s| s.1).collect());
    let (local_cpu, remote_cpu) = (cpu(&local), cpu(&remote));
    let rate = |side: &[(f64, f64)]| median(side.iter().map(|s| s.0).collect());
    let (local, remote) = (rate(&local), rate(&remote));
    println!(
        "| {name} | {clients} | {local:>8.0} | {remote:>8.0} | {:.2}x | {local_cpu:>5.0} µs | {remote_cpu:>5.0} µs |",
        remote / local
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (window, rounds) = if quick {
        (Duration::from_millis(500), 1)
    } else {
        (Duration::from_secs(2), 5)
    };
    println!("Commands per second (median of {rounds} interleaved rounds of {window:?} each)\n");
    println!(
        "| store | clients | in process, commands/s | HTTP, commands/s | HTTP / in process | CPU per command, in process | over HTTP |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (backend, name) in [
        (Backend::Sqlite, "SQLite"),
        (Backend::Postgres, "PostgreSQL"),
    ] {
        for clients in [1, 8] {
            row(backend, name, clients, window, rounds).await;
        }
    }
}
