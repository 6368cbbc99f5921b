//! A process that dies mid-saga has its saga settled when a runtime starts again: the
//! started steps are reversed when the command did not commit, and the saga is done when
//! it did. The process is real: this test binary runs itself as a child, which is killed
//! while its saga step runs.

use std::path::Path;
use std::time::{Duration, Instant};

use herald::prelude::*;
use herald::store::{Position, SagaStep};
use herald_tests::process::Place;

mod crash {
    use std::time::Duration;

    use herald::prelude::*;

    #[event("job.:id.done")]
    pub(crate) struct Done {
        pub(crate) id: u64,
    }

    #[command("run.job.:id")]
    pub(crate) struct RunJob {
        pub(crate) id: u64,
        /// Where the saga step leaves its marks.
        pub(crate) dir: String,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Job;

    #[aggregate]
    impl Job {
        #[handle]
        fn run(&self, cmd: &RunJob) -> Result<Done, String> {
            Ok(Done { id: cmd.id })
        }

        #[apply]
        fn done(&mut self, _: &Done) {}
    }

    /// Books a machine (a mark in the directory), then hangs: the process is killed here.
    #[saga_step("run.job.:id", reverse = release_machine)]
    async fn book_machine(cmd: &RunJob, _cx: &SagaCx<'_>) -> Result<(), String> {
        std::fs::write(format!("{}/booked", cmd.dir), "").map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }

    async fn release_machine(cmd: &RunJob, output: Option<()>, _cx: &SagaCx<'_>) {
        let what = if output.is_some() {
            "after it returned"
        } else {
            "while it ran"
        };
        std::fs::write(format!("{}/released", cmd.dir), what).unwrap();
    }
}

async fn runtime(place: &Place, lease: Duration) -> Herald {
    Herald::builder()
        .modules(["saga_crash::crash"])
        .store(place.store().await)
        .saga_lease(lease)
        .build()
        .await
        .unwrap()
}

/// The child: dispatches a job whose saga step hangs until the parent kills it.
#[tokio::test]
#[ignore = "run by the crash tests as their child process"]
async fn child() {
    let (Some(place), Ok(dir)) = (Place::of_child(), std::env::var("HERALD_CHILD_DIR")) else {
        return;
    };
    let herald = runtime(&place, Duration::from_secs(30)).await;
    let _ = herald.dispatch(crash::RunJob { id: 1, dir }).await;
    unreachable!("the parent kills this process while the saga step runs");
}

fn wait_for(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn killed_mid_saga_then_restarted(place: Place) {
    let dir = std::env::temp_dir().join(format!("herald-crash-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    // The tables exist before the child starts.
    drop(runtime(&place, Duration::from_secs(30)).await);
    let child = place.spawn("child", &[("HERALD_CHILD_DIR", dir.display().to_string())]);
    wait_for(&dir.join("booked"));
    child.kill();

    // A runtime that starts while the dead one's lease runs leaves its saga alone.
    let early = runtime(&place, Duration::from_secs(30)).await;
    assert_eq!(early.recovery().reversed, 0);
    assert!(!dir.join("released").exists());
    drop(early);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let herald = runtime(&place, Duration::from_millis(200)).await;
    assert_eq!((herald.recovery().reversed, herald.recovery().done), (1, 0));
    assert!(
        herald.recovery().stuck.is_empty(),
        "{:?}",
        herald.recovery().stuck
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("released")).unwrap(),
        "while it ran"
    );
    assert!(
        herald
            .store()
            .read_all(Position::START, 10)
            .await
            .unwrap()
            .is_empty(),
        "the command never committed"
    );
    let again = runtime(&place, Duration::from_millis(200)).await;
    assert_eq!(
        again.recovery(),
        &herald::Recovery::default(),
        "settled once"
    );

    // Two runs of one command's saga left by processes that died: the one the command
    // committed with is done; the other (the id was sent again after it) is reversed.
    let (command_id, committed, abandoned) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut tx = herald.store().begin().await.unwrap();
    tx.finish_command(
        command_id,
        &[1],
        herald::store::ResultJson::new(&serde_json::json!({ "saga": committed }).to_string())
            .unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    std::fs::remove_file(dir.join("released")).unwrap();
    let dead = Uuid::now_v7();
    for saga_id in [abandoned, committed] {
        let step = SagaStep {
            saga_id,
            command_id,
            step: 0,
            name: "book_machine".into(),
            payload: serde_json::json!({ "id": 3, "dir": dir.display().to_string() }),
            route: "run.job.3".into(),
            actor: serde_json::to_value(Actor::system()).unwrap(),
            output: None,
        };
        herald.store().sagas().started(&step, dead).await.unwrap();
        let output = serde_json::json!(null);
        herald
            .store()
            .sagas()
            .completed(saga_id, 0, &output)
            .await
            .unwrap();
    }
    let restarted = runtime(&place, Duration::from_millis(200)).await;
    assert_eq!(
        (restarted.recovery().done, restarted.recovery().reversed),
        (1, 1)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("released")).unwrap(),
        "after it returned",
        "the abandoned run's step is reversed, with its output"
    );

    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_process_killed_mid_saga_has_its_steps_reversed_at_restart() {
    killed_mid_saga_then_restarted(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_process_killed_mid_saga_has_its_steps_reversed_at_restart() {
    killed_mid_saga_then_restarted(Place::postgres().await).await;
}
