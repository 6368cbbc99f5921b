//! A panic in a handler is that handler's failure, never a silent stop: a dispatch
//! returns it as the handler's error (with the saga reversed and nothing stored), and an
//! eventual consumer tries the event again, then parks it with the panic's message, while
//! its worker goes on with other streams.

use std::sync::Arc;
use std::time::Duration;

use herald::error::Panicked;
use herald::prelude::*;
use herald::store::EventStore;
use herald::{ErrorKind, RetryPolicy};

use herald_tests::backends::TestStore;
use herald_tests::on_every_backend;

/// Which handler panics on an event or command of this bomb: named by its fuse.
#[event("bomb.:bomb_id.armed")]
struct Armed {
    bomb_id: String,
    fuse: String,
}

#[command("arm.bomb.:bomb_id")]
struct Arm {
    bomb_id: String,
    fuse: String,
}

#[event("ticker.:bomb_id.ticked")]
struct Ticked {
    bomb_id: String,
}

#[command("tick.:bomb_id")]
struct Tick {
    bomb_id: String,
    fuse: String,
}

#[aggregate(name = "bomb")]
#[derive(Default)]
struct Bomb;

#[aggregate]
impl Bomb {
    #[handle]
    fn arm(&self, cmd: &Arm) -> Result<Armed, std::convert::Infallible> {
        if cmd.fuse == "aggregate" {
            panic!("the aggregate blew up on {}", cmd.bomb_id);
        }
        Ok(Armed {
            bomb_id: cmd.bomb_id.clone(),
            fuse: cmd.fuse.clone(),
        })
    }

    #[apply]
    fn armed(&mut self, _: &Armed) {}
}

#[aggregate(name = "ticker")]
#[derive(Default)]
struct Ticker;

#[aggregate]
impl Ticker {
    #[handle]
    fn tick(&self, cmd: &Tick) -> Result<Ticked, std::convert::Infallible> {
        if cmd.fuse == "nested" {
            panic!("the nested command's aggregate blew up");
        }
        Ok(Ticked {
            bomb_id: cmd.bomb_id.clone(),
        })
    }

    #[apply]
    fn ticked(&mut self, _: &Ticked) {}
}

/// What ran, by bomb.
static LOG: herald_tests::calls::Calls = herald_tests::calls::Calls::new();

fn log(key: &str, what: impl Into<String>) {
    LOG.record(key, what);
}

fn logged(key: &str) -> Vec<String> {
    LOG.of(key)
}

#[hook(before, "arm.bomb.:bomb_id")]
async fn inspect(cmd: &mut Arm, _cx: &mut Cx<'_>) {
    if cmd.fuse == "hook" {
        panic!("the hook blew up");
    }
}

#[saga_step("arm.bomb.:bomb_id", reverse = unbook, priority = 1)]
async fn book_range(cmd: &Arm, _cx: &SagaCx<'_>) -> Result<(), String> {
    log(&cmd.bomb_id, "book");
    Ok(())
}

async fn unbook(cmd: &Arm, _: Option<()>, _cx: &SagaCx<'_>) {
    log(&cmd.bomb_id, "unbook");
}

#[saga_step("arm.bomb.:bomb_id", reverse = disarm, priority = 2)]
async fn call_the_squad(cmd: &Arm, cx: &SagaCx<'_>) -> Result<(), String> {
    if cmd.fuse == "saga" {
        log(&cmd.bomb_id, "squad panics");
        panic!("the squad's API blew up on attempt {}", cx.attempt());
    }
    Ok(())
}

async fn disarm(_: &Arm, _: Option<()>, _cx: &SagaCx<'_>) {}

#[projector("bomb.:bomb_id.armed")]
async fn armed_rows(e: &Recorded<Armed>, _cx: &mut Cx<'_>) {
    if e.fuse == "projector" {
        panic!("the strong projector blew up");
    }
}

#[projector("bomb.:bomb_id.armed", consistency = eventual)]
async fn bomb_log(e: &Recorded<Armed>, _cx: &mut Cx<'_>) {
    if e.fuse == "eventual" {
        log(&e.bomb_id, "eventual panics");
        panic!("the eventual projector blew up on {}", e.bomb_id);
    }
    log(&e.bomb_id, "logged");
}

#[processor("bomb.:bomb_id.armed", consistency = eventual)]
async fn start_ticker(e: &Recorded<Armed>, _cx: &mut Cx<'_>) -> Result<Tick, String> {
    if e.fuse == "processor" {
        panic!("the eventual processor blew up");
    }
    Ok(Tick {
        bomb_id: e.bomb_id.clone(),
        fuse: e.fuse.clone(),
    })
}

fn bomb() -> String {
    Uuid::now_v7().simple().to_string()
}

async fn herald(store: &Arc<dyn EventStore>) -> Herald {
    let quick = RetryPolicy::new(3)
        .base(Duration::from_millis(1))
        .cap(Duration::from_millis(5));
    Herald::builder()
        .modules(["panics"])
        .store(store.clone())
        .saga_retry(quick)
        .consumer_retry(quick)
        .build()
        .await
        .unwrap()
}

async fn arm(herald: &Herald, bomb: &str, fuse: &str) -> Result<Dispatched, herald::Error> {
    herald
        .dispatch(Arm {
            bomb_id: bomb.to_owned(),
            fuse: fuse.to_owned(),
        })
        .await
}

/// The panic behind a handler's error.
fn panic_of(error: &herald::Error) -> String {
    let mut source = std::error::Error::source(error.kind());
    while let Some(error) = source {
        if let Some(panic) = error.downcast_ref::<Panicked>() {
            return panic.0.clone();
        }
        source = error.source();
    }
    panic!("no panic behind {error}")
}

/// A panicking hook, aggregate or strong projector is the dispatch's typed error, naming
/// the handler; the saga is reversed and nothing is stored.
#[on_every_backend]
async fn a_panic_in_the_loop_is_the_dispatchs_error(test: &TestStore) {
    let herald = herald(&test.store).await;
    let b = bomb();
    let error = arm(&herald, &b, "hook").await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Hook {
                hook: "inspect",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(panic_of(&error), "the hook blew up");

    let error = arm(&herald, &b, "aggregate").await.unwrap_err();
    let ErrorKind::Panicked {
        handler, message, ..
    } = error.kind()
    else {
        panic!("expected the aggregate's panic, got {error}");
    };
    assert_eq!(
        (*handler, message.as_str()),
        (
            "Bomb::arm",
            format!("the aggregate blew up on {b}").as_str()
        )
    );

    let error = arm(&herald, &b, "projector").await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Project {
                projector: "armed_rows",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(panic_of(&error), "the strong projector blew up");
    assert_eq!(herald.load::<Bomb>(b.as_str()).await.unwrap().version(), 0);
    assert_eq!(
        logged(&b),
        ["book", "unbook", "book", "unbook"],
        "the saga ran and was reversed for the aggregate and the projector"
    );
    // The runtime goes on.
    arm(&herald, &b, "none").await.unwrap();
}

/// A panicking saga step is tried again like a failing one, then fails the command; the
/// steps before it are reversed.
#[on_every_backend]
async fn a_panicking_saga_step_is_retried_then_reversed(test: &TestStore) {
    let herald = herald(&test.store).await;
    let b = bomb();
    let error = arm(&herald, &b, "saga").await.unwrap_err();
    let ErrorKind::Saga { step, attempts, .. } = error.kind() else {
        panic!("expected the saga step's failure, got {error}");
    };
    assert_eq!((*step, *attempts), ("call_the_squad", 3));
    assert_eq!(
        panic_of(&error),
        "the squad's API blew up on attempt 3",
        "{error}"
    );
    assert_eq!(
        logged(&b),
        [
            "book",
            "squad panics",
            "squad panics",
            "squad panics",
            "unbook"
        ]
    );
}

/// A panicking eventual projector, processor, or aggregate of a processor's command: the
/// event is tried again, then parked with the panic's message, and the worker goes on
/// with other streams.
#[on_every_backend]
async fn a_panicking_eventual_handler_parks_its_event_and_goes_on(test: &TestStore) {
    let herald = herald(&test.store).await;
    let consumers = herald.consumers();
    for (fuse, consumer, message) in [
        ("eventual", "bomb_log", "the eventual projector blew up"),
        (
            "processor",
            "start_ticker",
            "the eventual processor blew up",
        ),
        ("nested", "start_ticker", "`Ticker::tick` panicked"),
    ] {
        let b = bomb();
        let failing = arm(&herald, &b, fuse).await.unwrap();
        let parked = consumers
            .wait_for(failing.events(), [consumer], Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(
            matches!(parked.kind(), ErrorKind::Parked { attempts: 3, .. }),
            "{fuse}: {parked}"
        );
        assert!(parked.to_string().contains(message), "{fuse}: {parked}");
        let letters = consumers.dead_letters(consumer).await.unwrap();
        let letter = letters
            .iter()
            .find(|l| l.stream.stream_id() == b)
            .unwrap_or_else(|| panic!("{fuse}: no dead letter for {b}"));
        assert!(letter.error.contains(message), "{fuse}: {}", letter.error);
        // Another stream flows on.
        let other = bomb();
        let fine = arm(&herald, &other, "none").await.unwrap();
        consumers
            .wait_for(
                fine.events(),
                ["bomb_log", "start_ticker"],
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|e| panic!("{fuse}: the worker stopped: {e}"));
    }
    let list = consumers.list().await.unwrap();
    for consumer in ["bomb_log", "start_ticker"] {
        let status = list.iter().find(|s| s.name == consumer).unwrap();
        assert!(status.running && status.held, "{consumer}: {status:?}");
        assert!(status.parked >= 1, "{consumer}: {status:?}");
        assert_eq!(status.error, None, "{consumer}: {status:?}");
    }
}
