//! The given/when/then harness passes what is right and fails, with a clear message,
//! what is not.

use herald::prelude::*;
use herald::testing::AggregateTest;

#[event("door.:id.opened")]
struct Opened {
    id: u64,
}

#[event("door.:id.closed")]
struct Closed {
    id: u64,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum DoorError {
    #[error("the door is already open")]
    AlreadyOpen,
}

#[aggregate]
#[derive(Default)]
struct Door {
    open: bool,
}

#[aggregate]
impl Door {
    #[handle]
    fn open(&self, cmd: &Open) -> Result<Opened, DoorError> {
        if self.open {
            return Err(DoorError::AlreadyOpen);
        }
        Ok(Opened { id: cmd.id })
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {
        self.open = true;
    }

    #[apply]
    fn closed(&mut self, _: &Closed) {
        self.open = false;
    }
}

#[test]
fn events_errors_and_state_are_checked() {
    AggregateTest::<Door>::given_no_events()
        .when(Open { id: 1 })
        .then_expect_events(Opened { id: 1 })
        .then_state(|door| assert!(door.open));
    AggregateTest::<Door>::given(Opened { id: 1 })
        .when(Open { id: 1 })
        .then_expect_error(DoorError::AlreadyOpen);
    AggregateTest::<Door>::given(Opened { id: 1 })
        .when(Open { id: 1 })
        .then_expect_error_message("the door is already open");
    AggregateTest::<Door>::given(vec![Opened { id: 1 }])
        .when(Open { id: 1 })
        .then_expect_error(DoorError::AlreadyOpen);
    AggregateTest::<Door>::given((Opened { id: 1 }, Closed { id: 1 }))
        .when(Open { id: 1 })
        .then_expect_events(Opened { id: 1 });
    let result = AggregateTest::<Door>::given_no_events()
        .when(Open { id: 7 })
        .into_result()
        .unwrap();
    assert_eq!(result[0].name(), "Opened");
}

#[test]
#[should_panic(
    expected = "`Door::open` produced other events\n  expected: [Opened {\"id\":2}]\n  produced: [Opened {\"id\":1}]"
)]
fn other_events_fail() {
    AggregateTest::<Door>::given_no_events()
        .when(Open { id: 1 })
        .then_expect_events(Opened { id: 2 });
}

#[test]
#[should_panic(
    expected = "`Door::open` rejected the command: the door is already open\n  expected events: [Opened {\"id\":1}]"
)]
fn an_unexpected_rejection_fails() {
    AggregateTest::<Door>::given(Opened { id: 1 })
        .when(Open { id: 1 })
        .then_expect_events(Opened { id: 1 });
}

#[test]
#[should_panic(
    expected = "`Door::open` accepted the command with [Opened {\"id\":1}], expected AlreadyOpen"
)]
fn an_unexpected_acceptance_fails() {
    AggregateTest::<Door>::given_no_events()
        .when(Open { id: 1 })
        .then_expect_error(DoorError::AlreadyOpen);
}

#[test]
#[should_panic(
    expected = "`Door::open` accepted the command with [Opened {\"id\":1}], expected no events"
)]
fn expecting_no_events_fails_on_events() {
    AggregateTest::<Door>::given_no_events()
        .when(Open { id: 1 })
        .then_expect_no_events();
}
