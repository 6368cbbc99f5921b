//! One WebSocket connection: its messages in, its frames out. Each subscription starts a
//! task that authorizes the join and reads the store (`follow.rs`); live events come
//! from the hub, straight into the connection's queue.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, header};
use futures_util::SinkExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::ChannelSettings;
use super::follow::Follow;
use super::hub::{ChannelHub, Out};
use super::protocol::{self, Id, Incoming, Refused};
use crate::base::actor::Actor;
use crate::engine::handler::Join;
use crate::http::door::Door;
use crate::http::wire;
use crate::route::Pattern;
use crate::store::Position;

/// The close codes the server uses (see `docs/channels.md`).
pub(crate) mod code {
    /// The server shuts down; resume elsewhere or later.
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// A frame over the size limit.
    pub(crate) const TOO_BIG: u16 = 1009;
    /// No or bad credentials, or none in time.
    pub(crate) const UNAUTHENTICATED: u16 = 4001;
    /// The client reads too slowly: the server could not write for the write timeout.
    pub(crate) const TOO_SLOW: u16 = 4008;
}

/// A subscription of the connection.
struct Sub {
    id: Id,
    follow: Arc<Follow>,
    /// The task that joins and reads the store first.
    task: tokio::task::JoinHandle<()>,
    /// The position of the last event written to the socket for it.
    written: Option<Position>,
}

/// Runs one connection until it closes, the client's or the server's doing.
pub(crate) async fn run(
    mut socket: WebSocket,
    door: Door,
    settings: Arc<ChannelSettings>,
    actor: Option<Actor>,
) {
    let hub = ChannelHub::of(&door.herald, settings.buffer);
    let (_open, mut closing) = hub.open();
    // The shutdowns so far; the next one closes this socket.
    let opened = *closing.borrow_and_update();
    let mut connection = Connection {
        door,
        settings: settings.clone(),
        hub,
        actor,
        subs: HashMap::new(),
        ids: HashMap::new(),
        next_key: 0,
        reading: Arc::new(Semaphore::new(1)),
    };
    let (tx, mut rx) = mpsc::channel::<Out>(settings.send_queue.max(1));
    let deadline = Instant::now() + settings.auth_timeout;
    loop {
        let waiting_for_auth = connection.actor.is_none();
        tokio::select! {
            // Unbiased: a busy stream of frames does not keep the client's messages
            // (an `unsubscribe`) waiting, nor they the frames.
            changed = closing.changed() => {
                if changed.is_err() || *closing.borrow_and_update() != opened {
                    connection.close(&mut socket, code::GOING_AWAY, "the server shuts down", true).await;
                    break;
                }
            }
            () = tokio::time::sleep_until(deadline), if waiting_for_auth => {
                let reason = format!(
                    "authenticate within {} s: send {{\"type\":\"auth\",\"token\":\"…\"}}",
                    settings.auth_timeout.as_secs_f64()
                );
                connection.close(&mut socket, code::UNAUTHENTICATED, &reason, false).await;
                break;
            }
            out = rx.recv() => {
                let Some(out) = out else { break };
                if !connection.write_all(&mut socket, out, &mut rx).await {
                    break;
                }
            }
            message = socket.recv() => {
                let message = match message {
                    None => break,
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        // tungstenite refuses a frame over the limit before reading it.
                        if error.to_string().contains("Space limit exceeded") {
                            let reason = format!("frames are at most {} bytes", settings.max_message);
                            connection.close(&mut socket, code::TOO_BIG, &reason, false).await;
                        }
                        break;
                    }
                };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Binary(_) => {
                        let refused = Refused::new(None, "bad_message", "messages are JSON text frames, not binary");
                        if !connection.reply(&mut socket, protocol::error(&refused)).await { break }
                        continue;
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                if text.len() > settings.max_message {
                    let reason = format!("frames are at most {} bytes", settings.max_message);
                    connection.close(&mut socket, code::TOO_BIG, &reason, false).await;
                    break;
                }
                let go_on = match protocol::read(&text) {
                    Ok(incoming) => connection.handle(&mut socket, incoming, &tx).await,
                    Err(refused) => connection.reply(&mut socket, protocol::error(&refused)).await,
                };
                if !go_on {
                    break;
                }
            }
        }
    }
    for sub in connection.subs.values() {
        sub.follow.end();
        sub.task.abort();
    }
}

struct Connection {
    door: Door,
    settings: Arc<ChannelSettings>,
    hub: Arc<ChannelHub>,
    actor: Option<Actor>,
    /// The live subscriptions, by key.
    subs: HashMap<u64, Sub>,
    /// The key of each live subscription's id.
    ids: HashMap<Id, u64>,
    next_key: u64,
    /// Held by the subscription reading a page from the store: one page of the
    /// connection in memory at a time, however many subscriptions catch up.
    reading: Arc<Semaphore>,
}

impl Connection {
    /// Handles one message; `false` when the connection is to end.
    async fn handle(
        &mut self,
        socket: &mut WebSocket,
        incoming: Incoming,
        tx: &mpsc::Sender<Out>,
    ) -> bool {
        let actor = match (&self.actor, &incoming) {
            (None, Incoming::Auth { token }) => {
                return match authenticate(&self.door, token).await {
                    Ok(actor) => {
                        let reply = protocol::authenticated(&actor);
                        self.actor = Some(actor);
                        self.reply(socket, reply).await
                    }
                    Err(message) => {
                        self.close(socket, code::UNAUTHENTICATED, &message, false)
                            .await;
                        false
                    }
                };
            }
            (Some(_), Incoming::Auth { .. }) => {
                let refused = Refused::new(
                    None,
                    "already_authenticated",
                    "this connection is authenticated already",
                );
                return self.reply(socket, protocol::error(&refused)).await;
            }
            (_, Incoming::Ping) => {
                return self.reply(socket, "{\"type\":\"pong\"}".to_owned()).await;
            }
            (None, _) => {
                let refused = Refused::new(
                    None,
                    "unauthenticated",
                    "authenticate first: {\"type\":\"auth\",\"token\":\"…\"}",
                );
                return self.reply(socket, protocol::error(&refused)).await;
            }
            (Some(actor), _) => actor.clone(),
        };
        match incoming {
            Incoming::Subscribe {
                id,
                channel,
                pattern,
                after,
            } => match self.subscribe(actor, id, &channel, &pattern, after.as_deref(), tx) {
                Ok(()) => true,
                Err(refused) => self.reply(socket, protocol::error(&refused)).await,
            },
            Incoming::Unsubscribe { id } => match self.ids.remove(&id) {
                Some(key) => {
                    if let Some(sub) = self.subs.remove(&key) {
                        sub.follow.end();
                        sub.task.abort();
                    }
                    self.reply(socket, protocol::unsubscribed(&id)).await
                }
                None => {
                    let refused = Refused::new(
                        Some(id),
                        "unknown_subscription",
                        "this connection has no subscription with this id",
                    );
                    self.reply(socket, protocol::error(&refused)).await
                }
            },
            Incoming::Auth { .. } | Incoming::Ping => true,
        }
    }

    /// Checks a subscription and starts its task, which answers `subscribed` or `error`.
    fn subscribe(
        &mut self,
        actor: Actor,
        id: Id,
        channel: &str,
        pattern: &str,
        after: Option<&str>,
        tx: &mpsc::Sender<Out>,
    ) -> Result<(), Refused> {
        let refuse = |code, message: String| Refused::new(Some(id.clone()), code, message);
        if self.ids.contains_key(&id) {
            return Err(refuse("duplicate_id", "this connection has a subscription with this id already; unsubscribe it first or take another id".into()));
        }
        if self.subs.len() >= self.settings.max_subscriptions {
            return Err(refuse(
                "too_many_subscriptions",
                format!(
                    "a connection holds at most {} subscriptions",
                    self.settings.max_subscriptions
                ),
            ));
        }
        let Some((row, patterns)) = self.door.herald.registry().channel_named(channel) else {
            return Err(refuse(
                "unknown_channel",
                format!("no channel is named `{}`", channel.escape_debug()),
            ));
        };
        let asked =
            Pattern::parse(pattern).map_err(|error| refuse("bad_pattern", error.to_string()))?;
        let Some((within, params)) = patterns.iter().find_map(|outer| {
            asked.within(outer).map(|fixed| {
                let params = fixed
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value.map(str::to_owned)))
                    .collect::<Vec<_>>();
                (outer, params)
            })
        }) else {
            let list: Vec<String> = patterns.iter().map(|p| format!("`{p}`")).collect();
            return Err(refuse(
                "outside_channel",
                format!(
                    "pattern `{pattern}` is not within channel `{channel}`'s patterns ({}): every route it matches must match one of them",
                    list.join(", ")
                ),
            ));
        };
        let after = match after {
            None => None,
            Some(text) => Some(
                wire::parse_position(text, "after")
                    .map_err(|_| refuse("bad_position", format!("`after` is not a position this server wrote (they look like `v1.0.42`): `{}`", text.escape_debug())))?,
            ),
        };
        let tenant = actor.tenant().to_owned();
        let join = Join::new(row.name, actor, asked.clone(), within, params);
        let key = self.next_key;
        self.next_key += 1;
        let follow = Arc::new(Follow {
            herald: self.door.herald.clone(),
            hub: self.hub.clone(),
            row,
            key,
            head: protocol::event_head(&id),
            id: id.clone(),
            pattern: asked,
            tenant,
            tx: tx.clone(),
            reading: self.reading.clone(),
            ended: AtomicBool::new(false),
            listener: OnceLock::new(),
        });
        let task = tokio::spawn(follow.clone().run(join, after));
        self.ids.insert(id.clone(), key);
        self.subs.insert(
            key,
            Sub {
                id,
                follow,
                task,
                written: None,
            },
        );
        Ok(())
    }

    /// Writes `first` and whatever else the subscriptions queued meanwhile (at most
    /// [`BATCH`] frames), flushing the socket once: one write for many frames when the
    /// connection is busy. `false` when the socket is gone.
    async fn write_all(
        &mut self,
        socket: &mut WebSocket,
        first: Out,
        rx: &mut mpsc::Receiver<Out>,
    ) -> bool {
        // The positions written, applied once the flush went through.
        let mut written: Vec<(u64, Position)> = Vec::new();
        let mut next = Some(first);
        let mut frames = 0;
        let fed = async {
            while let Some(out) = next.take() {
                match out {
                    Out::Gone { key } => {
                        if let Some(sub) = self.subs.remove(&key) {
                            self.ids.remove(&sub.id);
                        }
                    }
                    // Unsubscribed meanwhile: its queued frames are dropped.
                    Out::Frame { key, .. } if !self.subs.contains_key(&key) => {}
                    Out::Frame {
                        key,
                        position,
                        text,
                    } => {
                        socket.feed(Message::Text(text.into())).await?;
                        frames += 1;
                        if let Some(at) = position {
                            written.push((key, at));
                        }
                    }
                }
                if frames < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            socket.flush().await
        };
        let flushed = tokio::time::timeout(self.settings.write_timeout, fed).await;
        match flushed {
            Ok(Ok(())) => {
                for (key, at) in written {
                    if let Some(sub) = self.subs.get_mut(&key) {
                        sub.written = Some(at);
                    }
                }
                true
            }
            Ok(Err(_)) => false,
            // What was fed may not have reached the client: the positions told are those
            // of the frames flushed before.
            Err(_) => {
                let reason = "too slow: resume each subscription after its last event";
                self.close(socket, code::TOO_SLOW, reason, true).await;
                false
            }
        }
    }

    /// Sends one frame, for at most the write timeout; past it the client is too slow,
    /// and the connection closes. `false` when the connection is to end.
    async fn reply(&mut self, socket: &mut WebSocket, text: String) -> bool {
        match tokio::time::timeout(
            self.settings.write_timeout,
            socket.send(Message::Text(text.into())),
        )
        .await
        {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                let reason = "too slow: resume each subscription after its last event";
                self.close(socket, code::TOO_SLOW, reason, true).await;
                false
            }
        }
    }

    /// Says where each subscription stopped (when `tell` is set), then closes with `code`.
    async fn close(&mut self, socket: &mut WebSocket, code: u16, reason: &str, tell: bool) {
        let mut positions: Vec<(Id, Option<Position>)> = self
            .subs
            .values()
            .map(|s| (s.id.clone(), s.written))
            .collect();
        positions.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        let last = positions.iter().filter_map(|(_, at)| *at).max();
        // A close frame's reason is at most 123 bytes: the last position fits, the
        // `closing` message before it has each subscription's.
        let reason = match last {
            Some(at) if tell => format!("{}; last {}", short(reason, 64), wire::position(at)),
            _ => short(reason, 123).to_owned(),
        };
        let send = async {
            if tell {
                let closing = protocol::closing(code, &reason, &positions);
                socket.send(Message::Text(closing.into())).await?;
            }
            let frame = CloseFrame {
                code,
                reason: short(&reason, 123).to_owned().into(),
            };
            socket.send(Message::Close(Some(frame))).await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
    }
}

/// `reason` cut to at most `bytes` (a close frame holds 123), on a char boundary.
fn short(reason: &str, bytes: usize) -> &str {
    let mut end = reason.len().min(bytes);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Authenticates the token of an `auth` message with the door's authentication, as the
/// `Authorization: Bearer` header of a request.
async fn authenticate(door: &Door, token: &str) -> Result<Actor, String> {
    let value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the token is not printable text".to_owned())?;
    let (mut parts, ()) = Request::get("/v1/channels")
        .body(())
        .expect("a request")
        .into_parts();
    parts.headers.insert(header::AUTHORIZATION, value);
    let parts: Parts = parts;
    door.auth
        .authenticate(&parts)
        .await
        .map_err(|rejection| rejection.message().to_owned())
}

/// How many queued frames one flush of the socket takes at most.
const BATCH: usize = 64;
