//! Errors a person can read and a program can sort: each cause printed once, a stable
//! code and whether retrying helps, and messages that say what to do.

use std::time::Duration;

use herald::RetryPolicy;
use herald::prelude::*;
use herald::store::EventStore;
use herald_tests::backends::TestStore;

mod ledger {
    use herald::prelude::*;

    #[event("entry.:entry_id.made")]
    pub(crate) struct Made {
        pub(crate) entry_id: u64,
    }

    #[command("make.entry.:entry_id")]
    pub(crate) struct Make {
        pub(crate) entry_id: u64,
        pub(crate) refuse: bool,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the books are closed")]
    pub(crate) struct Closed {
        #[source]
        pub(crate) why: std::io::Error,
    }

    #[aggregate(name = "entry")]
    #[derive(Default)]
    pub(crate) struct Entry;

    #[aggregate]
    impl Entry {
        #[handle]
        fn make(&self, cmd: &Make) -> Result<Made, Closed> {
            if cmd.refuse {
                return Err(Closed {
                    why: std::io::Error::other("the auditor has the keys"),
                });
            }
            Ok(Made {
                entry_id: cmd.entry_id,
            })
        }

        #[apply]
        fn made(&mut self, _: &Made) {}
    }

    /// Fails on every entry, slowly retried: `wait_for` times out while it retries.
    #[projector("entry.:entry_id.made", consistency = eventual)]
    async fn audit(_e: &Recorded<Made>, _cx: &mut Cx<'_>) -> Result<(), String> {
        Err("the audit table is locked".into())
    }
}

mod other {
    use herald::prelude::*;

    #[event("note.:id.taken")]
    pub(crate) struct Taken {
        pub(crate) id: u64,
    }
}

fn make(entry_id: u64, refuse: bool) -> ledger::Make {
    ledger::Make { entry_id, refuse }
}

async fn ledger(store: &std::sync::Arc<dyn EventStore>, consumers: bool) -> Herald {
    Herald::builder()
        .modules(["errors::ledger"])
        .store(store.clone())
        .run_consumers(consumers)
        .consumer_retry(RetryPolicy::new(100).base(Duration::from_millis(50)))
        .build()
        .await
        .unwrap()
}

/// Each cause in a chain reads once, whether printed by `Display` or source by source.
#[tokio::test]
async fn a_chain_of_causes_reads_each_once() {
    let test = TestStore::memory();
    let herald = ledger(&test.store, false).await;
    let error = herald.dispatch(make(1, true)).await.unwrap_err();
    let mut messages = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error.kind());
    while let Some(cause) = next {
        messages.push(cause.to_string());
        next = cause.source();
    }
    assert_eq!(
        messages,
        [
            "command `Make` (route `make.entry.1`) rejected by `Entry::make`",
            "the books are closed",
            "the auditor has the keys",
        ]
    );
    assert_eq!(
        error.to_string(),
        messages.join(": "),
        "Display is the whole chain"
    );
    assert!(
        std::error::Error::source(&error).is_none(),
        "shown, so not returned too"
    );
}

/// Every kind has a stable code, and says whether the same request can succeed again.
#[tokio::test]
async fn errors_have_stable_codes_and_say_whether_retrying_helps() {
    let test = TestStore::memory();
    let herald = ledger(&test.store, false).await;
    let rejected = herald.dispatch(make(1, true)).await.unwrap_err();
    assert_eq!(
        (rejected.code(), rejected.is_retryable()),
        ("rejected", false)
    );
    herald.dispatch(make(2, false)).await.unwrap();
    let stale = herald
        .dispatch(make(2, false))
        .expected_version(0)
        .await
        .unwrap_err();
    assert_eq!((stale.code(), stale.is_retryable()), ("conflict", false));
}

/// A module prefix that matches no registration stops the build, naming the nearest
/// modules that have some.
#[tokio::test]
async fn a_module_that_holds_nothing_is_an_error_naming_the_nearest() {
    let error = Herald::builder()
        .modules(["errors::ledgr", "errors::other"])
        .build()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert_eq!(error.code(), "registry", "{message}");
    assert!(
        message.contains("module `errors::ledgr` (in `.modules([...])`) holds no registration; the nearest that do: `errors::ledger`"),
        "{message}"
    );
    assert!(!message.contains("`errors::other` (in"), "{message}");
}

/// A dispatch refused because the runtime's modules leave its handler out says so.
#[tokio::test]
async fn a_command_whose_handler_is_left_out_says_where_it_is() {
    let herald = Herald::builder()
        .modules(["errors::other"])
        .build()
        .await
        .unwrap();
    let error = herald.dispatch(make(1, false)).await.unwrap_err();
    assert_eq!(error.code(), "not_handled");
    assert!(
        error
            .to_string()
            .ends_with("`Entry::make` does, in module `errors::ledger`, which the runtime's `.modules([...])` leave out"),
        "{error}"
    );
}

/// Asking a PostgreSQL transaction for its SQLite connection says what to call instead.
#[tokio::test]
async fn the_wrong_connection_says_which_to_ask_for() {
    let test = TestStore::postgres().await;
    let herald = ledger(&test.store, false).await;
    let mut tx = herald.begin().await.unwrap();
    let error = tx.sqlite().unwrap_err();
    assert!(
        error.to_string().contains(
            "this runtime's store is `postgres`, not `sqlite`: call `postgres()` instead"
        ),
        "{error}"
    );
}

/// Waiting for a consumer that nothing runs, or whose handler keeps failing, says so.
#[tokio::test]
async fn waiting_for_a_consumer_says_why_it_is_not_there() {
    let test = TestStore::sqlite().await;
    let dispatching = ledger(&test.store, false).await;
    let error = dispatching
        .dispatch(make(1, false))
        .wait_for(["audit"], Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!((error.code(), error.is_retryable()), ("timeout", true));
    assert!(
        error.to_string().ends_with(
            "this runtime runs no consumers (it was built with `.run_consumers(false)`), and no runtime holds its lease: nothing runs it"
        ),
        "{error}"
    );
    let running = ledger(&test.store, true).await;
    let made = running.dispatch(make(2, false)).await.unwrap();
    let error = running
        .consumers()
        .wait_for(made.events(), ["audit"], Duration::from_millis(500))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("its handler failed on event `entry.1.made`")
            && message.contains("the audit table is locked"),
        "{message}"
    );
    running.shutdown().await;
}
