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

mod handlers {
    use std::sync::Arc;

    use herald::store::{EventStore, SqliteStore};
    use herald::testing::HandlerTest;
    use herald_tests::users::{self, CreateUser, FriendsListed, ListFriends, UserCreated};

    fn create(id: &str, email: &str) -> CreateUser {
        CreateUser {
            user_id: id.into(),
            email: email.into(),
            trail: Vec::new(),
            crm: None,
        }
    }

    #[tokio::test]
    async fn hooks_projectors_and_processors_are_tested_one_at_a_time_by_name() {
        let store: Arc<dyn EventStore> =
            Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let test = HandlerTest::on(users::herald(&store).await);

        test.hook("first", create("h1", "ADA@Example.com"))
            .await
            .unwrap()
            .then_command(|cmd| {
                assert_eq!(
                    (cmd.email.as_str(), &cmd.trail[..]),
                    ("ada@example.com", &["first".to_owned()][..])
                )
            });
        test.hook("a_second", create("h1", "reject@example.com"))
            .await
            .unwrap()
            .then_rejected_with("reject@example.com is not welcome");

        let created = UserCreated {
            user_id: "h1".into(),
            email: "ada@example.com".into(),
            trail: Vec::new(),
            crm: None,
        };
        test.projector("profile_row", created)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            users::profile(&*store, "h1").await,
            Some(Some("ada@example.com".to_owned())),
            "the projector's row, committed"
        );

        let created = UserCreated {
            user_id: "h2".into(),
            email: "bob@example.com".into(),
            trail: Vec::new(),
            crm: None,
        };
        test.processor("friend_list", created)
            .await
            .unwrap()
            .then_expect_commands(ListFriends {
                user_id: "h2".into(),
                refuse: false,
            });

        // A handler's pattern must match what it is given, and its name must exist.
        let error = test
            .projector(
                "profile_row",
                FriendsListed {
                    user_id: "h3".into(),
                },
            )
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("its pattern `user.:user_id.created` does not match `friends.h3.listed`"),
            "{error}"
        );
        let Err(error) = test.hook("nope", create("h4", "a@b")).await else {
            panic!("a hook that does not exist ran");
        };
        assert!(
            error.to_string().contains("no hook named `nope`"),
            "{error}"
        );
    }
}
