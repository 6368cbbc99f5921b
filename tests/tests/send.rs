//! Every public operation of Herald compiles where a server runs it: inside
//! `tokio::spawn(async move { … })` on a cloned `Herald`, and inside an axum handler.
//! This file is the test: it fails to compile when one of them stops being `Send`; the
//! functions are never called. A new public operation belongs in them too.

use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use herald::store::Position;
use herald::testing::HandlerTest;
use herald::{Herald, Uuid};
use herald_tests::domain::{Ledger, Open, Post};

/// What a spawned task needs of a future.
fn spawned<F: Future + Send + 'static>(future: F) {
    drop(future);
}

#[allow(dead_code, reason = "compiled, never run: compiling is the test")]
fn every_operation_compiles_inside_tokio_spawn(herald: Herald) {
    let h = herald.clone();
    spawned(async move {
        h.dispatch(Open {
            ledger_id: "a".into(),
        })
        .await
    });
    let h = herald.clone();
    spawned(async move {
        h.dispatch(Open {
            ledger_id: "a".into(),
        })
        .command_id(Uuid::now_v7())
        .expected_version(0)
        .wait_for(["profiles"], Duration::from_secs(1))
        .await
    });
    let h = herald.clone();
    spawned(async move { h.load::<Ledger>("a").tenant("t").await });
    let h = herald.clone();
    spawned(async move {
        let mut tx = h.begin().await?;
        tx.dispatch(Open {
            ledger_id: "a".into(),
        })
        .await?;
        tx.commit().await
    });
    let h = herald.clone();
    spawned(async move {
        let mut tx = h.begin().await?;
        tx.dispatch(Post {
            ledger_id: "a".into(),
            amount: 1,
        })
        .await?;
        tx.rollback().await
    });
    let h = herald.clone();
    spawned(async move {
        h.pipeline("open then post")
            .then(|_| Open {
                ledger_id: "a".into(),
            })
            .then(|_| Post {
                ledger_id: "a".into(),
                amount: 1,
            })
            .await
    });
    let h = herald.clone();
    spawned(async move {
        let consumers = h.consumers();
        consumers.list().await?;
        consumers.dead_letters("profiles").await?;
        consumers.retry("profiles", Uuid::now_v7()).await?;
        consumers.skip("profiles", Uuid::now_v7()).await?;
        consumers.reset("profiles", Position::START).await?;
        consumers
            .wait_for(&[], ["profiles"], Duration::from_secs(1))
            .await?;
        consumers.archive().await?;
        consumers
            .rebuild("profiles")
            .only(["ledger.*"])
            .on_progress(|_| {})
            .await
    });
    let h = herald.clone();
    spawned(async move {
        let mut live = h.live("ledger.*").await?;
        live.next().await;
        Ok::<_, herald::Error>(())
    });
    let h = herald.clone();
    spawned(async move { h.shutdown().await });
    let h = herald.clone();
    spawned(async move {
        let test = HandlerTest::on(h);
        test.hook(
            "a_hook",
            Open {
                ledger_id: "a".into(),
            },
        )
        .await?;
        test.projector(
            "a_projector",
            herald_tests::domain::Opened {
                ledger_id: "a".into(),
            },
        )
        .await?
        .ok();
        test.processor(
            "a_processor",
            herald_tests::domain::Opened {
                ledger_id: "a".into(),
            },
        )
        .await?;
        HandlerTest::new(["herald_tests::domain"]).await
    });
    spawned(async move {
        let nats = herald::nats::Nats::connect("127.0.0.1:4222", "S", "app").await?;
        nats.stream().await?;
        let relay = herald::nats::Relay::start(&herald, &nats).await?;
        relay.stop().await;
        let workers = herald::nats::RemoteWorkers::start(&herald, &nats).await?;
        workers.stop().await;
        Ok::<_, herald::Error>(())
    });
}

/// An axum handler that commits a transaction and reads back, on the runtime as state.
async fn open_in_a_transaction(State(herald): State<Herald>) -> String {
    let run = async {
        let mut tx = herald.begin().await?;
        tx.dispatch(Open {
            ledger_id: "a".into(),
        })
        .await?;
        tx.commit().await?;
        let ledger = herald.load::<Ledger>("a").await?;
        herald.consumers().list().await?;
        Ok::<_, herald::Error>(ledger.version())
    };
    match run.await {
        Ok(version) => version.to_string(),
        Err(error) => error.to_string(),
    }
}

#[allow(dead_code, reason = "compiled, never run: compiling is the test")]
fn every_operation_compiles_inside_an_axum_handler(herald: Herald) -> axum::Router {
    axum::Router::new()
        .route("/open", axum::routing::post(open_in_a_transaction))
        .with_state(herald)
}
