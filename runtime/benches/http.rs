//! Commands per second sent over HTTP (`POST /v1/commands/Add` through
//! `herald::http::router`, served by `herald::http::Server` on a loopback port, a bearer
//! token checked by `StaticTokens`) against the same command dispatched in process
//! (`herald.dispatch(…)`, as the same actor), on SQLite (a file) and PostgreSQL (a schema
//! of its own), with 1 and 8 clients on distinct streams. The two sides alternate, round
//! by round, so that the machine's noise hits both; the table gives the median of the
//! rounds and their ratio.
//!
//! Each client is one keep-alive connection of hyper's HTTP/1 client, driven by the task
//! that sends on it (as a load generator drives its connections): a pooled client such
//! as reqwest runs each connection in a task of its own, and every request then crosses
//! two more tasks, which costs this bench's process the time it is there to measure.
//! The runtime is tokio's default, a worker per core.
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

use axum::body::Body;
use axum::http::{Request, header};
use herald::http::{Server, StaticTokens};
use herald::{Actor, Herald};
use hyper_util::rt::TokioIo;

mod common;
mod counter;
use common::{Backend, open};
mod measure;
use counter::Add;
use measure::{cpu_seconds, median, throughput, throughput_of};

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

/// The runtime served on a free loopback port: its address, and what stops it.
async fn serve(herald: &Herald) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = herald::http::router(herald.clone(), StaticTokens::new().token(TOKEN, actor()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(listener, router).shutdown_on(async move {
        let _ = stopped.await;
    });
    tokio::spawn(async move { server.run().await.unwrap() });
    (addr, stop)
}

/// Commands per second sent over HTTP by `clients` connections to `addr` for `window`,
/// each on its own stream (`first + client`).
async fn over_http(addr: &str, clients: usize, window: Duration, first: usize) -> f64 {
    throughput_of(clients, |client, started| {
        let addr = addr.to_owned();
        async move {
            let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            let sending = async {
                let mut done = 0u64;
                while started.elapsed() < window {
                    let body = serde_json::json!({ "id": first + client, "by": done });
                    let request = Request::post("/v1/commands/Add")
                        .header(header::HOST, &addr)
                        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(body.to_string()))
                        .unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    let status = response.status();
                    let body = Body::new(response.into_body());
                    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    done += 1;
                }
                done
            };
            // The connection makes progress while this task waits for its answers.
            tokio::select! {
                done = sending => done,
                ended = connection => panic!("the connection ended: {ended:?}"),
            }
        }
    })
    .await
}

async fn row(backend: Backend, name: &str, clients: usize, window: Duration, rounds: usize) {
    let db = open(backend).await;
    let herald = Herald::builder()
        .modules([module_path!()])
        .store(db.store.clone())
        .build()
        .await
        .unwrap();
    let (addr, stop) = serve(&herald).await;
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
                let http = over_http(&addr, clients, window, prefix + 50);
                remote.push(measured(http, window).await);
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

#[tokio::main]
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
