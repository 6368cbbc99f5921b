//! Splitting a consumer by stream. A handler declared with `partitions = N` is N
//! consumers in the store: each partition has its own checkpoint (`name#k/N`) and lease,
//! and takes the events of the streams that hash to it, so that several processes run
//! the handler side by side while each stream's events stay in order, in one process at a
//! time. Its dead letters stay under the handler's name: a stream, and so its letters,
//! belongs to one partition.
//!
//! Which process runs which partition comes from membership leases: each runtime running
//! the handler renews one (`name#member/N/<owner>`); the partitions are dealt round the
//! live members in owner order, and a runtime gives up the partitions dealt to another,
//! which takes them. A runtime that dies stops renewing; once its leases expire the
//! others deal its partitions among themselves.

use std::fmt;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use uuid::Uuid;

use super::consumer_store_error;
use crate::consumer::hub::Hub;
use crate::engine::handler::reaction::Reaction;
use crate::outcome::error::{Error, ErrorKind};
use crate::store::{Checkpoint, Lease, Position, StoreError, StoreTransaction, StreamKey};

/// One share of a partitioned consumer's streams: partition `index` of `count`.
///
/// An eventual handler declared with `partitions = N` is split by stream into N
/// partitions, each with its own checkpoint and lease, so that several processes run it
/// side by side. The runtimes running it deal the partitions among them (each renews a
/// membership lease in the store; a runtime gives up the partitions dealt to another),
/// and when one dies the others take its partitions once its leases run out.
/// [`Consumers::list`](crate::Consumers::list) has a row per partition.
///
/// ```
/// use herald::prelude::*;
///
/// #[event("account.:account_id.opened")]
/// struct Opened { account_id: u64 }
///
/// // Four partitions: up to four processes run it at once, each stream in one of them.
/// #[projector("account.:account_id.opened", consistency = eventual, partitions = 4)]
/// async fn statements(e: &Recorded<Opened>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
///     // … write the statement row through `cx`
///     Ok(())
/// }
///
/// async fn report(herald: &Herald) -> Result<(), herald::Error> {
///     for row in herald.consumers().list().await? {
///         if let Some(partition) = row.partition {
///             let here = if row.held { "here" } else { "elsewhere" };
///             println!("{} {partition}: at {}, run {here}", row.name, row.position);
///         }
///     }
///     Ok(())
/// }
/// ```
///
/// A stream always falls in the same partition, on every machine and in every release of
/// Herald (the hash is FNV-1a over its tenant, type and id, fixed here), so all its
/// events are handled by one partition's worker, in order. Every partition's worker reads
/// the whole global order and passes over the other partitions' streams.
///
/// Changing N moves streams between partitions: a runtime finding the handler's
/// checkpoints under another number of partitions stops its workers with
/// [`ErrorKind::Repartitioned`](crate::ErrorKind::Repartitioned), which says where they
/// were and how to go on ([`Consumers::reset`](crate::Consumers::reset), or a rebuild).
///
/// ```
/// use herald::consumer::Partition;
/// use herald::store::StreamKey;
///
/// let stream = StreamKey::new("default", "account", "42")?;
/// let partition = Partition::of(&stream, 4);
/// assert!(partition.index < 4);
/// assert_eq!(partition, Partition::of(&stream, 4)); // always the same one
/// println!("account 42 is in partition {partition}"); // "…partition 1/4", say
/// # Ok::<(), herald::store::StoreError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Partition {
    /// Which one, from 0.
    pub index: u32,
    /// How many the consumer has.
    pub count: u32,
}

impl Partition {
    /// Partition `index` of `count`, as its checkpoint's name says.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn new(index: u32, count: u32) -> Partition {
        Partition { index, count }
    }

    /// The partition of `count` (at least 1) that `stream` falls in.
    pub fn of(stream: &StreamKey, count: u32) -> Partition {
        let count = count.max(1);
        let index = (stream_hash(stream) % u64::from(count)) as u32;
        Partition { index, count }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// FNV-1a over the stream key's parts, each preceded by its length (so that no two keys
/// give the same bytes), then mixed so that the low bits spread.
fn stream_hash(stream: &StreamKey) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [stream.tenant(), stream.stream_type(), stream.stream_id()] {
        let len = (part.len() as u32).to_le_bytes();
        for byte in len.iter().chain(part.as_bytes()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // The finaliser of SplitMix64.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Where a consumer's checkpoints are: under its name, or one per partition.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) name: &'static str,
    pub(crate) partitions: u32,
}

impl Layout {
    pub(crate) fn of(handler: Reaction<'_>) -> Layout {
        let partitions = match handler {
            Reaction::Project(p, _) => p.partitions,
            Reaction::Process(p, _) => p.partitions,
            Reaction::Dispatch(..) => 1,
        };
        Layout {
            name: handler.name(),
            partitions: partitions.max(1),
        }
    }

    /// Each partition (none when it is not split) with its checkpoint's key.
    pub(crate) fn keys(&self) -> Vec<(Option<Partition>, String)> {
        if self.partitions == 1 {
            return vec![(None, self.name.to_owned())];
        }
        (0..self.partitions)
            .map(|index| {
                let partition = Partition {
                    index,
                    count: self.partitions,
                };
                (Some(partition), key(self.name, Some(partition)))
            })
            .collect()
    }

    /// The partition `stream` falls in, if the consumer is split.
    pub(crate) fn partition_of(&self, stream: &StreamKey) -> Option<Partition> {
        (self.partitions > 1).then(|| Partition::of(stream, self.partitions))
    }

    /// The key of the checkpoint that covers `stream`'s events.
    pub(crate) fn key_of(&self, stream: &StreamKey) -> String {
        key(self.name, self.partition_of(stream))
    }

    /// The checkpoints in the store that are this consumer's under another number of
    /// partitions, and not retired: left by a release that declared it otherwise.
    pub(crate) fn others<'c>(&self, checkpoints: &'c [Checkpoint]) -> Vec<&'c Checkpoint> {
        let keys = self.keys();
        checkpoints
            .iter()
            .filter(|c| self.count_of(&c.consumer).is_some() && !retired(c.position))
            .filter(|c| !keys.iter().any(|(_, k)| *k == c.consumer))
            .collect()
    }

    /// How many partitions `key` says the consumer has, if it is one of this consumer's
    /// checkpoint keys under any number of partitions (1: the whole consumer's).
    fn count_of(&self, key: &str) -> Option<u32> {
        let rest = key.strip_prefix(self.name)?;
        if rest.is_empty() {
            return Some(1);
        }
        let (index, count) = rest.strip_prefix('#')?.split_once('/')?;
        let number = |s: &str| match s.bytes().all(|b| b.is_ascii_digit()) {
            true => s.parse::<u32>().ok(),
            false => None,
        };
        number(index)?;
        number(count)
    }

    /// The store's checkpoints, once they are seen to hold none of this consumer under
    /// another number of partitions (see [`check`](Self::check)).
    pub(crate) async fn verify(&self, hub: &Hub) -> Result<Vec<Checkpoint>, Error> {
        let checkpoints = hub
            .store()
            .consumers()
            .checkpoints()
            .await
            .map_err(consumer_store_error(self.name, "reading its checkpoints"))?;
        self.check(&checkpoints)?;
        Ok(checkpoints)
    }

    /// An error when the store holds this consumer's checkpoints under another number of
    /// partitions: its streams were split otherwise, so going on would handle some events
    /// twice and skip others. Says how to move on.
    pub(crate) fn check(&self, checkpoints: &[Checkpoint]) -> Result<(), Error> {
        let others = self.others(checkpoints);
        let Some(first) = others.first() else {
            return Ok(());
        };
        let keys: Vec<String> = others.iter().map(|c| format!("`{}`", c.consumer)).collect();
        // A partition of the old layout without a checkpoint had not moved from the start.
        let counts = others.iter().filter_map(|c| self.count_of(&c.consumer));
        let expected: usize = counts
            .collect::<std::collections::BTreeSet<u32>>()
            .iter()
            .map(|&n| n as usize)
            .sum();
        let missing = others.len() < expected;
        let low = match missing {
            true => Position::START,
            false => others
                .iter()
                .map(|c| c.position)
                .min()
                .unwrap_or(first.position),
        };
        let high = others.iter().map(|c| c.position).max().unwrap_or(low);
        let how = if low == high {
            format!(
                "they are all at {low}: once no process runs the old layout, \
                 `consumers().reset(\"{name}\", position)` with that position goes on from there, \
                 nothing handled twice",
                name = self.name
            )
        } else {
            format!(
                "they range from {low}{unmoved} to {high}: once no process runs the old layout, \
                 rebuild a projector (`consumers().rebuild(\"{name}\")`), or reset it \
                 (`consumers().reset(\"{name}\", position)`) to {low} to handle again what some \
                 partitions already did",
                unmoved = if missing {
                    " (a partition without a checkpoint)"
                } else {
                    ""
                },
                name = self.name
            )
        };
        Err(ErrorKind::Repartitioned(format!(
            "consumer `{name}` is declared with {declared}, but the store holds its checkpoints \
             {keys}, of another layout: its streams would fall in other partitions, some events \
             handled twice and others skipped; {how}",
            name = self.name,
            declared = match self.partitions {
                1 => "no partitions".to_owned(),
                n => format!("{n} partitions"),
            },
            keys = keys.join(", "),
        ))
        .into())
    }
}

/// What a reset or a rebuild sees of a consumer's layouts before it moves them: the
/// store's checkpoints, and the leases not yet expired on the consumer's keys.
pub(crate) struct Seen {
    checkpoints: Vec<Checkpoint>,
    leases: Vec<Lease>,
}

impl Layout {
    /// Reads the checkpoints and the leases (none, from a store that cannot list them).
    pub(crate) async fn look(&self, hub: &Hub) -> Result<Seen, Error> {
        let log = hub.store().consumers();
        let fail = || consumer_store_error(self.name, "reading its checkpoints and leases");
        let checkpoints = log.checkpoints().await.map_err(fail())?;
        let leases = match log.leases(self.name).await {
            Ok(leases) => leases,
            Err(StoreError::Unsupported(_)) => Vec::new(),
            Err(error) => return Err(fail()(error)),
        };
        Ok(Seen {
            checkpoints,
            leases,
        })
    }

    /// Whether `key` is a checkpoint key of this consumer under another number of
    /// partitions.
    fn is_other(&self, key: &str) -> bool {
        self.count_of(key).is_some_and(|n| n != self.partitions)
    }

    /// An error when a runtime still runs this consumer under another number of
    /// partitions (holds a lease on a key of that layout that is not retired): it would
    /// go on beside this one.
    pub(crate) fn check_none_run_otherwise(&self, seen: &Seen) -> Result<(), Error> {
        let retired_key =
            |key: &str| (seen.checkpoints.iter()).any(|c| c.consumer == key && retired(c.position));
        let running =
            (seen.leases.iter()).find(|l| self.is_other(&l.consumer) && !retired_key(&l.consumer));
        match running {
            Some(lease) => Err(ErrorKind::Repartitioned(format!(
                "runtime {owner} still runs consumer `{name}` under another number of partitions \
                 (it holds `{key}`): stop the processes of the old release first (a stopped \
                 runtime gives its leases up; a killed one's run out)",
                owner = lease.owner,
                name = self.name,
                key = lease.consumer,
            ))
            .into()),
            None => Ok(()),
        }
    }

    /// Moves every checkpoint of the consumer to `position`, in `tx`, and retires every
    /// key of each other layout `seen` (in a checkpoint or a lease), those of its
    /// partitions without a checkpoint yet included: each is claimed first, so that the
    /// workers wait, and sees the move when they go on. A retired checkpoint stands past
    /// every event: a worker still running the old layout (of an older Herald, even)
    /// reads nothing more.
    pub(crate) async fn move_to(
        &self,
        tx: &mut dyn StoreTransaction,
        seen: &Seen,
        position: Position,
    ) -> Result<(), StoreError> {
        self.move_each(tx, seen, |_| position).await
    }

    /// [`move_to`](Self::move_to), each checkpoint of this layout to the position
    /// `position_of` its key gives.
    pub(crate) async fn move_each(
        &self,
        tx: &mut dyn StoreTransaction,
        seen: &Seen,
        position_of: impl Fn(&str) -> Position + Send,
    ) -> Result<(), StoreError> {
        let keys_seen = (seen.checkpoints.iter().map(|c| c.consumer.as_str()))
            .chain(seen.leases.iter().map(|l| l.consumer.as_str()));
        let counts: std::collections::BTreeSet<u32> = keys_seen
            .filter(|key| self.is_other(key))
            .filter_map(|key| self.count_of(key))
            .collect();
        let others: Vec<String> = counts
            .into_iter()
            .flat_map(|partitions| {
                let old = Layout {
                    name: self.name,
                    partitions,
                };
                old.keys().into_iter().map(|(_, key)| key)
            })
            .collect();
        let mut keys: Vec<String> = self.keys().into_iter().map(|(_, key)| key).collect();
        keys.extend(others.iter().cloned());
        // Always in the same order, so that two moves at once wait rather than deadlock.
        keys.sort();
        for key in &keys {
            tx.claim_consumer(key).await?;
        }
        for key in keys {
            let to = if others.contains(&key) {
                RETIRED
            } else {
                position_of(&key)
            };
            tx.save_checkpoint(&key, to).await?;
        }
        Ok(())
    }
}

/// Where a retired checkpoint stands: past any event on every store (PostgreSQL and
/// SQLite keep a position's parts as `BIGINT`s, so the largest of those).
const RETIRED: Position = Position::from_parts(i64::MAX as u64, i64::MAX as u64);

/// That checkpoint `key` of consumer `name` was retired by a reset or rebuild of a
/// release with another number of partitions.
#[cfg(feature = "nats")]
pub(crate) fn retired_error(name: &str, key: &str) -> Error {
    ErrorKind::Repartitioned(format!(
        "checkpoint `{key}` of consumer `{name}` was retired by a reset or rebuild of a release \
         with another number of partitions: this runtime runs an old release of it"
    ))
    .into()
}

/// Whether a checkpoint was retired (SQLite gives back only the second part).
pub(crate) fn retired(position: Position) -> bool {
    position.parts().1 == RETIRED.parts().1
}

/// The checkpoint (and lease) key of a consumer's partition, or of the whole consumer.
pub(crate) fn key(name: &str, partition: Option<Partition>) -> String {
    match partition {
        Some(Partition { index, count }) => format!("{name}#{index}/{count}"),
        None => name.to_owned(),
    }
}

/// The runtimes running a partitioned consumer with as many partitions as this one, as
/// this one last saw them: shared by the consumer's workers in this runtime, renewed and
/// read again when a worker looks and the last look is a third of a lease old.
pub(crate) struct Members {
    /// `name#member/N/`: the membership leases' common prefix. A runtime of a release
    /// with another number of partitions is not a member: it runs none of these.
    prefix: String,
    seen: Mutex<Option<(Instant, Vec<Uuid>)>>,
}

impl Members {
    pub(crate) fn new(layout: Layout) -> Members {
        Members {
            prefix: format!("{}#member/{}/", layout.name, layout.partitions),
            seen: Mutex::new(None),
        }
    }

    /// This runtime's membership lease's key.
    pub(crate) fn key(&self, owner: Uuid) -> String {
        format!("{}{owner}", self.prefix)
    }

    /// Renews this runtime's membership and returns the live members, in owner order
    /// (this runtime among them).
    async fn live(&self, hub: &Hub, ttl: Duration) -> Result<Vec<Uuid>, Error> {
        let mut seen = self.seen.lock().await;
        if let Some((at, members)) = &*seen
            && at.elapsed() < ttl / 3
        {
            return Ok(members.clone());
        }
        let asked = Instant::now();
        let owner = hub.owner();
        let log = hub.store().consumers();
        let fail = || consumer_store_error(&self.prefix, "renewing its membership");
        log.lease(&self.key(owner), owner, ttl)
            .await
            .map_err(fail())?;
        let leases = log.leases(&self.prefix).await.map_err(fail())?;
        let mut members: Vec<Uuid> = leases.into_iter().map(|l| l.owner).collect();
        members.push(owner);
        members.sort();
        members.dedup();
        *seen = Some((asked, members.clone()));
        Ok(members)
    }

    /// Whether `partition` is dealt to this runtime among the live members.
    pub(crate) async fn dealt_here(
        &self,
        hub: &Hub,
        partition: Partition,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let members = self.live(hub, ttl).await?;
        let dealt = members[partition.index as usize % members.len()];
        Ok(dealt == hub.owner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(id: &str) -> StreamKey {
        StreamKey::new("default", "account", id).unwrap()
    }

    fn checkpoint(consumer: &str, seq: u64) -> Checkpoint {
        Checkpoint {
            consumer: consumer.into(),
            position: Position::from_parts(0, seq),
            updated_at: std::time::SystemTime::now(),
        }
    }

    #[test]
    fn a_stream_always_falls_in_the_same_partition() {
        // Fixed values: a change of the hash would move streams between partitions of
        // consumers already running.
        let found: Vec<u32> = ["1", "2", "3", "42", "ada"]
            .iter()
            .map(|id| Partition::of(&stream(id), 8).index)
            .collect();
        assert_eq!(found, [3, 6, 6, 3, 1]);
        assert_eq!(Partition::of(&stream("42"), 1).index, 0);
    }

    #[test]
    fn streams_spread_over_the_partitions() {
        let mut counts = [0u32; 4];
        for id in 0..4000 {
            counts[Partition::of(&stream(&id.to_string()), 4).index as usize] += 1;
        }
        for count in counts {
            assert!((800..1200).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn the_parts_of_a_key_do_not_run_together() {
        let a = StreamKey::new("ab", "c", "d").unwrap();
        let b = StreamKey::new("a", "bc", "d").unwrap();
        assert_ne!(stream_hash(&a), stream_hash(&b));
    }

    #[test]
    fn keys_name_each_partition() {
        let layout = Layout {
            name: "totals",
            partitions: 2,
        };
        let keys: Vec<String> = layout.keys().into_iter().map(|(_, k)| k).collect();
        assert_eq!(keys, ["totals#0/2", "totals#1/2"]);
        let single = Layout {
            name: "totals",
            partitions: 1,
        };
        assert_eq!(single.keys(), [(None, "totals".to_owned())]);
        assert_eq!(single.key_of(&stream("1")), "totals");
    }

    #[test]
    fn another_layouts_checkpoints_are_refused_with_the_way_on() {
        let layout = Layout {
            name: "totals",
            partitions: 2,
        };
        let store = [
            checkpoint("totals", 7),
            checkpoint("totals#0/2", 9),
            checkpoint("totals_by_day", 3),   // another consumer
            checkpoint("totals#member/x", 3), // not a checkpoint key
        ];
        let others: Vec<&str> = layout
            .others(&store)
            .iter()
            .map(|c| c.consumer.as_str())
            .collect();
        assert_eq!(others, ["totals"]);
        let error = layout.check(&store).unwrap_err().to_string();
        assert!(error.contains("declared with 2 partitions"), "{error}");
        assert!(error.contains("`totals`"), "{error}");
        assert!(error.contains("reset(\"totals\", position)"), "{error}");

        let single = Layout {
            name: "totals",
            partitions: 1,
        };
        let store = [checkpoint("totals#0/4", 5), checkpoint("totals#1/4", 8)];
        let error = single.check(&store).unwrap_err().to_string();
        assert!(error.contains("declared with no partitions"), "{error}");
        assert!(error.contains("range from"), "{error}");
        assert!(single.check(&[checkpoint("totals", 1)]).is_ok());

        // A partition of the old layout that never moved has no checkpoint: the way on
        // starts from the start, not from the others' common place.
        let store = [checkpoint("totals#0/3", 5), checkpoint("totals#2/3", 5)];
        let error = single.check(&store).unwrap_err().to_string();
        assert!(
            error.contains("from 0:0 (a partition without a checkpoint) to 0:5"),
            "{error}"
        );
    }

    /// A reset retires every key of each layout it sees, in a checkpoint or only in a
    /// lease: a partition of the old layout that has not saved yet gets a retired one too.
    #[test]
    fn moving_retires_every_key_of_each_other_layout() {
        use crate::store::{EventStore, MemoryStore};
        let run = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        run.block_on(async {
            let store = MemoryStore::new();
            let whole = Layout {
                name: "totals",
                partitions: 1,
            };
            let seen = Seen {
                checkpoints: vec![checkpoint("totals#0/3", 4), checkpoint("totals_daily", 2)],
                leases: vec![Lease {
                    consumer: "totals#0/2".into(),
                    owner: Uuid::nil(),
                }],
            };
            let mut tx = store.begin().await.unwrap();
            let at = Position::from_parts(0, 4);
            whole.move_to(&mut *tx, &seen, at).await.unwrap();
            tx.commit().await.unwrap();
            let moved: Vec<(String, bool)> = (store.consumers().checkpoints().await.unwrap())
                .into_iter()
                .map(|c| (c.consumer, retired(c.position)))
                .collect();
            let expected = [
                ("totals", false),
                ("totals#0/2", true),
                ("totals#0/3", true),
                ("totals#1/2", true),
                ("totals#1/3", true),
                ("totals#2/3", true),
            ];
            let expected: Vec<(String, bool)> =
                expected.iter().map(|(k, r)| (k.to_string(), *r)).collect();
            assert_eq!(moved, expected);
        });
    }

    #[test]
    fn retired_checkpoints_are_no_layout_of_their_own() {
        let layout = Layout {
            name: "totals",
            partitions: 2,
        };
        let retired = Checkpoint {
            position: RETIRED,
            ..checkpoint("totals", 0)
        };
        // SQLite gives back only the second part.
        let from_sqlite = Checkpoint {
            position: Position::from_parts(0, RETIRED.parts().1),
            ..checkpoint("totals#1/4", 0)
        };
        assert!(layout.check(&[retired, from_sqlite]).is_ok());
    }
}
