//! Given/when/then tests for aggregates, without a store: given these events, when this
//! command, then these events or this error; and [`HandlerTest`] for hooks, projectors
//! and processors, run one at a time by name.
//!
//! ```
//! # use herald_doc_fixtures::*;
//! use herald::testing::AggregateTest;
//!
//! AggregateTest::<Account>::given((AccountOpened { account_id: 1 }, Deposited { account_id: 1, amount: 50 }))
//!     .when(Withdraw { account_id: 1, amount: 20 })
//!     .then_expect_events(Withdrawn { account_id: 1, amount: 20 });
//!
//! AggregateTest::<Account>::given(AccountOpened { account_id: 1 })
//!     .when(Withdraw { account_id: 1, amount: 20 })
//!     .then_expect_error(BankError::InsufficientFunds { balance: 0 });
//! ```

use std::fmt::Debug;

mod handlers;

pub use handlers::{HandlerTest, HookOutcome, ProcessorOutcome};

use crate::BoxError;
use crate::model::aggregate::{Aggregate, Handle, HandleOutput};
use crate::model::command::Command;
use crate::model::event::{AnyEvent, IntoEvents};

/// An aggregate test: the events it starts from.
#[must_use = "a test does nothing until `when` and a `then_…` check"]
pub struct AggregateTest<A> {
    state: A,
}

impl<A: Aggregate> AggregateTest<A> {
    /// Starts from these events, applied in order with the aggregate's `#[apply]`
    /// methods.
    #[track_caller]
    pub fn given(events: impl IntoEvents) -> Self {
        let mut list = Vec::new();
        events.into_events(&mut list);
        let mut state = A::default();
        for event in &list {
            if let Err(error) = state.apply_event(&**event) {
                panic!("given event {event:?}: aggregate `{}` {error}", A::NAME);
            }
        }
        AggregateTest { state }
    }

    /// Starts from a new aggregate.
    pub fn given_no_events() -> Self {
        AggregateTest {
            state: A::default(),
        }
    }

    /// Handles `command`, and applies the events it produces to the state.
    #[track_caller]
    #[must_use = "call a `then_…` method to check the result"]
    pub fn when<C: Command>(self, command: C) -> Then<A>
    where
        A: Handle<C>,
    {
        let mut state = self.state;
        let result = state.handle(&command).into_result().map(|produced| {
            let mut events = Vec::new();
            produced.into_events(&mut events);
            events
        });
        if let Ok(events) = &result {
            for event in events {
                if let Err(error) = state.apply_event(&**event) {
                    panic!(
                        "`{}` produced {event:?}, but aggregate `{}` {error}",
                        A::HANDLER,
                        A::NAME
                    );
                }
                if let Err(error) = event.render_route() {
                    panic!(
                        "`{}` produced {event:?}, whose route does not render: {error}",
                        A::HANDLER
                    );
                }
            }
        }
        Then {
            state,
            result,
            handler: A::HANDLER,
        }
    }
}

/// What a command did to the aggregate, to check.
pub struct Then<A> {
    state: A,
    result: Result<Vec<Box<dyn AnyEvent>>, BoxError>,
    handler: &'static str,
}

impl<A> Then<A> {
    /// Checks that the command produced exactly these events (compared by name and
    /// JSON payload), in order.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoEvents) -> Self {
        let mut list = Vec::new();
        expected.into_events(&mut list);
        let want = describe(&list);
        match &self.result {
            Ok(events) if describe(events) == want => {}
            Ok(events) => panic!(
                "`{}` produced other events\n  expected: {:?}\n  produced: {:?}",
                self.handler, list, events
            ),
            Err(error) => panic!(
                "`{}` rejected the command: {error}\n  expected events: {list:?}",
                self.handler
            ),
        }
        self
    }

    /// Checks that the command was accepted and produced no events.
    #[track_caller]
    pub fn then_expect_no_events(self) -> Self {
        match &self.result {
            Ok(events) if events.is_empty() => {}
            Ok(events) => panic!(
                "`{}` accepted the command with {events:?}, expected no events",
                self.handler
            ),
            Err(error) => panic!(
                "`{}` rejected the command: {error}\n  expected no events",
                self.handler
            ),
        }
        self
    }

    /// Checks that the command was rejected with `expected`.
    #[track_caller]
    pub fn then_expect_error<E>(self, expected: E) -> Self
    where
        E: std::error::Error + PartialEq + Debug + 'static,
    {
        match &self.result {
            Err(error) => match error.downcast_ref::<E>() {
                Some(error) if *error == expected => {}
                Some(error) => panic!(
                    "`{}` rejected the command with {error:?}, expected {expected:?}",
                    self.handler
                ),
                None => panic!(
                    "`{}` rejected the command with `{error}`, expected {expected:?}",
                    self.handler
                ),
            },
            Ok(events) => panic!(
                "`{}` accepted the command with {events:?}, expected {expected:?}",
                self.handler
            ),
        }
        self
    }

    /// Checks that the command was rejected with an error whose message is `expected`.
    #[track_caller]
    pub fn then_expect_error_message(self, expected: &str) -> Self {
        match &self.result {
            Err(error) => assert_eq!(
                error.to_string(),
                expected,
                "`{}` rejected the command",
                self.handler
            ),
            Ok(events) => panic!(
                "`{}` accepted the command with {events:?}, expected `{expected}`",
                self.handler
            ),
        }
        self
    }

    /// Checks the aggregate's state after the command's events were applied.
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        check(&self.state);
        self
    }

    /// The events, or the rejection, for checks of your own.
    pub fn into_result(self) -> Result<Vec<Box<dyn AnyEvent>>, BoxError> {
        self.result
    }
}

fn describe(events: &[Box<dyn AnyEvent>]) -> Vec<(&'static str, Option<serde_json::Value>)> {
    events
        .iter()
        .map(|e| (e.name(), e.to_json().ok()))
        .collect()
}
