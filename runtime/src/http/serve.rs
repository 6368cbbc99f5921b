//! Serving a router: HTTP/1.1 and HTTP/2 on a TCP listener, with timeouts for slow
//! clients and a graceful shutdown on Ctrl-C or SIGTERM.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::facade::runtime::Herald;

/// Serves a router until a shutdown signal, then stops gracefully: it accepts no more
/// connections, lets the requests in flight finish (for at most the grace period), and
/// stops the runtime's consumers after their batch.
///
/// ```no_run
/// # async fn run(herald: herald::Herald) -> std::io::Result<()> {
/// use herald::http::{Server, StaticTokens};
/// let router = herald::http::router(herald.clone(), StaticTokens::new());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// Server::new(listener, router).herald(herald).run().await
/// # }
/// ```
///
/// TLS: terminate it in front (a load balancer, or a proxy such as Caddy or nginx on the
/// same host) and have it forward plain HTTP to this server on a private address.
#[must_use = "a server does nothing until it runs"]
pub struct Server {
    listener: TcpListener,
    router: Router,
    herald: Option<Herald>,
    header_read_timeout: Duration,
    grace: Duration,
    shutdown: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Server {
    /// Serves `router` on `listener`.
    pub fn new(listener: TcpListener, router: Router) -> Self {
        Server {
            listener,
            router,
            herald: None,
            header_read_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(30),
            shutdown: None,
        }
    }

    /// The runtime whose consumers stop with the server.
    pub fn herald(mut self, herald: Herald) -> Self {
        self.herald = Some(herald);
        self
    }

    /// How long a client has to send a request's headers, the first on a connection and
    /// each after it, so an idle or slow connection is closed (default: 10 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long requests in flight may run once shutdown starts (default: 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Stops when `signal` completes instead of on Ctrl-C or SIGTERM.
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Serves until shutdown, then stops as described above. An error accepting a
    /// connection (the process has no descriptors left, say) is logged and the server
    /// goes on.
    pub async fn run(self) -> std::io::Result<()> {
        let Server {
            listener,
            router,
            herald,
            header_read_timeout,
            grace,
            shutdown,
        } = self;
        let mut signal = pin!(async move {
            match shutdown {
                Some(signal) => signal.await,
                None => terminated().await,
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(header_read_timeout));
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "could not accept a connection");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    // Each answer goes out at once, not held back to be joined with
                    // the next (Nagle's algorithm).
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "could not set TCP_NODELAY");
                    }
                    let service = TowerToHyperService::new(router.clone());
                    let (builder, watcher) = (builder.clone(), graceful.watcher());
                    tokio::spawn(async move {
                        // Telling HTTP/1 from HTTP/2 reads before hyper's own timeout
                        // starts: a client that sends nothing is dropped here.
                        if !speaks_within(&stream, header_read_timeout).await {
                            return;
                        }
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service);
                        if let Err(error) = watcher.watch(connection.into_owned()).await {
                            tracing::debug!(%error, "a connection ended with an error");
                        }
                    });
                }
                () = &mut signal => break,
            }
        }
        drop(listener);
        // Channel sockets are upgraded connections, which the graceful shutdown does not
        // see: each closes with 1001 and the positions its subscriptions stopped at.
        if let Some(herald) = &herald {
            crate::http::channels::close_all(herald, grace).await;
        }
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "requests were still in flight when the grace period ended"
            );
        }
        if let Some(herald) = herald {
            herald.shutdown().await;
        }
        Ok(())
    }
}

/// HTTP/2's connection preface: until a client's first bytes differ from it, or it is
/// whole, the protocol is not known.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `stream` sends enough to tell its protocol within `timeout`.
async fn speaks_within(stream: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let mut first = [0u8; PREFACE.len()];
    let told = async {
        loop {
            match stream.peek(&mut first).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n == PREFACE.len() || first[..n] != PREFACE[..n] => return true,
                // A prefix of the preface: wait for more.
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(timeout, told).await.unwrap_or(false)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn terminated() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
