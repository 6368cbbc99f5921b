//! Remote consumers: futoin's registered reliable consumers, for programs outside the
//! process (the HTTP door serves them). Each is registered by a tenant under a name with
//! route patterns, polls its tenant's matching events after its checkpoint, in the global
//! order, and acknowledges positions; its checkpoint lives in the store, so a client that
//! crashes resumes where it acknowledged, and archiving waits for it like for any
//! consumer.

use std::future::IntoFuture;
use std::time::{Duration, Instant, SystemTime};

use super::{Consumers, Hub};
use crate::BoxFuture;
use crate::outcome::error::{Error, ErrorKind};
use crate::route::Pattern;
use crate::store::{
    EventStore, MAX_KEY_LEN, Page, Position, RemoteRegistration, StoreError, remote_of_checkpoint,
};

/// Events read from the store per look.
const SCAN_PAGE: usize = 500;

/// The most events one poll (or one read, or one count of lag) looks at: a reader whose
/// events are rare gets an empty page with [`Page::next`] past the ones looked at.
pub const SCAN_BUDGET: usize = 10_000;

/// The longest name of a remote consumer, in bytes.
const MAX_NAME_LEN: usize = 128;

/// The remote consumers of one tenant: register, poll, acknowledge, list, delete. Get
/// them with [`Consumers::remote`]. A tenant sees only its own: another tenant's
/// consumer of the same name is another consumer, and asking for a name the tenant has
/// not registered is [`ErrorKind::UnknownConsumer`], whoever else has one.
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let remote = herald.consumers().remote("default");
/// remote.register("billing", ["account.*"]).await?;
/// herald.dispatch(OpenAccount { account_id: 1 }).await?;
///
/// let page = remote.poll("billing", 100).await?;
/// assert_eq!(page.events[0].route.as_str(), "account.1.opened");
/// // Done with them: the next poll starts after them, in this process or another.
/// remote.acknowledge("billing", page.next).await?;
/// assert!(remote.poll("billing", 100).await?.events.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RemoteConsumers<'h> {
    hub: &'h Hub,
    tenant: String,
}

/// A remote consumer as [`RemoteConsumers::list`] reports it.
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let remote = herald.consumers().remote("default");
/// remote.register("billing", ["account.*"]).await?;
/// for consumer in remote.list().await? {
///     let acked = consumer.acked_at.map_or("never".into(), |t| format!("{t:?}"));
///     println!("{} at {} ({} behind), last acknowledged {acked}", consumer.name, consumer.position, consumer.lag);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteConsumer {
    /// The tenant whose events it reads.
    pub tenant: String,
    /// Its name, unique in its tenant.
    pub name: String,
    /// The route patterns it reads (none: every route of its tenant).
    pub patterns: Vec<Pattern>,
    /// Its checkpoint: the last position it acknowledged (where it started, before it
    /// acknowledged any).
    pub position: Position,
    /// How many of its events (its tenant's, matching its patterns) come after its
    /// checkpoint, counted over at most [`SCAN_BUDGET`] events of the global order.
    pub lag: u64,
    /// When it was registered.
    pub registered_at: SystemTime,
    /// When it last acknowledged a position that moved its checkpoint.
    pub acked_at: Option<SystemTime>,
}

/// What [`RemoteConsumers::register`] did: the consumer, and whether it is new (`false`:
/// it was registered already, with the same patterns, and keeps its checkpoint).
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// let remote = herald.consumers().remote("default");
/// assert!(remote.register("billing", ["account.*"]).await?.created);
/// assert!(!remote.register("billing", ["account.*"]).await?.created);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registered {
    /// The consumer, as registered.
    pub consumer: RemoteConsumer,
    /// Whether this call registered it.
    pub created: bool,
}

pub use crate::store::Acknowledged;

/// A registration being made: `.await` it, after [`from_now`](Self::from_now) if it
/// should not read the events committed before. Made by [`RemoteConsumers::register`].
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// # let herald = herald().await;
/// herald.dispatch(OpenAccount { account_id: 1 }).await?;
/// let remote = herald.consumers().remote("default");
/// remote.register("audit", ["*"]).from_now().await?;
/// assert!(remote.poll("audit", 10).await?.events.is_empty());
/// # Ok(()) }
/// ```
#[must_use = "a registration does nothing until it is awaited"]
#[derive(Debug)]
pub struct Register<'r> {
    remote: &'r RemoteConsumers<'r>,
    name: String,
    patterns: Vec<String>,
    from_now: bool,
}

impl Register<'_> {
    /// Starts a new consumer at the current head of the global order, so that it reads
    /// only the events committed from now on (a registered one keeps its checkpoint).
    pub fn from_now(mut self) -> Self {
        self.from_now = true;
        self
    }
}

impl<'r> IntoFuture for Register<'r> {
    type Output = Result<Registered, Error>;
    type IntoFuture = BoxFuture<'r, Result<Registered, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.remote.registered(self).await })
    }
}

impl<'h> Consumers<'h> {
    /// The remote consumers of `tenant`: the one an authenticated caller belongs to
    /// ([`Actor::tenant`](crate::Actor::tenant)), never one it names itself.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let actor = herald::Actor::new("ada", "acme");
    /// let remote = herald.consumers().remote(actor.tenant());
    /// assert!(remote.list().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn remote(&self, tenant: impl Into<String>) -> RemoteConsumers<'h> {
        RemoteConsumers {
            hub: self.hub,
            tenant: tenant.into(),
        }
    }
}

impl<'h> RemoteConsumers<'h> {
    /// The tenant whose consumers these are.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Registers consumer `name` (ASCII letters, digits, `_`, `-` and `.`, at most 128
    /// bytes) with route `patterns` (no pattern: every route), reading from the start of
    /// the global order, or from its head with [`from_now`](Register::from_now). Its
    /// checkpoint is in the store from now on, and holds archiving back until it
    /// acknowledges.
    ///
    /// Registering again is fine: with the same patterns (in any order) it returns the
    /// consumer as it is, checkpoint and all; with others it is
    /// [`ErrorKind::ConsumerRegistered`] (delete it first to change them). A pattern that
    /// does not parse is [`ErrorKind::Pattern`], naming what is wrong.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use herald::ErrorKind;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("acme");
    /// remote.register("billing", ["account.*.opened", "account.*.closed"]).await?;
    /// let again = remote.register("billing", ["account.*.closed", "account.*.opened"]).await?;
    /// assert!(!again.created);
    /// let other = remote.register("billing", ["account.*"]).await.unwrap_err();
    /// assert!(matches!(other.kind(), ErrorKind::ConsumerRegistered { .. }));
    /// let bad = remote.register("typo", ["account..opened"]).await.unwrap_err();
    /// assert!(matches!(bad.kind(), ErrorKind::Pattern { .. }), "{bad}");
    /// # Ok(()) }
    /// ```
    pub fn register<I, S>(&self, name: &str, patterns: I) -> Register<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Register {
            remote: self,
            name: name.to_owned(),
            patterns: patterns
                .into_iter()
                .map(|p| p.as_ref().to_owned())
                .collect(),
            from_now: false,
        }
    }

    /// Consumer `name` of this tenant.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("acme");
    /// remote.register("billing", ["account.*"]).await?;
    /// assert_eq!(remote.get("billing").await?.position, herald::store::Position::START);
    /// assert!(remote.get("payroll").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, name: &str) -> Result<RemoteConsumer, Error> {
        let found = self.registration(name).await?;
        self.status(found).await
    }

    /// This tenant's consumers, by name.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// herald.consumers().remote("acme").register("billing", ["account.*"]).await?;
    /// assert_eq!(herald.consumers().remote("acme").list().await?.len(), 1);
    /// assert!(herald.consumers().remote("globex").list().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<RemoteConsumer>, Error> {
        let found = self.log_call("listing remote consumers", |log| {
            log.registrations(&self.tenant)
        });
        let mut listed = Vec::new();
        for registration in found.await? {
            listed.push(self.status(registration).await?);
        }
        Ok(listed)
    }

    /// At most `limit` events for consumer `name` after its checkpoint: its tenant's,
    /// whose routes match its patterns, in the global order (read through to the
    /// archive for the events moved there). Polling again without acknowledging gives
    /// the same events again.
    ///
    /// [`Page::next`] is where the next poll would start: the last event returned when
    /// the page is full, else the last event looked at (matching or not). Acknowledge it
    /// once the events are handled, even when the page is empty, so that the checkpoint
    /// moves past the events that were not the consumer's. One poll looks at no more than
    /// [`SCAN_BUDGET`] events, so a page may be empty while events of its own come
    /// further on: poll again.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("default");
    /// remote.register("openings", ["account.*.opened"]).await?;
    /// herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// herald.dispatch(Deposit { account_id: 1, amount: 5 }).await?;
    /// herald.dispatch(OpenAccount { account_id: 2 }).await?;
    /// let page = remote.poll("openings", 1).await?;
    /// assert_eq!(page.events[0].route.as_str(), "account.1.opened");
    /// remote.acknowledge("openings", page.next).await?;
    /// let page = remote.poll("openings", 10).await?; // past the deposit
    /// assert_eq!(page.events[0].route.as_str(), "account.2.opened");
    /// # Ok(()) }
    /// ```
    pub async fn poll(&self, name: &str, limit: usize) -> Result<Page, Error> {
        self.poll_after(name, Position::START, limit).await
    }

    /// [`poll`](Self::poll), after `after` when it is past the checkpoint: for a client
    /// that reads on before it acknowledges what it read.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("default");
    /// remote.register("billing", ["account.*"]).await?;
    /// herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// herald.dispatch(Deposit { account_id: 1, amount: 5 }).await?;
    /// let first = remote.poll("billing", 1).await?;
    /// let second = remote.poll_after("billing", first.next, 1).await?;
    /// assert_eq!(second.events[0].route.as_str(), "account.1.deposited");
    /// remote.acknowledge("billing", second.next).await?;
    /// # Ok(()) }
    /// ```
    pub async fn poll_after(
        &self,
        name: &str,
        after: Position,
        limit: usize,
    ) -> Result<Page, Error> {
        let found = self.registration(name).await?;
        let patterns = parse_kept(&found)?;
        let from = found.position.max(after);
        let read = read_events(self.hub.store(), &self.tenant, from, &patterns, limit);
        read.await.map_err(self.fail("polling"))
    }

    /// [`poll_after`](Self::poll_after), but when there is nothing for the consumer yet,
    /// waits up to `wait` for events to be committed (in this process or, on PostgreSQL,
    /// in another) and answers as soon as one of its own can be read: events are pushed
    /// to a client that holds a poll open (a long poll), rather than polled for in a loop.
    /// At the end of `wait` the page is empty, its [`next`](Page::next) past whatever was
    /// looked at meanwhile.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// use std::time::Duration;
    /// use herald::store::Position;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("default");
    /// remote.register("openings", ["account.*.opened"]).await?;
    /// let later = herald.clone();
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_millis(50)).await;
    ///     later.dispatch(OpenAccount { account_id: 1 }).await
    /// });
    /// let wait = Duration::from_secs(10);
    /// let page = remote.poll_waiting("openings", Position::START, 10, wait).await?;
    /// assert_eq!(page.events[0].route.as_str(), "account.1.opened"); // at once, not in 10 s
    /// # Ok(()) }
    /// ```
    pub async fn poll_waiting(
        &self,
        name: &str,
        after: Position,
        limit: usize,
        wait: Duration,
    ) -> Result<Page, Error> {
        let deadline = Instant::now() + wait;
        // Watched before each read, so that a commit between the read and the wait is not
        // missed.
        let mut commits = self.hub.store().consumers().commits();
        // Wake-ups can be missed (another process's, while the listener reconnects):
        // look again at the consumers' longest poll interval meanwhile.
        let fallback = self.hub.consumer_settings().poll_max;
        let mut after = after;
        loop {
            commits.borrow_and_update();
            let page = self.poll_after(name, after, limit).await?;
            if !page.events.is_empty() || Instant::now() >= deadline {
                return Ok(page);
            }
            after = page.next;
            let until = deadline.min(Instant::now() + fallback);
            // A closed watch (the store gone) leaves the fallback's sleep.
            let _ = tokio::time::timeout_at(until.into(), commits.changed()).await;
        }
    }

    /// Moves consumer `name`'s checkpoint on to `position` (a page's
    /// [`next`](Page::next), or an event's position) and records when: the events up to
    /// it are not polled again, by this runtime or any other on the store. A position
    /// at or before the checkpoint changes nothing, and says so
    /// ([`Acknowledged::moved`] is `false`); one past every event that can be read is
    /// [`ErrorKind::AckBeyondHead`].
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("default");
    /// remote.register("billing", ["account.*"]).await?;
    /// herald.dispatch(OpenAccount { account_id: 1 }).await?;
    /// let page = remote.poll("billing", 10).await?;
    /// assert!(remote.acknowledge("billing", page.next).await?.moved);
    /// assert!(!remote.acknowledge("billing", herald::store::Position::START).await?.moved);
    /// # Ok(()) }
    /// ```
    pub async fn acknowledge(&self, name: &str, position: Position) -> Result<Acknowledged, Error> {
        check_name(name)?;
        let head = self.hub.store().consumers().head().await;
        let head = head.map_err(self.fail("reading the head"))?;
        if position > head {
            return Err(ErrorKind::AckBeyondHead {
                tenant: self.tenant.clone(),
                name: name.to_owned(),
                position,
                head,
            }
            .into());
        }
        let acked = self.log_call("acknowledging", |log| {
            log.acknowledge(&self.tenant, name, position)
        });
        acked.await?.ok_or_else(|| self.unknown(name))
    }

    /// Deletes consumer `name` and its checkpoint: archiving no longer waits for it, and
    /// registering the name again starts afresh.
    ///
    /// ```
    /// # use herald_doc_fixtures::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), herald::Error> {
    /// # let herald = herald().await;
    /// let remote = herald.consumers().remote("default");
    /// remote.register("billing", ["account.*"]).await?;
    /// remote.delete("billing").await?;
    /// assert!(remote.delete("billing").await.is_err()); // unknown now
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        check_name(name)?;
        let deleted = self.log_call("deleting", |log| log.unregister(&self.tenant, name));
        match deleted.await? {
            true => Ok(()),
            false => Err(self.unknown(name)),
        }
    }

    /// Registers what `register` describes (see [`register`](Self::register)).
    async fn registered(&self, register: Register<'_>) -> Result<Registered, Error> {
        let name = register.name.as_str();
        check_name(name)?;
        check_tenant(&self.tenant)?;
        let patterns = canonical(&register.patterns)?;
        let start = match register.from_now {
            true => (self.hub.store().consumers().head().await)
                .map_err(self.fail("reading the head"))?,
            false => Position::START,
        };
        let registered = self.log_call("registering", |log| {
            log.register(&self.tenant, name, &patterns, start)
        });
        let (found, created) = registered.await?;
        if found.patterns != patterns {
            return Err(ErrorKind::ConsumerRegistered {
                tenant: self.tenant.clone(),
                name: name.to_owned(),
                registered: found.patterns,
                given: patterns,
            }
            .into());
        }
        let consumer = self.status(found).await?;
        Ok(Registered { consumer, created })
    }

    /// The registration of `name` in this tenant, or [`ErrorKind::UnknownConsumer`].
    async fn registration(&self, name: &str) -> Result<RemoteRegistration, Error> {
        check_name(name)?;
        let found = self.log_call("reading", |log| log.registration(&self.tenant, name));
        found.await?.ok_or_else(|| self.unknown(name))
    }

    /// A registration as it is reported, with its lag.
    async fn status(&self, found: RemoteRegistration) -> Result<RemoteConsumer, Error> {
        let patterns = parse_kept(&found)?;
        let store = self.hub.store();
        let ahead = read_events(store, &self.tenant, found.position, &patterns, SCAN_BUDGET);
        let lag = ahead
            .await
            .map_err(self.fail("counting its lag"))?
            .events
            .len() as u64;
        let RemoteRegistration {
            tenant,
            name,
            registered_at,
            position,
            acked_at,
            ..
        } = found;
        Ok(RemoteConsumer {
            tenant,
            name,
            patterns,
            position,
            lag,
            registered_at,
            acked_at,
        })
    }

    /// Calls the store's remote consumer log, a failure saying what was being done.
    async fn log_call<'a, T>(
        &'a self,
        doing: &'static str,
        call: impl FnOnce(
            &'a dyn crate::store::RemoteConsumerLog,
        ) -> BoxFuture<'a, Result<T, StoreError>>,
    ) -> Result<T, Error> {
        call(self.hub.store().remote_consumers())
            .await
            .map_err(self.fail(doing))
    }

    fn fail(&self, doing: &'static str) -> impl Fn(StoreError) -> Error + use<> {
        let context = format!("remote consumers of tenant `{}`: {doing}", self.tenant);
        move |source| {
            ErrorKind::Store {
                context: context.clone(),
                source,
            }
            .into()
        }
    }

    fn unknown(&self, name: &str) -> Error {
        ErrorKind::UnknownConsumer {
            tenant: self.tenant.clone(),
            name: name.to_owned(),
        }
        .into()
    }
}

/// At most `limit` events of `tenant` after `after` whose routes match one of
/// `patterns` (any route when there is none), in the global order, looking at no more
/// than [`SCAN_BUDGET`] events; [`Page::next`] is where the next read goes on. Read with
/// the store's `read_all`, so no event that commits late is skipped.
pub(crate) async fn read_events(
    store: &dyn EventStore,
    tenant: &str,
    after: Position,
    patterns: &[Pattern],
    limit: usize,
) -> Result<Page, StoreError> {
    let mut page = Page {
        events: Vec::new(),
        next: after,
    };
    let mut looked = 0;
    while page.events.len() < limit && looked < SCAN_BUDGET {
        let room = SCAN_PAGE.min(SCAN_BUDGET - looked);
        let read = store.read_all(page.next, room).await?;
        if read.is_empty() {
            break; // the head, as far as a reader can see now
        }
        for event in read {
            looked += 1;
            page.next = event.position;
            let matches =
                patterns.is_empty() || patterns.iter().any(|p| p.matches(event.route.as_str()));
            if event.stream.tenant() == tenant && matches {
                page.events.push(event);
                if page.events.len() == limit {
                    break; // the rest of this read comes after `next`
                }
            }
        }
    }
    Ok(page)
}

/// `patterns` parsed, as they are compared and kept: their text, sorted, once each.
fn canonical(patterns: &[String]) -> Result<Vec<String>, Error> {
    let mut kept = patterns
        .iter()
        .map(|text| parse(text).map(|p| p.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    kept.sort_unstable();
    kept.dedup();
    Ok(kept)
}

/// Parses `patterns` given at run time, an error naming the first that does not parse.
pub(crate) fn parse_patterns<I, S>(patterns: I) -> Result<Vec<Pattern>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    patterns.into_iter().map(|p| parse(p.as_ref())).collect()
}

fn parse(text: &str) -> Result<Pattern, Error> {
    Pattern::parse(text).map_err(|source| {
        ErrorKind::Pattern {
            pattern: text.to_owned(),
            source,
        }
        .into()
    })
}

/// The patterns a registration kept (parsed when it was made).
fn parse_kept(found: &RemoteRegistration) -> Result<Vec<Pattern>, Error> {
    parse_patterns(&found.patterns)
}

/// That `name` can name a remote consumer: its checkpoint's key splits back into tenant
/// and name only if it has no `:`.
fn check_name(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "a name is not empty"
    } else if name.len() > MAX_NAME_LEN {
        "a name is at most 128 bytes"
    } else if !(name.chars()).all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        "a name has only ASCII letters, digits, `_`, `-` and `.`"
    } else {
        return Ok(());
    };
    Err(invalid(name, reason))
}

/// That `tenant` can own events (a stream key's part).
fn check_tenant(tenant: &str) -> Result<(), Error> {
    match tenant.is_empty() || tenant.len() > MAX_KEY_LEN {
        true => Err(invalid(
            tenant,
            "a tenant is between 1 and 255 bytes, as in a stream key",
        )),
        false => Ok(()),
    }
}

fn invalid(name: &str, reason: &str) -> Error {
    ErrorKind::InvalidConsumerName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
    .into()
}

/// A checkpoint's key as a user recognises the consumer: `remote consumer `billing` of
/// tenant `acme``, or `consumer `statements``.
pub(crate) fn describe(key: &str) -> String {
    match remote_of_checkpoint(key) {
        Some((tenant, name)) => format!("remote consumer `{name}` of tenant `{tenant}`"),
        None => format!("consumer `{key}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_kept_sorted_and_once() {
        let given = ["b.*", "a.:x", "b.*"].map(String::from);
        assert_eq!(canonical(&given).unwrap(), ["a.:x", "b.*"]);
        let error = canonical(&["a..b".into()]).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Pattern { .. }), "{error}");
    }

    #[test]
    fn names_have_no_colon() {
        assert!(check_name("billing.v2-eu_1").is_ok());
        for bad in ["", "a:b", "with space", &"x".repeat(129)] {
            let error = check_name(bad).unwrap_err();
            assert_eq!(error.kind().code(), "invalid_consumer_name", "{bad}");
        }
    }

    #[test]
    fn remote_checkpoints_are_named_for_people() {
        let key = crate::store::remote_checkpoint("acme", "billing");
        assert_eq!(describe(&key), "remote consumer `billing` of tenant `acme`");
        assert_eq!(describe("statements"), "consumer `statements`");
    }
}
