//! Channels: named sets of live subscribers to route patterns (step 9 of the loop, after
//! the commit). What a channel registers is its patterns and the function that decides,
//! when a subscriber joins, whether this actor may hear this subscription; the door that
//! serves the subscribers (`herald::http`, over WebSocket) lives above.

use std::fmt;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::route::Pattern;
use crate::store::Reader;

/// A subscriber asking to join a channel, as its authorization function sees it: who
/// asks, for which pattern (within one of the channel's), and what that pattern fixes of
/// the channel's parameters.
///
/// ```
/// use herald::prelude::*;
/// use herald::channels::{Forbidden, Join};
/// use herald::Reader;
/// # #[event("account.:account_id.opened")] struct Opened { account_id: String }
///
/// /// Each actor hears of their own account only.
/// #[channel("account.:account_id.*")]
/// async fn accounts(join: &Join, _reader: &mut Reader) -> Result<(), Forbidden> {
///     match join.param("account_id") {
///         Some(account) if account == join.actor().id() => Ok(()),
///         Some(account) => Err(Forbidden::new(format!("account `{account}` is not yours"))),
///         None => Err(Forbidden::new("subscribe to your own account: `account.<your id>.*`")),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Join {
    channel: &'static str,
    actor: Actor,
    pattern: Pattern,
    within: String,
    params: Vec<(String, Option<String>)>,
}

impl Join {
    /// `actor` asks to hear `pattern` on `channel`, within the channel's pattern
    /// `within`; `params` are the channel pattern's parameters with what `pattern` fixes
    /// of them. Not public API: the door builds these.
    #[doc(hidden)]
    pub fn new(
        channel: &'static str,
        actor: Actor,
        pattern: Pattern,
        within: &Pattern,
        params: Vec<(String, Option<String>)>,
    ) -> Self {
        Join {
            channel,
            actor,
            pattern,
            within: within.as_str().to_owned(),
            params,
        }
    }

    /// The channel's name.
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    /// Who asks (authenticated by the door); they only ever hear their own tenant's
    /// events, whatever the pattern.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The pattern the subscriber asked for.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The channel's pattern that the subscriber's lies within.
    pub fn within(&self) -> &str {
        &self.within
    }

    /// What the subscriber's pattern fixes of the channel pattern's parameter `name`:
    /// `Some("42")` for `account.42.*` within `account.:account_id.*`, `None` when it
    /// leaves it open (`account.:any.*`) or the channel pattern has no such parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, value)| value.as_deref())
    }
}

/// Why a subscriber may not join: the message goes back to the subscriber with the code
/// `forbidden`, so say what they may subscribe to rather than why not in detail.
///
/// ```
/// use herald::channels::Forbidden;
/// let no = Forbidden::new("only managers hear of every account");
/// assert_eq!(no.to_string(), "only managers hear of every account");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbidden(String);

impl Forbidden {
    /// Refuses with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Forbidden(reason.into())
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Forbidden {}

/// What a channel's authorization function returns: `Result<(), Forbidden>`, or `bool`
/// (`false` refuses with a message naming the channel).
#[diagnostic::on_unimplemented(
    message = "a channel's authorization function returns `Result<(), Forbidden>` or `bool`, not `{Self}`",
    note = "`herald::channels::Forbidden::new(\"…\")` says why a subscriber may not join; the message goes back to the subscriber"
)]
pub trait JoinOutput {
    /// The decision.
    fn into_decision(self, join: &Join) -> Result<(), Forbidden>;
}

impl JoinOutput for Result<(), Forbidden> {
    fn into_decision(self, _: &Join) -> Result<(), Forbidden> {
        self
    }
}

impl JoinOutput for bool {
    fn into_decision(self, join: &Join) -> Result<(), Forbidden> {
        match self {
            true => Ok(()),
            false => Err(Forbidden::new(format!(
                "actor `{}` may not subscribe to `{}` on channel `{}`",
                join.actor.id(),
                join.pattern,
                join.channel
            ))),
        }
    }
}

/// Decides one join. Not public API.
#[doc(hidden)]
pub type AuthorizeFn = for<'a> fn(&'a Join, &'a mut Reader) -> BoxFuture<'a, Result<(), Forbidden>>;

/// A `#[channel]` function. Not public API: generated code builds these.
#[doc(hidden)]
#[derive(Debug)]
pub struct ChannelRow {
    pub name: &'static str,
    pub module: &'static str,
    /// The patterns it carries; a subscription's lies within one of them.
    pub patterns: &'static [&'static str],
    /// For a typed channel: the event it carries (only that event's events reach it).
    pub event: Option<&'static str>,
    pub authorize: AuthorizeFn,
}

inventory::collect!(ChannelRow);
