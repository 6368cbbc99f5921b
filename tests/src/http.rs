//! A Herald runtime served over HTTP on a loopback port, for the HTTP suite, and a client.

use std::net::SocketAddr;
use std::time::Duration;

use herald::Herald;
use tokio::sync::oneshot;

/// A server on `127.0.0.1` with a free port, stopped when dropped.
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The port's address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Served {
    /// Serves `router` for `herald`.
    pub async fn start(herald: Herald, router: axum::Router) -> Served {
        Self::start_with(herald, router, |server| server).await
    }

    /// Serves `router`, configured by `configure`.
    pub async fn start_with(
        herald: Herald,
        router: axum::Router,
        configure: impl FnOnce(herald::http::Server) -> herald::http::Server,
    ) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("its address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = herald::http::Server::new(listener, router)
            .herald(herald)
            .grace(Duration::from_secs(5))
            .shutdown_on(async move {
                let _ = stopped.await;
            });
        let done = tokio::spawn(configure(server).run());
        Served {
            base: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// `base` and `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its OpenAPI document, `GET /v1/openapi.json` (served to anyone).
    pub async fn openapi(&self) -> serde_json::Value {
        client()
            .get(self.url("/v1/openapi.json"))
            .send()
            .await
            .expect("the document")
            .json()
            .await
            .expect("JSON")
    }

    /// Starts the graceful shutdown and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("the server task").expect("the server");
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client for the suite: no proxy, a timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}
