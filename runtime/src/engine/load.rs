//! Loading an aggregate: from the cache, else its newest usable snapshot, else its first
//! event, then the events after. What [`Load`](crate::Load) and the HTTP door's reads run.

use crate::BoxFuture;
use crate::engine::kernel::Kernel;
use crate::engine::step::{replay, usable_snapshot};
use crate::model::aggregate::Aggregate;
use crate::outcome::error::{Error, ErrorKind};
use crate::store::{ReplayFrom, StreamKey};

/// Where a load starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadFrom {
    /// The cache, else the newest snapshot, else the first event.
    Cache,
    /// The newest snapshot, else the first event.
    Snapshot,
    /// The first event.
    Events,
}

/// Aggregate `A` of `stream` and its stream's version.
pub(crate) async fn load<A: Aggregate>(
    kernel: &Kernel,
    stream: &StreamKey,
    from: LoadFrom,
) -> Result<(A, u64), Error> {
    let fail = |source| {
        Error::from(ErrorKind::Store {
            context: format!("loading aggregate `{}` `{}`", A::NAME, stream.stream_id()),
            source,
        })
    };
    let store = kernel.store();
    let replay_from = |from| async move { store.replay(stream, from).await.map_err(fail) };
    let cached = match from {
        LoadFrom::Cache => kernel
            .cache()
            .copy::<A>(stream)
            .map(|(v, state)| (state, v)),
        LoadFrom::Snapshot | LoadFrom::Events => None,
    };
    let snapshots = A::SNAPSHOT_EVERY != 0 && from != LoadFrom::Events;
    let (mut state, from, events) = match cached {
        Some((state, from)) => {
            let read = replay_from(ReplayFrom::Version(from)).await?;
            (state, from, read.events)
        }
        None if !snapshots => {
            let read = replay_from(ReplayFrom::Version(0)).await?;
            (A::default(), 0, read.events)
        }
        None => {
            let read = replay_from(ReplayFrom::Snapshot).await?;
            match read.snapshot.map(|s| usable_snapshot::<A>(s, stream)) {
                None => (A::default(), 0, read.events),
                Some(Some((state, from))) => (state, from, read.events),
                // A snapshot that cannot be used: the whole stream, after all.
                Some(None) => {
                    let read = replay_from(ReplayFrom::Version(0)).await?;
                    (A::default(), 0, read.events)
                }
            }
        }
    };
    let version = replay(&mut state, from, stream, &events)?;
    Ok((state, version))
}

/// Loads a row's aggregate as JSON: its state and version. Not public API.
#[doc(hidden)]
pub type LoadJsonFn =
    for<'a> fn(LoadAt<'a>) -> BoxFuture<'a, Result<(serde_json::Value, u64), Error>>;

/// Which stream a [`LoadJsonFn`] loads, on which kernel. Not public API.
#[doc(hidden)]
pub struct LoadAt<'a> {
    pub(crate) kernel: &'a Kernel,
    pub(crate) stream: &'a StreamKey,
}

/// The [`LoadJsonFn`] of `A`.
pub(crate) fn load_json<A: Aggregate>(
    at: LoadAt<'_>,
) -> BoxFuture<'_, Result<(serde_json::Value, u64), Error>> {
    Box::pin(async move {
        let (state, version) = load::<A>(at.kernel, at.stream, LoadFrom::Cache).await?;
        let state =
            crate::base::json_value::to_value(&state).map_err(|source| ErrorKind::State {
                aggregate: A::NAME,
                stream: at.stream.clone(),
                source,
            })?;
        Ok((state, version))
    })
}
