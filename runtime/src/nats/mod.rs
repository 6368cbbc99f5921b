//! Several machines: committed events carried by NATS JetStream (feature `nats`).
//!
//! A [`Relay`] publishes every committed event of a store, in the global order, on the
//! subject `prefix.route`, with the event id as `Nats-Msg-Id`. On another machine,
//! [`RemoteWorkers`] run a runtime's eventual projectors and processors from durable
//! JetStream consumers, one per handler, filtered by subject where the handler's pattern
//! translates (and always by the pattern itself too), each event handled in a
//! transaction of that runtime's own store that also keeps the handler's checkpoint, so a
//! redelivered event is not applied twice.

mod relay;
mod remote;
mod subject;

use std::time::Duration;

use async_nats::jetstream;

use crate::outcome::error::{Error, ErrorKind};
use crate::store::StoreError;

pub use relay::Relay;
pub use remote::RemoteWorkers;

/// A connection to NATS, and the JetStream stream and subject prefix events travel on.
/// The stream takes every subject under the prefix (a stream over every subject would
/// take JetStream's own API subjects too).
///
/// ```no_run
/// # async fn run() -> Result<(), herald::Error> {
/// let nats = herald::nats::Nats::connect("127.0.0.1:4222", "SIGNUP", "signup")
///     .await?
///     .duplicate_window(std::time::Duration::from_secs(600));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Nats {
    jetstream: jetstream::Context,
    stream_name: String,
    prefix: String,
    duplicate_window: Duration,
}

impl Nats {
    /// Connects to the server at `url`, for the stream `stream` and subjects under
    /// `prefix` (letters, digits, `_` and `-`; `app`, say).
    pub async fn connect(url: &str, stream: &str, prefix: &str) -> Result<Nats, Error> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !valid(prefix) || !valid(stream) {
            return Err(nats_error(
                url,
                format!(
                    "a stream name and a subject prefix are letters, digits, `_` and `-`; got `{stream}` and `{prefix}`"
                ),
            ));
        }
        let client = async_nats::connect(url)
            .await
            .map_err(|e| nats_error(url, e))?;
        Ok(Nats {
            jetstream: jetstream::new(client),
            stream_name: stream.to_owned(),
            prefix: prefix.to_owned(),
            duplicate_window: Duration::from_secs(120),
        })
    }

    /// How long the server remembers a message id to drop a duplicate (default: two
    /// minutes, set on the stream when it is created). A relay that crashes and restarts
    /// later than this may publish its last batch twice.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The JetStream context, for what Herald does not do.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// A NATS failure, as Herald's error.
fn nats_error(context: &str, error: impl std::fmt::Display) -> Error {
    ErrorKind::Store {
        context: format!("NATS ({context})"),
        source: StoreError::Backend(error.to_string().into()),
    }
    .into()
}
