//! Channels over WebSocket: `GET /v1/channels` with the subprotocol `herald.v1`. The
//! protocol is specified in `docs/channels.md`; in short, a client authenticates (as for
//! every route, or with a first `auth` message), subscribes to a [`#[channel]`](crate::channel)
//! with a pattern within the channel's, optionally from a position it already has, and
//! receives each matching committed event of its tenant, in the global order, once.

mod follow;
mod hub;
mod protocol;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::door::Door;
use crate::http::problem::Problem;
use hub::ChannelHub;

/// Each socket's read buffer, in bytes (a larger message grows it while it is read).
/// Small, because tungstenite zeroes it before each read, and a socket is read each time
/// its task wakes to write frames: 8 KiB made that memset 4 % of a busy server's time.
/// A client's messages (`auth`, `subscribe`) fit in one or two reads.
const READ_BUFFER: usize = 1024;

/// The subprotocol of the channels' WebSocket endpoint.
pub const SUBPROTOCOL: &str = "herald.v1";

/// The limits of the channels' WebSocket endpoint, given to
/// [`Api::channels`](crate::http::Api::channels).
///
/// ```
/// use std::time::Duration;
/// use herald::http::ChannelSettings;
/// let settings = ChannelSettings::new()
///     .max_subscriptions(16)
///     .max_message(4096)
///     .auth_timeout(Duration::from_secs(3));
/// # let _ = settings;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ChannelSettings {
    pub(crate) max_subscriptions: usize,
    pub(crate) max_message: usize,
    pub(crate) auth_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) buffer: usize,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            max_subscriptions: 64,
            max_message: 16 * 1024,
            auth_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            send_queue: 256,
            buffer: 4096,
        }
    }
}

impl ChannelSettings {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many subscriptions one connection may hold at once (default: 64); one more is
    /// an error `too_many_subscriptions`.
    pub fn max_subscriptions(mut self, subscriptions: usize) -> Self {
        self.max_subscriptions = subscriptions.max(1);
        self
    }

    /// The largest message a client may send, in bytes (default: 16 KiB); a larger one
    /// closes the connection with 1009.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes.max(64);
        self
    }

    /// How long a connection that did not authenticate on its upgrade request has to
    /// send its `auth` message (default: 5 s); then it closes with 4001.
    pub fn auth_timeout(mut self, timeout: Duration) -> Self {
        self.auth_timeout = timeout;
        self
    }

    /// How long writing one frame may take before the client counts as too slow and the
    /// connection closes with 4008 (default: 10 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// How many frames wait for a connection's socket at most (default: 256). When the
    /// hub finds a subscription's queue full, the subscription reads what it missed from
    /// the store and then goes on live: a slow client never holds up the others.
    pub fn send_queue(mut self, frames: usize) -> Self {
        self.send_queue = frames.max(1);
        self
    }

    /// How many events the runtime's hub keeps for a subscription while it reads the
    /// store, when it joins and after its queue was full (default: 4,096); past that it
    /// reads on from the store. The hub is one per runtime: the first router that serves
    /// channels for it sets this.
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.max(1);
        self
    }
}

/// `GET /v1/channels`: the upgrade to a WebSocket speaking `herald.v1`.
pub(crate) async fn upgrade(State(door): State<Door>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &door).await {
        Ok(ws) => ws,
        Err(rejection) => {
            let status = rejection.status();
            return Problem::new(status, "websocket_upgrade", rejection.body_text())
                .into_response();
        }
    };
    if !ws
        .requested_protocols()
        .any(|p| p.as_bytes() == SUBPROTOCOL.as_bytes())
    {
        return Problem::bad_request(
            "subprotocol",
            format!(
                "ask for the subprotocol `{SUBPROTOCOL}` (`Sec-WebSocket-Protocol: {SUBPROTOCOL}`)"
            ),
        )
        .into_response();
    }
    // A browser sends its cookies to a WebSocket any page opens: with cookie
    // credentials, only the allowed origins may open one.
    if door.auth.uses_cookies()
        && let Some(origin) = parts.headers.get(header::ORIGIN)
        && !door.settings.origins.contains(origin)
    {
        let detail = format!(
            "origin `{}` may not open a channel socket with cookie credentials",
            String::from_utf8_lossy(origin.as_bytes()).escape_debug()
        );
        return Problem::new(StatusCode::FORBIDDEN, "cross_origin", detail).into_response();
    }
    // Credentials on the request are checked now; without them (a browser cannot set
    // `Authorization` on a WebSocket) the first message authenticates.
    let actor = match door.auth.authenticate(&parts).await {
        Ok(actor) => Some(actor),
        Err(rejection) if parts.headers.contains_key(header::AUTHORIZATION) => {
            return Problem::from(rejection).into_response();
        }
        Err(rejection) if Problem::from(rejection.clone()).status() == StatusCode::FORBIDDEN => {
            return Problem::from(rejection).into_response();
        }
        Err(_) => None,
    };
    let settings = Arc::new(door.settings.channels.clone());
    ws.protocols([SUBPROTOCOL])
        .max_message_size(settings.max_message)
        .max_frame_size(settings.max_message)
        // A client sends small messages: tungstenite's default read buffer (128 KiB,
        // taken when the socket opens) would cost 1.3 GB for 10,000 sockets.
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| socket::run(socket, door, settings, actor))
}

/// Closes every channel socket of `herald` with 1001, each told where its subscriptions
/// stopped, and waits for them, at most `grace`: the server's shutdown.
pub(crate) async fn close_all(herald: &crate::Herald, grace: Duration) {
    if let Some(hub) = herald.door_if::<ChannelHub>() {
        hub.close_all(grace).await;
    }
}
