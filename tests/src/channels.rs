//! A WebSocket client of the channels' endpoint (`/v1/channels`, `herald.v1`), for the
//! channels suite: real frames over a real socket on a loopback port.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::http::Served;

/// How long a client waits for a frame before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A connection to a server's channels.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended, from the client's side.
#[derive(Debug)]
pub enum Ended {
    /// The server closed with this frame.
    Closed(Option<CloseFrame>),
    /// The connection dropped without a close frame.
    Dropped(String),
}

impl Client {
    /// Connects with `Authorization: Bearer <token>` (or no header when `None`) and the
    /// subprotocol `herald.v1`.
    pub async fn connect(served: &Served, token: Option<&str>) -> Client {
        Self::connect_with(served, token, &[])
            .await
            .expect("a channel socket")
    }

    /// Connects with extra headers; the error of a refused upgrade.
    pub async fn connect_with(
        served: &Served,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Client, Error> {
        let url = format!("ws://{}/v1/channels", served.addr);
        let mut request = url.into_client_request()?;
        let h = request.headers_mut();
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("herald.v1"),
        );
        if let Some(token) = token {
            h.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).expect("a header"),
            );
        }
        for (name, value) in headers {
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("a header name");
            h.insert(name, HeaderValue::from_str(value).expect("a header"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Client { socket })
    }

    /// Connects with a receive buffer of about `bytes` (the kernel's floor applies): a
    /// client whose socket fills quickly when it does not read.
    pub async fn connect_small(served: &Served, token: &str, bytes: u32) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .set_recv_buffer_size(bytes)
            .expect("a receive buffer size");
        let stream = socket.connect(served.addr).await.expect("connected");
        let url = format!("ws://{}/v1/channels", served.addr);
        let mut request = url.into_client_request().expect("a request");
        let h = request.headers_mut();
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("herald.v1"),
        );
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("a header"),
        );
        let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("upgraded");
        Client { socket }
    }

    /// Sends `message` as a text frame.
    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    /// Sends `text` as it is.
    pub async fn send_text(&mut self, text: String) {
        self.socket.send(Message::text(text)).await.expect("sent");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(Message::binary(bytes))
            .await
            .expect("sent");
    }

    /// Subscribes and returns the confirmation or error.
    pub async fn subscribe(
        &mut self,
        id: &str,
        channel: &str,
        pattern: &str,
        after: Option<&str>,
    ) -> Value {
        let mut message =
            json!({"type": "subscribe", "id": id, "channel": channel, "pattern": pattern});
        if let Some(after) = after {
            message["after"] = json!(after);
        }
        self.send(message).await;
        self.next().await
    }

    /// The next JSON message; panics when none comes in time or the socket closes.
    pub async fn next(&mut self) -> Value {
        match self.next_within(PATIENCE).await {
            Ok(Some(value)) => value,
            Ok(None) => panic!("no message within {PATIENCE:?}"),
            Err(ended) => panic!("the socket ended: {ended:?}"),
        }
    }

    /// The next JSON message within `wait`, `Ok(None)` when none came, or how the socket
    /// ended.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, Ended> {
        loop {
            let next = match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Ok(Some(
                        serde_json::from_str(&text).expect("JSON from the server"),
                    ));
                }
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame)),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(Ended::Dropped(error.to_string())),
                None => return Err(Ended::Dropped("end of stream".into())),
            }
        }
    }

    /// The next `n` event frames, in order (panics on anything else).
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            let message = self.next().await;
            assert_eq!(message["type"], "event", "{message}");
            events.push(message);
        }
        events
    }

    /// Asserts that no message comes within `wait`.
    pub async fn nothing_within(&mut self, wait: Duration) {
        match self.next_within(wait).await {
            Ok(None) => {}
            Ok(Some(value)) => panic!("expected nothing, got {value}"),
            Err(ended) => panic!("the socket ended: {ended:?}"),
        }
    }

    /// The messages until the socket ends, and how it ended.
    pub async fn until_closed(&mut self) -> (Vec<Value>, Ended) {
        let mut messages = Vec::new();
        loop {
            match self.next_within(PATIENCE).await {
                Ok(Some(value)) => messages.push(value),
                Ok(None) => {
                    panic!("the socket did not close within {PATIENCE:?}; got {messages:?}")
                }
                Err(ended) => return (messages, ended),
            }
        }
    }

    /// Closes the connection from the client's side.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
