//! One command through the loop: what is stored, what is returned, what is refused; on
//! the in-memory store, and in [`every_store`] on every backend.

use herald::prelude::*;
use herald::store::{EventStore, Metadata, NewEvent, Position, StreamKey};
use herald::trace::{Operation, Outcome};

mod every_store;

mod bank {
    use herald::prelude::*;

    #[event("account.:id.opened")]
    pub(crate) struct Opened {
        pub(crate) id: String,
    }

    #[event("account.:id.deposited")]
    pub(crate) struct Deposited {
        pub(crate) id: String,
        pub(crate) amount: u64,
    }

    #[event("account.:id.fee.charged")]
    pub(crate) struct FeeCharged {
        pub(crate) id: String,
        pub(crate) fee: u64,
    }

    #[command("open.:id")]
    pub(crate) struct Open {
        pub(crate) id: String,
    }

    #[command("deposit.:id")]
    pub(crate) struct Deposit {
        pub(crate) id: String,
        pub(crate) amount: u64,
    }

    #[event("account.:id.withdrawn")]
    pub(crate) struct Withdrawn {
        pub(crate) id: String,
        pub(crate) amount: u64,
    }

    #[command("withdraw.:id")]
    pub(crate) struct Withdraw {
        pub(crate) id: String,
        pub(crate) amount: u64,
    }

    #[command("audit.:id", roles = ["auditor", "manager"])]
    pub(crate) struct Audit {
        pub(crate) id: String,
    }

    #[command("note.:topic", id = account)]
    pub(crate) struct Note {
        pub(crate) account: String,
        pub(crate) topic: String,
    }

    #[derive(Debug, PartialEq, thiserror::Error)]
    pub(crate) enum BankError {
        #[error("account {0} is not open")]
        NotOpen(String),
        #[error("insufficient funds: the balance is {0}")]
        InsufficientFunds(u64),
    }

    #[aggregate(name = "account")]
    #[derive(Debug, Default)]
    pub(crate) struct Account {
        pub(crate) open: bool,
        pub(crate) balance: u64,
    }

    #[aggregate]
    impl Account {
        #[handle]
        fn open(&self, cmd: &Open) -> Result<Opened, BankError> {
            Ok(Opened { id: cmd.id.clone() })
        }

        /// Deposits pay a fee of 1 when they are large: two events from one command.
        #[handle]
        fn deposit(&self, cmd: &Deposit) -> Result<(Deposited, Option<FeeCharged>), BankError> {
            if !self.open {
                return Err(BankError::NotOpen(cmd.id.clone()));
            }
            let fee = (cmd.amount >= 100).then(|| FeeCharged {
                id: cmd.id.clone(),
                fee: 1,
            });
            Ok((
                Deposited {
                    id: cmd.id.clone(),
                    amount: cmd.amount,
                },
                fee,
            ))
        }

        #[handle]
        fn withdraw(&self, cmd: &Withdraw) -> Result<Withdrawn, BankError> {
            if cmd.amount > self.balance {
                return Err(BankError::InsufficientFunds(self.balance));
            }
            Ok(Withdrawn {
                id: cmd.id.clone(),
                amount: cmd.amount,
            })
        }

        #[handle]
        fn audit(&self, _: &Audit) -> Result<(), BankError> {
            Ok(())
        }

        #[handle]
        fn note(&self, _: &Note) -> Result<(), BankError> {
            Ok(())
        }

        #[apply]
        fn opened(&mut self, _: &Opened) {
            self.open = true;
        }

        #[apply]
        fn deposited(&mut self, e: &Deposited) {
            self.balance += e.amount;
        }

        #[apply]
        fn withdrawn(&mut self, e: &Withdrawn) {
            self.balance -= e.amount;
        }

        #[apply]
        fn fee_charged(&mut self, e: &FeeCharged) {
            self.balance -= e.fee;
        }
    }
}

mod elsewhere {
    use herald::prelude::*;

    #[event("ping.:id.ponged")]
    pub(crate) struct Ponged {
        pub(crate) id: u64,
    }

    #[command("ping.:id")]
    #[derive(Clone)]
    pub(crate) struct Ping {
        pub(crate) id: u64,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Pinger;

    #[aggregate]
    impl Pinger {
        #[handle]
        fn ping(&self, cmd: Ping) -> Result<Ponged, String> {
            Ok(Ponged { id: cmd.id })
        }

        #[apply]
        fn ponged(&mut self, _: &Ponged) {}
    }
}

use bank::*;

async fn herald() -> Herald {
    Herald::builder()
        .modules(["dispatch::bank"])
        .build()
        .await
        .expect("the bank's registrations are consistent")
}

fn open(id: &str) -> Open {
    Open { id: id.to_owned() }
}

fn deposit(id: &str, amount: u64) -> Deposit {
    Deposit {
        id: id.to_owned(),
        amount,
    }
}

#[tokio::test]
async fn events_are_recorded_with_route_version_position_and_metadata() {
    let herald = herald().await;
    let opened = herald.dispatch(open("a1")).await.unwrap();
    let deposited = herald.dispatch(deposit("a1", 150)).await.unwrap();

    assert_eq!(opened.route().as_str(), "open.a1");
    assert_eq!(
        opened.stream(),
        &StreamKey::new(Actor::DEFAULT_TENANT, "account", "a1").unwrap()
    );
    assert_eq!((opened.version(), deposited.version()), (1, 3));
    let events = deposited.events();
    assert_eq!(
        events.iter().map(|e| e.route.as_str()).collect::<Vec<_>>(),
        ["account.a1.deposited", "account.a1.fee.charged"]
    );
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), [2, 3]);
    assert!(
        opened.events()[0].position < events[0].position && events[0].position < events[1].position
    );
    assert_eq!(events[0].name, "Deposited");
    assert_eq!(events[0].schema_version, 1);
    assert_eq!(events[0].decode::<Deposited>().unwrap().amount, 150);

    let meta = &events[1].metadata;
    assert_eq!(meta.event_id, events[1].event_id);
    assert_eq!(meta.command_id, deposited.command_id());
    assert_eq!(
        meta.correlation_id,
        deposited.command_id(),
        "the correlation id defaults to the command id"
    );
    assert_eq!(meta.causation_id, deposited.command_id());
    assert_eq!(
        (meta.actor.as_str(), meta.tenant.as_str()),
        ("system", Actor::DEFAULT_TENANT)
    );
    assert_ne!(events[0].event_id, events[1].event_id);

    let stored = herald.store().read_all(Position::START, 10).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        &stored[1..],
        events,
        "what dispatch returns is what was stored"
    );
    let account = herald.load::<Account>("a1").await.unwrap();
    assert_eq!((account.state().balance, account.version()), (149, 3));
}

#[tokio::test]
async fn the_caller_may_give_the_ids_and_the_actor() {
    let herald = herald().await;
    let (command_id, correlation_id) = (Uuid::now_v7(), Uuid::now_v7());
    let ada = Actor::new("ada", "acme");
    let opened = herald
        .dispatch(open("a1"))
        .command_id(command_id)
        .correlation_id(correlation_id)
        .actor(ada)
        .await
        .unwrap();
    assert_eq!(
        (opened.command_id(), opened.correlation_id()),
        (command_id, correlation_id)
    );
    let meta: &Metadata = &opened.events()[0].metadata;
    assert_eq!(
        (meta.command_id, meta.correlation_id, meta.causation_id),
        (command_id, correlation_id, command_id)
    );
    assert_eq!((meta.actor.as_str(), meta.tenant.as_str()), ("ada", "acme"));
    assert_eq!(opened.stream().tenant(), "acme");
}

#[tokio::test]
async fn a_rejected_command_stores_nothing_and_names_its_route_and_handler() {
    let herald = herald().await;
    let error = herald.dispatch(deposit("nope", 5)).await.unwrap_err();
    assert_eq!(
        error.rejection::<BankError>(),
        Some(&BankError::NotOpen("nope".into()))
    );
    assert_eq!(
        error.to_string(),
        "command `Deposit` (route `deposit.nope`) rejected by `Account::deposit`: account nope is not open"
    );
    match error.kind() {
        herald::ErrorKind::Rejected {
            command,
            route,
            handler,
            ..
        } => {
            assert_eq!(
                (*command, route.as_str(), *handler),
                ("Deposit", "deposit.nope", "Account::deposit")
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(
        herald
            .store()
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_command_without_events_changes_nothing() {
    let herald = herald().await;
    herald.dispatch(open("a1")).await.unwrap();
    let auditor = Actor::new("al", Actor::DEFAULT_TENANT).with_role("auditor");
    let audited = herald
        .dispatch(Audit { id: "a1".into() })
        .actor(auditor)
        .await
        .unwrap();
    assert!(audited.events().is_empty());
    assert_eq!(audited.version(), 1);
    assert_eq!(
        herald
            .store()
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_expected_version_is_checked_once_and_never_retried() {
    let herald = herald().await;
    herald.dispatch(open("a1")).await.unwrap();
    let error = herald
        .dispatch(deposit("a1", 5))
        .expected_version(0)
        .await
        .unwrap_err();
    match error.kind() {
        herald::ErrorKind::Conflict {
            conflict, attempts, ..
        } => {
            assert_eq!((conflict.expected, conflict.actual, *attempts), (0, 1, 1));
            assert_eq!(conflict.stream.stream_id(), "a1");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(error.is_conflict());
    assert_eq!(
        herald.load::<Account>("a1").await.unwrap().version(),
        1,
        "nothing was stored"
    );
    let deposited = herald
        .dispatch(deposit("a1", 5))
        .expected_version(1)
        .await
        .unwrap();
    assert_eq!(deposited.version(), 2);
    let fresh = herald
        .dispatch(open("a2"))
        .expected_version(0)
        .await
        .unwrap();
    assert_eq!(fresh.version(), 1, "0 expects a new stream");
}

#[tokio::test]
async fn only_an_actor_with_a_listed_role_may_send_a_command_with_roles() {
    let herald = herald().await;
    herald.dispatch(open("a1")).await.unwrap();
    let audit = || Audit { id: "a1".into() };

    let error = herald.dispatch(audit()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "command `Audit` (route `audit.a1`): actor `system` has none of the roles [\"auditor\", \"manager\"]"
    );
    let teller = Actor::new("tom", Actor::DEFAULT_TENANT).with_role("teller");
    let error = herald.dispatch(audit()).actor(teller).await.unwrap_err();
    assert!(
        matches!(error.kind(), herald::ErrorKind::Forbidden { actor, .. } if actor == "tom"),
        "{error}"
    );

    let manager = Actor::new("mia", Actor::DEFAULT_TENANT)
        .with_role("teller")
        .with_role("manager");
    herald.dispatch(audit()).actor(manager).await.unwrap();
    herald
        .dispatch(deposit("a1", 1))
        .actor(Actor::new("anyone", Actor::DEFAULT_TENANT))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_forbidden_command_runs_no_handler() {
    let herald = herald().await;
    let error = herald
        .dispatch(Audit { id: "a9".into() })
        .await
        .unwrap_err();
    let herald::ErrorKind::Forbidden { .. } = error.kind() else {
        panic!("expected forbidden, got {error}")
    };
    assert!(
        herald
            .store()
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tenants_have_their_own_streams() {
    let herald = herald().await;
    let acme = Actor::new("ada", "acme");
    let globex = Actor::new("gil", "globex");
    herald
        .dispatch(open("shared-id"))
        .actor(acme.clone())
        .await
        .unwrap();
    herald
        .dispatch(deposit("shared-id", 7))
        .actor(acme)
        .await
        .unwrap();

    // The same id in another tenant is another, empty stream: not open there.
    let error = herald
        .dispatch(deposit("shared-id", 7))
        .actor(globex.clone())
        .await
        .unwrap_err();
    assert!(error.rejection::<BankError>().is_some(), "{error}");
    let opened = herald
        .dispatch(open("shared-id"))
        .actor(globex)
        .await
        .unwrap();
    assert_eq!(opened.version(), 1);

    let acme_account = herald
        .load::<Account>("shared-id")
        .tenant("acme")
        .await
        .unwrap();
    let globex_account = herald
        .load::<Account>("shared-id")
        .tenant("globex")
        .await
        .unwrap();
    assert_eq!(
        (acme_account.version(), acme_account.state().balance),
        (2, 7)
    );
    assert_eq!(
        (globex_account.version(), globex_account.state().balance),
        (1, 0)
    );
    assert_eq!(
        herald.load::<Account>("shared-id").await.unwrap().version(),
        0,
        "nothing in the default tenant"
    );
}

#[tokio::test]
async fn a_route_value_that_is_not_a_segment_is_an_error_not_a_mangled_route() {
    let herald = herald().await;
    let error = herald.dispatch(open("a.b")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "command `Open`: cannot render route `open.:id`: the value \"a.b\" of `:id` has \".\"; a value cannot contain `.`"
    );
    let error = herald
        .dispatch(Note {
            account: "a1".into(),
            topic: "two words".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            herald::ErrorKind::Route {
                command: "Note",
                ..
            }
        ),
        "{error}"
    );
    let error = herald
        .dispatch(Note {
            account: String::new(),
            topic: "t".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "command `Note` (route `note.t`): invalid aggregate id in field `account`: invalid stream: the stream id is empty"
    );
    assert!(
        herald
            .store()
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_command_whose_aggregate_is_not_in_the_runtime_is_not_handled() {
    let herald = herald().await;
    let error = herald
        .dispatch(elsewhere::Ping { id: 1 })
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "command `Ping` (route `ping.1`): no aggregate in this runtime handles it; \
         `Pinger::ping` does, in module `dispatch::elsewhere`, which the runtime's \
         `.modules([...])` leave out"
    );
    let both = Herald::builder()
        .modules(["dispatch::bank", "dispatch::elsewhere"])
        .build()
        .await
        .unwrap();
    both.dispatch(elsewhere::Ping { id: 1 }).await.unwrap();
}

#[tokio::test]
async fn the_trace_has_a_node_per_step() {
    let herald = herald().await;
    herald.dispatch(open("a1")).await.unwrap();
    let deposited = herald.dispatch(deposit("a1", 5)).await.unwrap();
    let trace = deposited.trace();
    let root = trace.root();
    assert_eq!(
        (
            root.operation,
            root.handler.as_deref(),
            root.route.as_deref()
        ),
        (Operation::Dispatch, Some("Deposit"), Some("deposit.a1"))
    );
    assert_eq!(root.outcome, Outcome::Ok);
    let steps: Vec<(Operation, Option<&str>)> = root
        .children
        .iter()
        .map(|n| (n.operation, n.handler.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            (Operation::Authorize, Some("system")),
            (Operation::Begin, None),
            (Operation::Load, Some("account")),
            (Operation::Handle, Some("Account::deposit")),
            (Operation::Apply, Some("account")),
            (Operation::Append, Some("account")),
            (Operation::Finish, None),
            (Operation::Commit, None),
        ]
    );
    assert_eq!(
        root.children[2].detail.as_deref(),
        Some("cached at version 1")
    );
    assert!(
        root.children
            .iter()
            .all(|n| n.outcome == Outcome::Ok && n.start <= root.duration)
    );
    assert!(
        root.children.windows(2).all(|w| w[0].start <= w[1].start),
        "steps are in order"
    );
    let printed = trace.to_string();
    assert!(
        printed.starts_with("dispatch Deposit deposit.a1"),
        "{printed}"
    );
    assert!(printed.contains("\n  handle Account::deposit"), "{printed}");
}

/// A refused command leaves the aggregate it loaded in the cache: the next command on
/// the stream starts from it without reading the stream.
#[tokio::test]
async fn a_refused_command_keeps_its_aggregate_cached() {
    let herald = herald().await;
    herald.dispatch(open("a1")).await.unwrap();
    herald.dispatch(deposit("a1", 5)).await.unwrap();
    let refused = herald.dispatch(Withdraw {
        id: "a1".into(),
        amount: 50,
    });
    assert!(refused.await.is_err(), "more than the balance");
    let deposited = herald.dispatch(deposit("a1", 5)).await.unwrap();
    let load = &deposited.trace().root().children[2];
    assert_eq!(load.operation, Operation::Load);
    assert_eq!(load.detail.as_deref(), Some("cached at version 2"));
    let account = herald.load::<Account>("a1").await.unwrap();
    assert_eq!(account.version(), 3);
}

#[tokio::test]
async fn a_rejection_shows_in_the_trace_of_the_error_path() {
    let herald = herald().await;
    // The error carries the trace: the handler's node is marked failed, and the
    // transaction was rolled back, which the store shows too.
    let error = herald.dispatch(deposit("a1", 5)).await.unwrap_err();
    assert!(error.rejection::<BankError>().is_some());
    let trace = error.trace().expect("a dispatch's error has its trace");
    let failed = |op| {
        trace
            .nodes()
            .find(|n| n.operation == op)
            .map(|n| n.outcome.clone())
    };
    assert_eq!(
        failed(Operation::Handle),
        Some(Outcome::Failed("account a1 is not open".into()))
    );
    assert_eq!(failed(Operation::Rollback), Some(Outcome::Ok));
    assert!(matches!(trace.root().outcome, Outcome::Failed(_)));
    assert!(
        herald
            .store()
            .read_all(Position::START, 1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_stored_event_that_no_longer_decodes_is_an_error_naming_stream_version_and_event() {
    let store = herald::store::MemoryStore::new();
    let herald = Herald::builder()
        .modules(["dispatch::bank"])
        .store(store.clone())
        .build()
        .await
        .unwrap();
    herald.dispatch(open("a1")).await.unwrap();
    // An old, incompatible payload written by some earlier version of the application.
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "account", "a1").unwrap();
    let mut tx = store.begin().await.unwrap();
    let mut bad = herald_tests::events::event(&stream, 0);
    bad.name = "Deposited".into();
    bad.payload = serde_json::json!({ "id": "a1", "amount": "lots" });
    tx.append(&stream, 1, vec![bad]).await.unwrap();
    tx.commit().await.unwrap();

    let error = herald.dispatch(deposit("a1", 5)).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("aggregate `account` of stream `default/account/a1`: event `Deposited` at version 2: cannot decode the payload: invalid type: string \"lots\""),
        "{message}"
    );
    let error = herald.load::<Account>("a1").await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            herald::ErrorKind::Apply {
                version: Some(2),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn an_unknown_event_in_a_stream_is_an_error() {
    let store = herald::store::MemoryStore::new();
    let herald = Herald::builder()
        .modules(["dispatch::bank"])
        .store(store.clone())
        .build()
        .await
        .unwrap();
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "account", "a1").unwrap();
    let mut tx = store.begin().await.unwrap();
    let event: NewEvent = herald_tests::events::event(&stream, 0);
    tx.append(&stream, 0, vec![event]).await.unwrap();
    tx.commit().await.unwrap();
    let error = herald.load::<Account>("a1").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "aggregate `account` of stream `default/account/a1`: event `Happened` at version 1: has no `#[apply]` method for event `Happened`"
    );
}

#[tokio::test]
async fn a_cached_aggregate_still_sees_what_others_appended() {
    for cached in [10, 0] {
        let store = herald::store::MemoryStore::new();
        let herald = Herald::builder()
            .modules(["dispatch::bank"])
            .store(store.clone())
            .cached_aggregates(cached)
            .build()
            .await
            .unwrap();
        herald.dispatch(open("a1")).await.unwrap();
        herald.dispatch(deposit("a1", 10)).await.unwrap();
        // Another process (or anything writing the store directly) adds an event.
        let stream = StreamKey::new(Actor::DEFAULT_TENANT, "account", "a1").unwrap();
        let mut tx = store.begin().await.unwrap();
        let mut event = herald_tests::events::event(&stream, 0);
        event.name = "Deposited".into();
        event.payload = serde_json::json!({ "id": "a1", "amount": 5 });
        tx.append(&stream, 2, vec![event]).await.unwrap();
        tx.commit().await.unwrap();

        let deposited = herald.dispatch(deposit("a1", 1)).await.unwrap();
        assert_eq!(deposited.version(), 4, "cache of {cached}");
        let account = herald.load::<Account>("a1").await.unwrap();
        assert_eq!(
            (account.state().balance, account.version()),
            (16, 4),
            "cache of {cached}"
        );
    }
}

#[tokio::test]
async fn a_rejection_is_never_decided_on_a_stale_cached_aggregate() {
    // Two runtimes on one store, as two processes on one database.
    let store = herald::store::MemoryStore::new();
    let runtime = || {
        Herald::builder()
            .modules(["dispatch::bank"])
            .store(store.clone())
            .build()
    };
    let (here, there) = (runtime().await.unwrap(), runtime().await.unwrap());
    here.dispatch(open("a1")).await.unwrap(); // `here` caches the account: balance 0
    there.dispatch(deposit("a1", 50)).await.unwrap();

    let withdraw = |amount| Withdraw {
        id: "a1".into(),
        amount,
    };
    let withdrawn = here.dispatch(withdraw(30)).await.unwrap();
    assert_eq!(withdrawn.version(), 3);
    let load = withdrawn
        .trace()
        .nodes()
        .filter(|n| n.operation == Operation::Load);
    assert_eq!(
        load.count(),
        2,
        "the cached state, then the stream\n{}",
        withdrawn.trace()
    );

    // A rejection on a current cached state stays a rejection, after one look.
    let error = here.dispatch(withdraw(30)).await.unwrap_err();
    assert_eq!(error.rejection(), Some(&BankError::InsufficientFunds(20)));
    let account = here.load::<Account>("a1").await.unwrap();
    assert_eq!((account.state().balance, account.version()), (20, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_sqlite_store_serves_concurrent_writers_and_readers() {
    let herald = Herald::builder()
        .modules(["dispatch::bank"])
        .url("sqlite::memory:")
        .cached_aggregates(0)
        .build()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let herald = herald.clone();
            tokio::spawn(async move {
                let id = format!("m{i}");
                herald.dispatch(open(&id)).await.unwrap();
                for _ in 0..20 {
                    herald.dispatch(deposit(&id, 1)).await.unwrap();
                    herald.load::<Account>(id.as_str()).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let account = herald.load::<Account>("m3").await.unwrap();
    assert_eq!((account.state().balance, account.version()), (20, 21));
}

/// Events and their upcasters in one module, the aggregate in another.
mod notes {
    use herald::json::Value;
    use herald::prelude::*;

    /// Version 1 stored `{"id", "body"}`.
    #[event("note.:id.written", version = 2)]
    pub(crate) struct Written {
        pub(crate) id: u64,
        pub(crate) text: String,
    }

    #[upcast(Written, from = 1)]
    fn body_is_text(mut v: Value) -> Value {
        v["text"] = v["body"].take();
        v
    }
}

mod notebook {
    use super::notes::Written;
    use herald::prelude::*;

    #[command("write.:id")]
    pub(crate) struct Write {
        pub(crate) id: u64,
        pub(crate) text: String,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Notebook {
        pub(crate) texts: Vec<String>,
    }

    #[aggregate]
    impl Notebook {
        #[handle]
        fn write(&self, cmd: &Write) -> Result<Written, String> {
            Ok(Written {
                id: cmd.id,
                text: cmd.text.clone(),
            })
        }

        #[apply]
        fn written(&mut self, e: &Written) {
            self.texts.push(e.text.clone());
        }
    }
}

#[tokio::test]
async fn a_runtime_of_chosen_modules_upcasts_events_registered_elsewhere() {
    let store = herald::store::MemoryStore::new();
    let stream = StreamKey::new(Actor::DEFAULT_TENANT, "Notebook", "1").unwrap();
    let mut old = herald_tests::events::event(&stream, 0);
    old.name = "Written".into();
    old.schema_version = 1;
    old.payload = serde_json::json!({ "id": 1, "body": "from version 1" });
    let mut tx = store.begin().await.unwrap();
    tx.append(&stream, 0, vec![old]).await.unwrap();
    tx.commit().await.unwrap();

    let herald = Herald::builder()
        .modules(["dispatch::notebook"])
        .store(store)
        .build()
        .await
        .unwrap();
    herald
        .dispatch(notebook::Write {
            id: 1,
            text: "from version 2".into(),
        })
        .await
        .unwrap();
    let book = herald.load::<notebook::Notebook>(1).await.unwrap();
    assert_eq!(book.state().texts, ["from version 1", "from version 2"]);
}

mod grid {
    use std::collections::HashMap;

    use herald::prelude::*;

    #[event("grid.:id.marked")]
    pub(crate) struct Marked {
        pub(crate) id: u64,
        pub(crate) x: u8,
        pub(crate) y: u8,
    }

    #[command("mark.:id")]
    pub(crate) struct Mark {
        pub(crate) id: u64,
        pub(crate) x: u8,
        pub(crate) y: u8,
    }

    /// JSON has no map keys but strings: this state does not serialize.
    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Grid {
        pub(crate) marks: HashMap<(u8, u8), u32>,
    }

    #[aggregate]
    impl Grid {
        #[handle]
        fn mark(&self, cmd: &Mark) -> Result<Marked, String> {
            Ok(Marked {
                id: cmd.id,
                x: cmd.x,
                y: cmd.y,
            })
        }

        #[apply]
        fn marked(&mut self, e: &Marked) {
            *self.marks.entry((e.x, e.y)).or_default() += 1;
        }
    }
}

/// The same state, snapshotted every second event.
mod snapped_grid {
    use std::collections::HashMap;

    use herald::prelude::*;

    #[event("snapped.:id.marked")]
    pub(crate) struct SnapMarked {
        pub(crate) id: u64,
    }

    #[command("snap.:id")]
    pub(crate) struct SnapMark {
        pub(crate) id: u64,
    }

    #[aggregate(snapshot_every = 2)]
    #[derive(Default)]
    pub(crate) struct SnappedGrid {
        pub(crate) marks: HashMap<(u8, u8), u32>,
    }

    #[aggregate]
    impl SnappedGrid {
        #[handle]
        fn mark(&self, cmd: &SnapMark) -> Result<SnapMarked, String> {
            Ok(SnapMarked { id: cmd.id })
        }

        #[apply]
        fn marked(&mut self, _: &SnapMarked) {
            *self.marks.entry((0, 0)).or_default() += 1;
        }
    }
}

/// The cache keeps aggregates as they are, so only a snapshot needs the state as JSON:
/// a state that does not serialize is an error when a snapshot is due, and nothing else.
#[tokio::test]
async fn a_state_that_does_not_serialize_is_an_error_where_it_must() {
    let herald = Herald::builder()
        .modules(["dispatch::grid", "dispatch::snapped_grid"])
        .build()
        .await
        .unwrap();
    let mark = || grid::Mark { id: 1, x: 2, y: 3 };
    herald.dispatch(mark()).await.unwrap();
    herald.dispatch(mark()).await.unwrap();
    let grid = herald.load::<grid::Grid>(1).await.unwrap();
    assert_eq!(grid.state().marks[&(2, 3)], 2);

    herald
        .dispatch(snapped_grid::SnapMark { id: 1 })
        .await
        .unwrap();
    let error = herald
        .dispatch(snapped_grid::SnapMark { id: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            herald::ErrorKind::State {
                aggregate: "SnappedGrid",
                ..
            }
        ),
        "{error}"
    );
    let events = herald.store().read_all(Position::START, 10).await.unwrap();
    assert_eq!(
        events.len(),
        3,
        "the command whose snapshot failed wrote nothing"
    );
}

/// A processor whose command leads back to its own event.
mod echo {
    use herald::prelude::*;

    #[event("echo.:id.heard")]
    pub(crate) struct Heard {
        pub(crate) id: u64,
        pub(crate) n: u32,
    }

    #[command("shout.:id")]
    pub(crate) struct Shout {
        pub(crate) id: u64,
        pub(crate) n: u32,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Canyon;

    #[aggregate]
    impl Canyon {
        #[handle]
        fn shout(&self, cmd: &Shout) -> Result<Heard, String> {
            Ok(Heard {
                id: cmd.id,
                n: cmd.n,
            })
        }

        #[apply]
        fn heard(&mut self, _: &Heard) {}
    }

    #[processor("echo.:id.heard")]
    async fn echo(e: &Recorded<Heard>, _cx: &mut Cx<'_>) -> Result<Shout, String> {
        Ok(Shout {
            id: e.id,
            n: e.n + 1,
        })
    }
}

#[tokio::test]
async fn a_cycle_of_processors_is_an_error_not_a_hang() {
    for limit in [8, 2] {
        let herald = Herald::builder()
            .modules(["dispatch::echo"])
            .max_nesting(limit)
            .build()
            .await
            .unwrap();
        let error = herald
            .dispatch(echo::Shout { id: 1, n: 0 })
            .await
            .unwrap_err();
        let herald::ErrorKind::Nesting { chain, limit: said } = error.kind() else {
            panic!("expected a nesting error, got {error}");
        };
        assert_eq!((chain.len(), *said), (limit + 2, limit));
        assert!(chain.iter().all(|r| r.as_str() == "shout.1"));
        assert!(
            error.to_string().starts_with(&format!(
                "commands and side events nested {} deep, more than the {limit} allowed (a cycle of processors or dispatchers?): `shout.1` → `shout.1`",
                limit + 1
            )),
            "{error}"
        );
        assert!(
            herald
                .store()
                .read_all(Position::START, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
