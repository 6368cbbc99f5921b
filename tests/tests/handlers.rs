//! Hooks and strong projectors on every store: order, enrichment, rejection, rollback,
//! and a trace node for each handler that ran.

use herald::prelude::*;
use herald::store::Position;
use herald::trace::{Operation, Outcome};

use herald_tests::backends::TestStore;
use herald_tests::events::read_all_settled;
use herald_tests::on_every_backend;
use herald_tests::users::{self, CreateUser, UserCreated};

fn create(email: &str) -> CreateUser {
    CreateUser {
        user_id: Uuid::now_v7().simple().to_string(),
        email: email.to_owned(),
        trail: Vec::new(),
        crm: None,
    }
}

/// Before hooks by ascending priority, ties by name, then after hooks; what they change
/// is what the aggregate decides on; then the strong projectors of the event, in order.
#[on_every_backend]
async fn hooks_and_projectors_run_in_order_and_enrich_the_command(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("Ada@Example.com");
    let id = cmd.user_id.clone();
    let created = herald.dispatch(cmd).await.unwrap();
    let event: UserCreated = created.events()[0].decode().unwrap();
    assert_eq!(event.trail, ["first", "a_second", "b_second", "after_all"]);
    assert_eq!(event.email, "ada@example.com", "the enriched command");
    // The eventual projector runs after the commit, in a worker: not among these.
    let strong: Vec<String> = users::seen(&id)
        .into_iter()
        .filter(|s| s != "later")
        .collect();
    assert_eq!(
        strong,
        [
            "profile_row".to_owned(),
            "friend_list".to_owned(),
            "welcome_mail".to_owned(),
            "outbox".to_owned(),
            "mailing_list".to_owned(),
            format!("audit user.{id}.created")
        ],
        "strong projectors by priority"
    );
    let timeout = std::time::Duration::from_secs(10);
    herald
        .consumers()
        .wait_for(created.events(), ["later"], timeout)
        .await
        .unwrap();
    assert_eq!(
        users::seen(&id).last().map(String::as_str),
        Some("later"),
        "the eventual projector, after the commit"
    );
    if let Some(email) = users::profile(&*test.store, &id).await {
        assert_eq!(email.as_deref(), Some("ada@example.com"));
    }

    let ran: Vec<(Operation, &str)> = created
        .trace()
        .nodes()
        .filter(|n| {
            matches!(
                n.operation,
                Operation::Hook | Operation::Project | Operation::Process | Operation::Dispatcher
            )
        })
        .map(|n| (n.operation, n.handler.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        ran,
        [
            (Operation::Hook, "first"),
            (Operation::Hook, "a_second"),
            (Operation::Hook, "b_second"),
            (Operation::Hook, "after_all"),
            (Operation::Project, "profile_row"),
            (Operation::Process, "friend_list"),
            (Operation::Dispatcher, "welcome_mail"),
            (Operation::Project, "outbox"),
            (Operation::Project, "mailing_list"),
            (Operation::Project, "audit"),
        ],
        "one trace node per handler that ran"
    );
    // Each projector's node names the route of the event it projected.
    let routes: Vec<(&str, &str)> = created
        .trace()
        .nodes()
        .filter(|n| n.operation == Operation::Project)
        .map(|n| {
            let handler = n.handler.as_deref().unwrap_or_default();
            (handler, n.route.as_deref().unwrap_or_default())
        })
        .collect();
    let (user, mail) = (format!("user.{id}.created"), format!("mail.{id}.queued"));
    assert_eq!(
        routes,
        [
            ("profile_row", user.as_str()),
            ("outbox", mail.as_str()),
            ("mailing_list", user.as_str()),
            ("audit", user.as_str()),
        ]
    );
}

/// A hook's error rejects the command before the aggregate: nothing is stored, the
/// caller learns which hook, and the hooks after it did not run.
#[on_every_backend]
async fn a_rejecting_hook_stores_nothing_and_names_itself(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("reject@example.com");
    let id = cmd.user_id.clone();
    let error = herald.dispatch(cmd).await.unwrap_err();
    match error.kind() {
        herald::ErrorKind::Hook { hook, route, .. } => {
            assert_eq!(
                (*hook, route.as_str()),
                ("a_second", format!("create.user.{id}").as_str())
            );
        }
        other => panic!("expected a hook's rejection, got {other}"),
    }
    assert!(
        error
            .to_string()
            .ends_with("rejected by hook `a_second`: reject@example.com is not welcome"),
        "{error}"
    );
    let trace = error.trace().unwrap();
    assert!(
        !trace
            .nodes()
            .any(|n| n.handler.as_deref() == Some("b_second"))
    );
    assert!(!trace.nodes().any(|n| n.operation == Operation::Handle));
    assert!(
        test.store
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(users::seen(&id).is_empty());
}

/// A hook may change a command, not its route.
#[on_every_backend]
async fn a_hook_that_changes_the_route_is_an_error_naming_it(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let error = herald
        .dispatch(create("move@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::RouteChanged { hook: "a_second", changed_to, .. } if changed_to.as_str().ends_with("-moved")),
        "{error}"
    );
    assert!(
        test.store
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A strong projector that fails rolls the whole command back: its events and the rows
/// the projectors before it wrote.
#[on_every_backend]
async fn a_failing_projector_rolls_back_the_events_and_the_read_model(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("fail@example.com");
    let id = cmd.user_id.clone();
    let error = herald.dispatch(cmd).await.unwrap_err();
    match error.kind() {
        herald::ErrorKind::Project {
            projector, event, ..
        } => {
            assert_eq!(
                (*projector, event.as_str()),
                ("mailing_list", format!("user.{id}.created").as_str())
            );
        }
        other => panic!("expected a projector's failure, got {other}"),
    }
    let failed = error
        .trace()
        .unwrap()
        .nodes()
        .find(|n| n.handler.as_deref() == Some("mailing_list"))
        .unwrap();
    assert_eq!(
        failed.outcome,
        Outcome::Failed("the mailing list is down".into())
    );
    assert_eq!(
        users::seen(&id),
        [
            "profile_row",
            "friend_list",
            "welcome_mail",
            "outbox",
            "mailing_list"
        ],
        "it ran, and the ones after it did not"
    );
    assert!(
        test.store
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
    if let Some(email) = users::profile(&*test.store, &id).await {
        assert_eq!(
            email, None,
            "the profile row was rolled back with the events"
        );
    }
    // Nothing of it stayed behind: the same user can be created.
    let mut again = create("ok@example.com");
    again.user_id = id.clone();
    herald.dispatch(again).await.unwrap();
}

/// A strong processor's command runs nested in the command's transaction: its events are
/// caused by the event the processor reacted to, share the correlation id and the actor,
/// and its command id is derived from that event, so it never runs twice.
#[on_every_backend]
async fn a_processors_command_runs_nested_caused_by_the_event(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("ada@example.com");
    let id = cmd.user_id.clone();
    let ada = Actor::new("ada", "acme");
    let created = herald.dispatch(cmd).actor(ada.clone()).await.unwrap();
    let all = read_all_settled(&*test.store, Position::START, 3).await;
    assert_eq!(
        all.len(),
        3,
        "the user, the friend list and the welcome mail, committed together"
    );
    let (user, friends) = (&all[0], &all[1]);
    assert_eq!(user.event_id, created.events()[0].event_id);
    assert_eq!(friends.route.as_str(), format!("friends.{id}.listed"));
    assert_eq!(friends.stream.tenant(), "acme");
    assert_eq!(friends.metadata.causation_id, user.event_id);
    assert_eq!(friends.metadata.correlation_id, created.correlation_id());
    assert_eq!(friends.metadata.actor, "ada");
    assert_ne!(friends.metadata.command_id, created.command_id());

    // The nested dispatch is in the trace, under the processor's event's command.
    let nested = created
        .trace()
        .nodes()
        .filter(|n| n.operation == Operation::Dispatch)
        .map(|n| n.handler.as_deref().unwrap_or_default())
        .collect::<Vec<_>>();
    assert_eq!(nested, ["CreateUser", "ListFriends"]);

    // The derived command id is recorded: the same command again is a repeat.
    let again = herald
        .dispatch(users::ListFriends {
            user_id: id.clone(),
            refuse: false,
        })
        .command_id(friends.metadata.command_id)
        .actor(ada)
        .await
        .unwrap();
    assert!(again.is_repeat());
    assert_eq!(again.events(), std::slice::from_ref(friends));
    let list = herald
        .load::<users::FriendList>(id.as_str())
        .tenant("acme")
        .await
        .unwrap();
    assert_eq!(list.version(), 1, "no second friend list");
}

/// A nested command that fails rolls back everything: its parent's events too.
#[on_every_backend]
async fn a_failing_nested_command_rolls_back_its_parent(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("refuse@example.com");
    let id = cmd.user_id.clone();
    let error = herald.dispatch(cmd).await.unwrap_err();
    match error.kind() {
        herald::ErrorKind::Rejected {
            command, handler, ..
        } => {
            assert_eq!((*command, *handler), ("ListFriends", "FriendList::list"));
        }
        other => panic!("expected the nested command's rejection, got {other}"),
    }
    assert!(
        test.store
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
    if let Some(email) = users::profile(&*test.store, &id).await {
        assert_eq!(email, None);
    }
    // A processor may also decide there is nothing to do.
    herald.dispatch(create("lonely@example.com")).await.unwrap();
    assert_eq!(
        read_all_settled(&*test.store, Position::START, 2)
            .await
            .len(),
        2
    );
}

/// A dispatcher's side event is appended in the command's transaction to a stream of its
/// own, caused by the event, seen by the strong handlers of its route, and never part of
/// an aggregate's state.
#[on_every_backend]
async fn a_dispatchers_side_event_is_in_the_global_order_not_in_an_aggregate(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("ada@example.com");
    let id = cmd.user_id.clone();
    let created = herald.dispatch(cmd).await.unwrap();
    let all = read_all_settled(&*test.store, Position::START, 3).await;
    let mail = all
        .iter()
        .find(|e| e.route.as_str() == format!("mail.{id}.queued"))
        .expect("the side event is in the global order");
    assert_eq!(mail.stream.stream_type(), "dispatched:welcome_mail");
    assert_eq!(mail.stream.stream_id(), id);
    assert_eq!(mail.version, 1);
    assert_eq!(mail.metadata.causation_id, created.events()[0].event_id);
    assert_eq!(mail.metadata.command_id, created.command_id());
    assert_eq!(
        mail.decode::<users::WelcomeQueued>().unwrap().to,
        "ada@example.com"
    );
    assert!(
        users::seen(&id).contains(&"outbox".to_owned()),
        "a projector saw it"
    );
    let user = herald.load::<users::User>(id.as_str()).await.unwrap();
    assert_eq!(
        (user.state().created, user.version()),
        (true, 1),
        "not in the user's stream"
    );
}

/// Saga steps run between the before and after hooks, in order, outside the transaction;
/// an after hook reads their output; the saga log is settled once the command commits.
#[on_every_backend]
async fn saga_steps_run_between_the_hooks_and_the_saga_is_settled(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("ada@example.com");
    let id = cmd.user_id.clone();
    let created = herald.dispatch(cmd).await.unwrap();
    assert_eq!(users::saga(&id), ["register", "reserve, attempt 1"]);
    let event: UserCreated = created.events()[0].decode().unwrap();
    assert_eq!(
        event.crm,
        Some(4242),
        "the after hook read the step's output"
    );
    let order: Vec<&str> = created
        .trace()
        .root()
        .children
        .iter()
        .filter(|n| matches!(n.operation, Operation::Hook | Operation::Saga))
        .map(|n| n.handler.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [
            "first",
            "a_second",
            "b_second",
            "register_crm",
            "reserve_address",
            "after_all"
        ]
    );
    // Settled: nothing for a runtime that starts later to take over.
    let orphans = test
        .store
        .sagas()
        .claim_orphans(Uuid::now_v7(), std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(
        orphans.iter().all(|s| s.command_id != created.command_id()),
        "{orphans:?}"
    );
}

/// When anything after the saga fails, its completed steps are reversed, last first.
#[on_every_backend]
async fn a_failure_after_the_saga_reverses_its_steps_last_first(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("fail@example.com");
    let id = cmd.user_id.clone();
    let error = herald.dispatch(cmd).await.unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::Project { .. }),
        "{error}"
    );
    assert!(error.unreversed().is_empty());
    assert_eq!(
        users::saga(&id),
        [
            "register",
            "reserve, attempt 1",
            "release",
            "unregister Some(4242)"
        ]
    );
    let reversed: Vec<&str> = error
        .trace()
        .unwrap()
        .nodes()
        .filter(|n| n.operation == Operation::Reverse)
        .map(|n| n.handler.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(reversed, ["reserve_address", "register_crm"]);
}

/// A failing step is tried again as the policy says; when it still fails, the steps
/// before it are reversed and the caller learns which step, after how many attempts.
#[on_every_backend]
async fn a_failing_step_is_retried_then_the_steps_before_it_are_reversed(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("taken@example.com");
    let id = cmd.user_id.clone();
    let error = herald.dispatch(cmd).await.unwrap_err();
    match error.kind() {
        herald::ErrorKind::Saga { step, attempts, .. } => {
            assert_eq!((*step, *attempts), ("reserve_address", 3))
        }
        other => panic!("expected the saga step's failure, got {other}"),
    }
    assert_eq!(
        users::saga(&id),
        [
            "register",
            "reserve, attempt 1",
            "reserve, attempt 2",
            "reserve, attempt 3",
            "unregister Some(4242)"
        ]
    );
    assert!(
        test.store
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A step that fails once and then succeeds.
    let cmd = create("flaky@example.com");
    let id = cmd.user_id.clone();
    herald.dispatch(cmd).await.unwrap();
    assert_eq!(
        users::saga(&id),
        ["register", "reserve, attempt 1", "reserve, attempt 2"]
    );
}

/// A pipeline dispatches its commands one after the other, each in its own transaction,
/// built from what came before; the first failure ends it, and what committed stays.
#[on_every_backend]
async fn a_pipeline_commits_step_by_step_and_stops_at_the_first_failure(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("lonely@example.com"); // no friend list from the processor
    let id = cmd.user_id.clone();
    let (first, second) = (id.clone(), id.clone());
    let ran = herald
        .pipeline("sign up")
        .actor(Actor::new("ops", Actor::DEFAULT_TENANT))
        .then(move |_| cmd)
        .then_if(
            |_| false,
            move |_| users::ListFriends {
                user_id: first,
                refuse: false,
            },
        )
        .then(move |done| users::ListFriends {
            user_id: second,
            refuse: done.last().unwrap().version() == 1, // refuses: the step fails
        })
        .then(|_| create("never@example.com"))
        .await;
    assert_eq!(ran.name(), "sign up");
    assert_eq!(ran.committed(), 1);
    assert!(!ran.is_complete());
    let steps = ran.steps();
    let committed = steps[0].committed().expect("the user committed");
    assert_eq!(committed.events()[0].metadata.actor, "ops");
    assert!(matches!(steps[1], herald::StepOutcome::Skipped));
    assert!(
        matches!(
            ran.error().unwrap().kind(),
            herald::ErrorKind::Rejected {
                command: "ListFriends",
                ..
            }
        ),
        "{:?}",
        ran.error()
    );
    assert!(matches!(steps[3], herald::StepOutcome::NotRun));
    let user = herald.load::<users::User>(id.as_str()).await.unwrap();
    assert_eq!(user.version(), 1, "the first step stays committed");
}

/// A command id sent again after a failure runs its saga again: a new run in the log.
#[on_every_backend]
async fn a_command_sent_again_after_a_failure_runs_its_saga_again(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("once@example.com"); // the mailing list fails the first time only
    let id = cmd.user_id.clone();
    let command_id = Uuid::now_v7();
    let again = CreateUser {
        user_id: id.clone(),
        email: cmd.email.clone(),
        trail: Vec::new(),
        crm: None,
    };
    let error = herald
        .dispatch(cmd)
        .command_id(command_id)
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::Project { .. }),
        "{error}"
    );
    let created = herald.dispatch(again).command_id(command_id).await.unwrap();
    assert!(!created.is_repeat());
    assert_eq!(
        users::saga(&id),
        [
            "register",
            "reserve, attempt 1",
            "release",
            "unregister Some(4242)",
            "register",
            "reserve, attempt 1"
        ]
    );
}

/// A dispatch dropped mid-way (a timeout, a client gone) reverses the saga steps it
/// completed.
#[on_every_backend]
async fn a_dispatch_dropped_mid_way_reverses_its_saga(test: &TestStore) {
    let herald = users::herald(&test.store).await;
    let cmd = create("slow@example.com"); // an after hook that takes its time
    let id = cmd.user_id.clone();
    let dispatch = herald.dispatch(cmd);
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(300), dispatch).await;
    assert!(timed_out.is_err());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while users::saga(&id).len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        users::saga(&id),
        [
            "register",
            "reserve, attempt 1",
            "release",
            "unregister Some(4242)"
        ]
    );
    assert!(
        test.store
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[on_every_backend]
async fn a_dispatch_returns_what_its_processors_and_dispatchers_committed_with_it(
    test: &TestStore,
) {
    let herald = users::herald(&test.store).await;
    let cmd = create("ada@example.com");
    let id = cmd.user_id.clone();
    let same = || CreateUser {
        user_id: id.clone(),
        ..create("ada@example.com")
    };
    let created = herald.dispatch(cmd).await.unwrap();
    assert_eq!(created.events().len(), 1, "its own stream's event");
    let caused: Vec<(&str, String)> = created
        .caused()
        .iter()
        .map(|e| (e.name.as_str(), e.route.as_str().to_owned()))
        .collect();
    assert_eq!(
        caused,
        vec![
            ("FriendsListed", format!("friends.{id}.listed")),
            ("WelcomeQueued", format!("mail.{id}.queued")),
        ],
        "the processor's command's event, then the dispatcher's side event, in priority order"
    );
    let correlation = created.correlation_id();
    assert!(
        created
            .caused()
            .iter()
            .all(|e| e.metadata.correlation_id == correlation)
    );
    // A repeat returns the first run's events, its own and those it caused.
    let first = herald.dispatch(same()).command_id(Uuid::now_v7());
    let first = first.await;
    assert!(first.is_err(), "the user exists: {first:?}");
    let id_given = Uuid::now_v7();
    let other = create("bob@example.com");
    let bob = other.user_id.clone();
    let ran = herald.dispatch(other).command_id(id_given).await.unwrap();
    assert_eq!(ran.caused().len(), 2);
    let again = CreateUser {
        user_id: bob,
        ..create("bob@example.com")
    };
    let again = herald.dispatch(again).command_id(id_given).await.unwrap();
    assert!(again.is_repeat());
    assert_eq!(again.events(), ran.events());
    assert_eq!(
        again.caused(),
        ran.caused(),
        "a repeat reads back what its processors and dispatchers committed too"
    );
}
