//! Dispatching, as the caller configures it: the actor, ids, the expected version and
//! the consumers to wait for; the engine runs the command, in a transaction of its own
//! or in the caller's.

use std::future::IntoFuture;

use uuid::Uuid;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::engine::cache::Lookup;
use crate::engine::dispatch::{
    self, Dispatched, Finished, Options, Reader, Steps, first_result, prepare, steps, undo,
};
use crate::engine::handler::saga::Saga;
use crate::engine::handler::{Alone, AnyCommand};
use crate::engine::step::store_error;
use crate::facade::runtime::Herald;
use crate::facade::transaction::HeraldTransaction;
use crate::model::command::Command;
use crate::outcome::error::{Error, ErrorKind};
use crate::outcome::trace::{Operation, Tracer};

/// A command on its way: add an actor, ids or an expected version, then `.await` it.
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::Actor;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let opened = herald
///     .dispatch(OpenAccount { account_id: 42 })
///     .actor(Actor::new("ada", "acme"))
///     .expected_version(0) // the account must not exist yet
///     .await?;
/// assert_eq!(opened.version(), 1);
/// assert_eq!(opened.events()[0].route.as_str(), "account.42.opened");
/// # Ok(()) }
/// ```
#[must_use = "a dispatch does nothing until it is awaited"]
pub struct Dispatch<'a, C> {
    target: Target<'a>,
    command: C,
    options: Options,
    /// Eventual consumers to wait for after the commit, and for how long at most.
    wait_for: Option<(Vec<String>, std::time::Duration)>,
}

/// Where a dispatch runs: in a transaction of its own, or in the caller's.
pub(crate) enum Target<'a> {
    Runtime(&'a Herald),
    Transaction(&'a mut HeraldTransaction),
}

impl<'a, C: Command> Dispatch<'a, C> {
    pub(crate) fn new(target: Target<'a>, command: C) -> Self {
        Self::configured(target, command, Options::default(), None)
    }

    /// A dispatch configured already (a [`Record`](crate::Record) hands its event here).
    pub(crate) fn configured(
        target: Target<'a>,
        command: C,
        options: Options,
        wait_for: Option<(Vec<String>, std::time::Duration)>,
    ) -> Self {
        Dispatch {
            target,
            command,
            options,
            wait_for,
        }
    }

    /// Who sends the command (default: [`Actor::system`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.options.actor = Some(actor);
        self
    }

    /// The command's id (default: a new UUID v7). Dispatching a command with an id that
    /// was already committed runs nothing and returns the first result
    /// ([`Dispatched::is_repeat`]); the same id with another payload is an error.
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.options.command_id = Some(id);
        self
    }

    /// The correlation id its events carry (default: the command id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.options.correlation_id = Some(id);
        self
    }

    /// After the commit, waits until these eventual consumers have processed the
    /// command's events (and those of its [reactions](Dispatched::caused)), so that the caller can read what they write (see
    /// [`Consumers::wait_for`](crate::Consumers::wait_for)); waiting longer than `timeout`
    /// is an error (the command stays committed). Only for a dispatch in a transaction of
    /// its own: inside [`HeraldTransaction`] nothing is committed yet to wait for.
    pub fn wait_for<I, S>(mut self, consumers: I, timeout: std::time::Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let consumers = consumers.into_iter().map(Into::into).collect();
        self.wait_for = Some((consumers, timeout));
        self
    }

    /// The W3C trace context of the request that sends the command, stored with its
    /// events ([`Metadata::traceparent`](crate::store::Metadata::traceparent)) for the
    /// eventual consumers' traces to link to (see [`telemetry`](crate::telemetry)). The
    /// HTTP door passes the request's `traceparent`; with the `otel` feature and none
    /// given, the context of the dispatch's own span is stored.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use herald::telemetry::TraceParent;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let opened = herald
    ///     .dispatch(OpenAccount { account_id: 43 })
    ///     .trace_parent(TraceParent::parse(header).unwrap())
    ///     .await?;
    /// assert_eq!(opened.events()[0].metadata.traceparent.as_deref(), Some(header));
    /// # Ok(()) }
    /// ```
    pub fn trace_parent(mut self, parent: crate::telemetry::TraceParent) -> Self {
        self.options.trace_parent = Some(parent.to_string());
        self
    }

    /// The version the caller last saw of the aggregate's stream (0: it must not exist).
    /// Another version is a conflict, returned at once and never retried.
    pub fn expected_version(mut self, version: u64) -> Self {
        self.options.expected_version = Some(version);
        self
    }
}

impl<'a, C: Command> IntoFuture for Dispatch<'a, C> {
    type Output = Result<Dispatched, Error>;
    type IntoFuture = BoxFuture<'a, Result<Dispatched, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        let Dispatch {
            target,
            mut command,
            options,
            wait_for,
        } = self;
        Box::pin(async move {
            let (herald, dispatched) = match target {
                Target::Runtime(herald) => (
                    Some(herald),
                    dispatch::alone(herald.kernel(), &mut command, options).await,
                ),
                Target::Transaction(_) if wait_for.is_some() => {
                    let error = ErrorKind::Store {
                        context: format!("dispatching `{}` in a transaction", C::NAME),
                        source: crate::store::StoreError::Unsupported(
                            "`wait_for` waits for a commit: call `herald.consumers().wait_for(…)` after committing the transaction".into(),
                        ),
                    };
                    let tracer = Tracer::new(Operation::Dispatch, C::NAME);
                    (None, dispatch::finish::<C>(tracer, Err(error.into())))
                }
                Target::Transaction(tx) => {
                    let mut tracer = Tracer::new(Operation::Dispatch, C::NAME);
                    let result =
                        in_callers_transaction(tx, &mut command, options, &mut tracer).await;
                    (None, dispatch::finish::<C>(tracer, result))
                }
            };
            let dispatched = dispatched?;
            if let (Some(herald), Some((names, timeout))) = (herald, wait_for) {
                // Its reactions' events too: a read model may be fed by those.
                let committed: Vec<_> = dispatched
                    .events()
                    .iter()
                    .chain(dispatched.caused())
                    .cloned()
                    .collect();
                herald
                    .consumers()
                    .wait_for(&committed, &names, timeout)
                    .await?;
            }
            Ok(dispatched)
        })
    }
}

/// A command sent by name with its JSON (see [`Herald::dispatch_json`]): add an actor,
/// ids or an expected version, then `.await` it.
#[must_use = "a dispatch does nothing until it is awaited"]
pub struct JsonDispatch<'a> {
    herald: &'a Herald,
    command: Box<dyn AnyCommand>,
    options: Options,
}

impl<'a> JsonDispatch<'a> {
    pub(crate) fn new(herald: &'a Herald, command: Box<dyn AnyCommand>) -> Self {
        JsonDispatch {
            herald,
            command,
            options: Options::default(),
        }
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        self.command.name()
    }

    /// Who sends the command (see [`Dispatch::actor`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.options.actor = Some(actor);
        self
    }

    /// The command's id (see [`Dispatch::command_id`]).
    pub fn command_id(mut self, id: Uuid) -> Self {
        self.options.command_id = Some(id);
        self
    }

    /// The correlation id its events carry (default: the command id).
    pub fn correlation_id(mut self, id: Uuid) -> Self {
        self.options.correlation_id = Some(id);
        self
    }

    /// The W3C trace context of the request that sends the command (see
    /// [`Dispatch::trace_parent`]).
    pub fn trace_parent(mut self, parent: crate::telemetry::TraceParent) -> Self {
        self.options.trace_parent = Some(parent.to_string());
        self
    }

    /// The version the caller last saw of the aggregate's stream (see
    /// [`Dispatch::expected_version`]).
    pub fn expected_version(mut self, version: u64) -> Self {
        self.options.expected_version = Some(version);
        self
    }
}

impl<'a> IntoFuture for JsonDispatch<'a> {
    type Output = Result<Dispatched, Error>;
    type IntoFuture = BoxFuture<'a, Result<Dispatched, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        let alone = Alone {
            kernel: self.herald.kernel(),
            options: self.options,
        };
        self.command.run_alone(alone)
    }
}

/// A dispatch in the caller's transaction, undone to a savepoint if it fails.
async fn in_callers_transaction<C: Command>(
    htx: &mut HeraldTransaction,
    command: &mut C,
    options: Options,
    tracer: &mut Tracer,
) -> Result<Finished, Error> {
    let kernel = htx.kernel();
    let prepared = prepare(&kernel, command, options, tracer).await?;
    let fail_store = |source| store_error(C::NAME, &prepared.route, source);
    let (tx, own, pending) = htx.parts();
    let cache = Lookup {
        own: Some(own),
        committed: kernel.cache(),
    };
    let savepoint = tx.savepoint().await.map_err(fail_store)?;
    let mut saga = Saga::new(&kernel);
    let result = steps(
        &kernel, &mut *tx, cache, command, &prepared, tracer, &mut saga,
    )
    .await;
    let undone = match &result {
        Ok(Steps::Done(..)) => tx.release(savepoint).await,
        _ => {
            tracer
                .time(Operation::Rollback, None, tx.rollback_to(savepoint))
                .await
        }
    };
    // A failed dispatch keeps its own error (the failed rollback shows in its trace,
    // and leaves the transaction unable to commit), and its saga is reversed now.
    let ran = match result {
        Ok(ran) => ran,
        Err(error) => {
            if let Err(failed) = &undone {
                // Its writes could not be undone: the transaction must not commit them.
                htx.poison(format!(
                    "a failed dispatch of `{}` could not be undone: {failed}",
                    C::NAME
                ));
            }
            return Err(undo(&kernel, saga, error, tracer).await);
        }
    };
    // The rest of the saga waits for the transaction: done on commit, reversed otherwise.
    pending.append(saga);
    undone.map_err(fail_store)?;
    match ran {
        // `steps` kept the aggregate in the transaction's cache.
        Steps::Done(stepped, caused) => {
            htx.finished(prepared.envelope_ids.0);
            Ok(Finished::Done(prepared, stepped, caused))
        }
        // Read in the transaction: the first run may be in it, not committed yet.
        Steps::Repeat(earlier) => {
            first_result::<C>(Reader::Transaction(tx), &prepared, earlier).await
        }
    }
}
