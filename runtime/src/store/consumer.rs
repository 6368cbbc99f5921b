//! What the store keeps for the consumers of the global order: a checkpoint each, and
//! the events they parked (dead letters). Both are written in the consumer's own
//! transaction, beside what its handler writes, so that a crash never separates them.

use crate::BoxFuture;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::model::record::{Position, RecordedEvent, StreamKey};
use crate::store::contract::StoreError;

/// Where a consumer is in the global order.
///
/// ```
/// use herald::store::{EventStore, MemoryStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = MemoryStore::new();
/// for checkpoint in store.consumers().checkpoints().await? {
///     println!("{} at {}", checkpoint.consumer, checkpoint.position);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The consumer's name (its handler's).
    pub consumer: String,
    /// The last event it is done with (processed, skipped as not its own, or parked).
    pub position: Position,
    /// When it last moved.
    pub updated_at: SystemTime,
}

/// An event a consumer gave up on, parked until someone retries or skips it (see
/// [`Consumers`](crate::consumer::Consumers)).
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// for letter in herald.consumers().dead_letters("statements").await? {
///     match letter.behind {
///         Some(head) => println!("{} waits behind {head}", letter.route),
///         None => println!("{} failed {} times: {}", letter.route, letter.attempts, letter.error),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The consumer that parked it.
    pub consumer: String,
    /// The parked event.
    pub event_id: Uuid,
    /// Its place in the global order.
    pub position: Position,
    /// Its stream.
    pub stream: StreamKey,
    /// Its concrete route.
    pub route: String,
    /// The last error, or why it waits (behind another event of its stream).
    pub error: String,
    /// How many times the handler ran on it (0 when it was parked behind another).
    pub attempts: u32,
    /// The earlier parked event of the same stream that it waits behind, if any.
    pub behind: Option<Uuid>,
    /// When it was first tried (or parked).
    pub first_failed_at: SystemTime,
    /// When it was last tried (or parked).
    pub last_failed_at: SystemTime,
    /// The event itself, kept with the letter so that it can be retried where the store
    /// does not hold it (a remote worker's store, whose events come from NATS). `None`
    /// for letters parked by an older Herald: their events are read from the store.
    pub event: Option<Box<RecordedEvent>>,
}

/// A runtime's hold on a consumer (see [`ConsumerLog::lease`]).
///
/// ```
/// use herald::store::{EventStore, MemoryStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = MemoryStore::new();
/// let owner = herald::Uuid::now_v7();
/// let log = store.consumers();
/// assert!(log.lease("statements", owner, std::time::Duration::from_secs(5)).await?);
/// let leases = log.leases("state").await?;
/// assert_eq!((leases[0].consumer.as_str(), leases[0].owner), ("statements", owner));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// What is held: a consumer's name, or one of its partitions' keys.
    pub consumer: String,
    /// The runtime holding it ([`Herald::owner`](crate::Herald) when it is one of Herald's).
    pub owner: Uuid,
}

/// What the store knows of its consumers, read outside any transaction.
///
/// ```
/// use herald::store::{EventStore, MemoryStore, Position};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::store::StoreError> {
/// let store = MemoryStore::new();
/// let log = store.consumers();
/// assert_eq!(log.head().await?, Position::START);
/// assert_eq!(log.count_after(Position::START).await?, 0);
/// # Ok(()) }
/// ```
pub trait ConsumerLog: Send + Sync {
    /// Every consumer's checkpoint, by name.
    fn checkpoints(&self) -> BoxFuture<'_, Result<Vec<Checkpoint>, StoreError>>;

    /// The events `consumer` parked, in global order.
    fn dead_letters<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>>;

    /// The committed event with this id.
    fn event(&self, event_id: Uuid) -> BoxFuture<'_, Result<Option<RecordedEvent>, StoreError>>;

    /// The position of the last event a reader of the global order can read now: where
    /// a reader that wants only new events starts.
    fn head(&self) -> BoxFuture<'_, Result<Position, StoreError>>;

    /// How many committed events come after `position` in the global order.
    fn count_after(&self, position: Position) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// How many committed events come after `position`, counting no further than
    /// `limit`: the SQL stores stop reading there, so that the answer costs at most
    /// `limit` rows however long the log is.
    fn count_after_at_most(
        &self,
        position: Position,
        limit: u64,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.count_after(position).await?.min(limit)) })
    }

    /// Takes or renews the lease on `consumer` for `owner` for `ttl`, unless another
    /// owner holds one that has not expired; whether `owner` holds it now. A lease says
    /// which runtime runs a consumer: one at a time, another taking over once the holder
    /// stops renewing.
    fn lease<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The leases not yet expired on the consumers whose names start with `prefix`, by
    /// name: which runtime runs what. Stores that cannot say so.
    fn leases<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Lease>, StoreError>> {
        let _ = prefix;
        Box::pin(async {
            Err(StoreError::Unsupported(
                "this store cannot list leases".into(),
            ))
        })
    }

    /// Gives up `owner`'s lease on `consumer`, so that another runtime takes it at once.
    fn release<'a>(
        &'a self,
        consumer: &'a str,
        owner: Uuid,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// A signal that changes whenever events commit: in this process, and on PostgreSQL
    /// in any process sharing the database.
    fn commits(&self) -> watch::Receiver<u64>;
}
