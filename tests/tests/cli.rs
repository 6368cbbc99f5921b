//! The `herald` CLI, run as an operator runs it: the real binaries as child processes on
//! real stores (a SQLite file, a PostgreSQL schema). The standalone binary has no
//! application code; `ops` is an application's binary calling `herald::cli::run`. The
//! interactive parts (the confirmation prompt, the progress bar) run in a tmux pane, read
//! back with `capture-pane` as a person sees them.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use herald::json::Value;
use herald_tests::ops::{self, POISON, Pay};
use herald_tests::process::Place;

const STANDALONE: &str = env!("CARGO_BIN_EXE_herald-standalone");
const OPS: &str = env!("CARGO_BIN_EXE_ops");

/// Runs `bin --url <place> args…` with no terminal (stdin closed), `env` set.
fn run(bin: &str, place: &Place, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(bin);
    command
        .arg("--url")
        .arg(place.url())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert_eq!(code(output), 0, "stderr: {}", stderr(output));
    herald::json::from_slice(&output.stdout).expect("one JSON document")
}

/// The tills' store: till 1 paid 10 then 20, till 2 paid the poison (parked by
/// `till_totals`). Returns the id of the first command and the parked event's id.
async fn seeded(place: &Place) -> (herald::Uuid, herald::Uuid) {
    let herald = ops::builder(&place.url()).build().await.unwrap();
    ops::create_tables(&herald).await.unwrap();
    let first = herald
        .dispatch(Pay {
            till_id: 1,
            amount: 10,
        })
        .await
        .unwrap();
    let second = herald
        .dispatch(Pay {
            till_id: 1,
            amount: 20,
        })
        .await
        .unwrap();
    let poison = herald
        .dispatch(Pay {
            till_id: 2,
            amount: POISON,
        })
        .await
        .unwrap();
    let consumers = herald.consumers();
    let wait = Duration::from_secs(10);
    consumers
        .wait_for(second.events(), ["till_totals"], wait)
        .await
        .unwrap();
    let parked = consumers
        .wait_for(poison.events(), ["till_totals"], wait)
        .await;
    assert_eq!(parked.unwrap_err().code(), "parked");
    herald.shutdown().await;
    (first.command_id(), poison.events()[0].event_id)
}

async fn total(place: &Place, till: i64) -> Option<i64> {
    let herald = ops::builder(&place.url())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    let mut reader = herald.reader().await.unwrap();
    let total = herald::sql!(reader.sql(), |conn| {
        herald::sqlx::query_scalar::<_, i64>("SELECT total FROM till_totals WHERE till_id = $1")
            .bind(till)
            .fetch_optional(conn)
            .await
    })
    .unwrap()
    .unwrap();
    herald.shutdown().await;
    total
}

async fn standalone_reads_a_store_it_has_no_code_for(place: Place) {
    let (command_id, parked) = seeded(&place).await;

    // The global order, as stored, positions as the HTTP door writes them.
    let tail = run(STANDALONE, &place, &["--json", "events", "tail"], &[]);
    assert_eq!(code(&tail), 0, "{}", stderr(&tail));
    let events: Vec<Value> = stdout(&tail)
        .lines()
        .map(|line| herald::json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e["position"].as_str().unwrap().starts_with("v1."))
    );
    assert_eq!(
        events[2]["payload"],
        herald::json::json!({"till_id": 2, "amount": POISON})
    );
    // After a position, filtered by a pattern, at most a limit.
    let after = events[0]["position"].as_str().unwrap();
    let tail = run(
        STANDALONE,
        &place,
        &["events", "tail", "--after", after, "-p", "till.1.*"],
        &[],
    );
    let lines: Vec<String> = stdout(&tail).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("till.1.paid") && lines[0].contains(r#""amount":20"#));
    let tail = run(STANDALONE, &place, &["events", "tail", "--limit", "2"], &[]);
    assert_eq!(stdout(&tail).lines().count(), 2);

    // A stream.
    let stream = json(&run(
        STANDALONE,
        &place,
        &["--json", "stream", "show", "till", "1"],
        &[],
    ));
    assert_eq!(stream["events"].as_array().unwrap().len(), 2);
    let none = run(
        STANDALONE,
        &place,
        &["stream", "show", "till", "1", "--tenant", "globex"],
        &[],
    );
    assert_eq!(code(&none), 3, "{}", stderr(&none));

    // A command: its result as stored, its trace tree, its events.
    let id = command_id.to_string();
    let shown = run(STANDALONE, &place, &["command", "show", &id], &[]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(text.contains("route: pay.1"), "{text}");
    assert!(
        text.contains("trace:") && text.contains("dispatch") && text.contains(" ms"),
        "{text}"
    );
    assert!(text.contains("till.1.paid"), "{text}");
    let shown = json(&run(
        STANDALONE,
        &place,
        &["--json", "command", "show", &id],
        &[],
    ));
    assert_eq!(shown["result"]["route"], "pay.1");
    assert!(shown["result"]["trace"].is_object());
    assert_eq!(shown["events"].as_array().unwrap().len(), 1);
    let unknown = herald::Uuid::now_v7().to_string();
    assert_eq!(
        code(&run(
            STANDALONE,
            &place,
            &["command", "show", &unknown],
            &[]
        )),
        3
    );

    // The consumers: position, lag (exact here), parked, the last error.
    let listed = json(&run(
        STANDALONE,
        &place,
        &["--json", "consumers", "list"],
        &[],
    ));
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["consumer"] == "till_totals")
        .expect("till_totals is listed")
        .clone();
    assert_eq!(row["position"], events[2]["position"]);
    assert_eq!(
        (row["lag"].as_u64(), row["lag_exact"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!(row["parked"], 1);
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("refused by the projector"),
        "{row}"
    );
    let text = stdout(&run(STANDALONE, &place, &["consumers", "list"], &[]));
    assert!(
        text.contains("till_totals") && text.contains("lease holder"),
        "{text}"
    );

    // Dead letters: listed; a skip asks first, and without a terminal nobody says yes.
    let letters = json(&run(
        STANDALONE,
        &place,
        &["--json", "dead-letters", "list"],
        &[],
    ));
    assert_eq!(letters[0]["event_id"], parked.to_string());
    let event = parked.to_string();
    let refused = run(
        STANDALONE,
        &place,
        &["dead-letters", "skip", "till_totals", &event],
        &[],
    );
    assert_eq!(code(&refused), 4, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("skip event"),
        "{}",
        stderr(&refused)
    );
    let still = json(&run(
        STANDALONE,
        &place,
        &["--json", "dead-letters", "list", "till_totals"],
        &[],
    ));
    assert_eq!(still.as_array().unwrap().len(), 1);
    let skipped = run(
        STANDALONE,
        &place,
        &["dead-letters", "skip", "till_totals", &event, "--yes"],
        &[],
    );
    assert_eq!(code(&skipped), 0, "{}", stderr(&skipped));
    let gone = json(&run(
        STANDALONE,
        &place,
        &["--json", "dead-letters", "list", "till_totals"],
        &[],
    ));
    assert!(gone.as_array().unwrap().is_empty());
    let again = run(
        STANDALONE,
        &place,
        &["dead-letters", "skip", "till_totals", &event, "--yes"],
        &[],
    );
    assert_eq!(code(&again), 3);

    // What needs the application's handlers says so; bad arguments are usage errors.
    let rebuild = run(STANDALONE, &place, &["rebuild", "till_totals"], &[]);
    assert_eq!(code(&rebuild), 5);
    assert!(
        stderr(&rebuild).contains("herald::cli::run"),
        "{}",
        stderr(&rebuild)
    );
    assert_eq!(
        code(&run(
            STANDALONE,
            &place,
            &["events", "tail", "-p", "till..x"],
            &[]
        )),
        2
    );
    assert_eq!(
        code(&run(
            STANDALONE,
            &place,
            &["events", "tail", "--after", "7"],
            &[]
        )),
        2
    );
    assert_eq!(code(&run(STANDALONE, &place, &["no-such-command"], &[])), 2);
    let help = run(STANDALONE, &place, &["--help"], &[]);
    assert!(
        stdout(&help).contains("no upcasting happens"),
        "{}",
        stdout(&help)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn standalone_reads_a_store_it_has_no_code_for_on_sqlite() {
    standalone_reads_a_store_it_has_no_code_for(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn standalone_reads_a_store_it_has_no_code_for_on_postgres() {
    standalone_reads_a_store_it_has_no_code_for(Place::postgres().await).await;
}

async fn following_prints_events_as_they_commit(place: Place) {
    seeded(&place).await;
    let mut child = Command::new(STANDALONE)
        .args([
            "--url",
            &place.url(),
            "events",
            "tail",
            "--follow",
            "-p",
            "till.3.*",
        ])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    // Nothing of till 3 yet: it waits.
    assert!(seen.recv_timeout(Duration::from_millis(700)).is_err());
    let herald = ops::builder(&place.url())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    herald
        .dispatch(Pay {
            till_id: 3,
            amount: 5,
        })
        .await
        .unwrap();
    let line = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("the new event is printed");
    assert!(
        line.contains("till.3.paid") && line.contains(r#""amount":5"#),
        "{line}"
    );
    herald.shutdown().await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn following_prints_events_as_they_commit_on_sqlite() {
    following_prints_events_as_they_commit(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn following_prints_events_as_they_commit_on_postgres() {
    following_prints_events_as_they_commit(Place::postgres().await).await;
}

async fn the_application_binary_retries_rebuilds_and_replays(place: Place) {
    let (_, parked) = seeded(&place).await;
    let event = parked.to_string();

    // The fix is deployed: the retry runs the handler again, and it writes its row.
    assert_eq!(total(&place, 2).await, None);
    let retried = run(
        OPS,
        &place,
        &["dead-letters", "retry", "till_totals", &event],
        &[("HERALD_OPS_HEALED", "1")],
    );
    assert_eq!(code(&retried), 0, "{}", stderr(&retried));
    assert_eq!(total(&place, 2).await, Some(POISON as i64));
    assert_eq!(total(&place, 1).await, Some(30));

    // A rebuild that fails halfway says so, exits non-zero, and leaves the table.
    let failed = run(
        OPS,
        &place,
        &["rebuild", "till_totals"],
        &[("HERALD_OPS_HEALED", "1"), ("HERALD_OPS_FAIL_AT", "20")],
    );
    assert_eq!(code(&failed), 1);
    assert!(
        stderr(&failed).contains("rebuilding till_totals failed"),
        "{}",
        stderr(&failed)
    );
    assert!(
        stderr(&failed).contains("payment of 20 refused"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(total(&place, 1).await, Some(30));

    let rebuilt = json(&run(
        OPS,
        &place,
        &["--json", "rebuild", "till_totals"],
        &[("HERALD_OPS_HEALED", "1")],
    ));
    assert_eq!(
        (rebuilt["events"].as_u64(), rebuilt["handled"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(total(&place, 1).await, Some(30));

    // A replay asks, then moves the checkpoint back: the events are its lag again.
    let refused = run(
        OPS,
        &place,
        &["replay", "till_totals", "--from", "v1.0.0"],
        &[],
    );
    assert_eq!(code(&refused), 4, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("handles the 3 events after it again"),
        "{}",
        stderr(&refused)
    );
    let replayed = run(
        OPS,
        &place,
        &["replay", "till_totals", "--from", "v1.0.0", "--yes"],
        &[],
    );
    assert_eq!(code(&replayed), 0, "{}", stderr(&replayed));
    let listed = json(&run(OPS, &place, &["--json", "consumers", "list"], &[]));
    let row = &listed.as_array().unwrap()[0];
    assert_eq!(
        (row["consumer"].as_str(), row["kind"].as_str()),
        (Some("till_totals"), Some("projector"))
    );
    assert_eq!(
        (row["position"].as_str(), row["lag"].as_u64()),
        (Some("v1.0.0"), Some(3))
    );
    assert!(row["lag_seconds"].as_f64().unwrap() > 0.0, "{row}");
    let unknown = run(
        OPS,
        &place,
        &["replay", "nobody", "--from", "v1.0.0", "--yes"],
        &[],
    );
    assert_eq!(code(&unknown), 3, "{}", stderr(&unknown));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_application_binary_retries_rebuilds_and_replays_on_sqlite() {
    the_application_binary_retries_rebuilds_and_replays(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_application_binary_retries_rebuilds_and_replays_on_postgres() {
    the_application_binary_retries_rebuilds_and_replays(Place::postgres().await).await;
}

async fn the_application_binary_snapshots_and_restores(place: Place) {
    seeded(&place).await;
    let path = herald_tests::backends::scratch_file().with_extension("snapshot");
    let file = path.display().to_string();

    // The standalone binary has no projectors to know the tables of.
    let standalone = run(STANDALONE, &place, &["snapshot", "till_totals", &file], &[]);
    assert_eq!(code(&standalone), 5, "{}", stderr(&standalone));

    let taken = json(&run(
        OPS,
        &place,
        &["--json", "snapshot", "till_totals", &file],
        &[],
    ));
    assert_eq!(taken["snapshot"].as_str(), Some("till_totals"));
    assert_eq!(
        (taken["rows"].as_u64(), taken["dead_letters"].as_u64()),
        (Some(1), Some(1)),
        "{taken}"
    );
    let at = taken["checkpoints"][0]["position"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(at.starts_with("v1."), "{taken}");

    // A payment after it, then the restore: it says what it touches and asks.
    let herald = ops::builder(&place.url()).build().await.unwrap();
    let paid = herald
        .dispatch(Pay {
            till_id: 1,
            amount: 10,
        })
        .await
        .unwrap();
    herald
        .consumers()
        .wait_for(paid.events(), ["till_totals"], Duration::from_secs(10))
        .await
        .unwrap();
    herald.shutdown().await;
    assert_eq!(total(&place, 1).await, Some(40));
    let refused = run(OPS, &place, &["restore", "till_totals", &file], &[]);
    assert_eq!(code(&refused), 4, "{}", stderr(&refused));
    let asked = stderr(&refused);
    assert!(
        asked.contains("replace the tables of `till_totals`")
            && asked.contains(&format!("to till_totals {at}")),
        "{asked}"
    );
    assert!(
        asked.contains("handles the 1 events after it again"),
        "{asked}"
    );
    assert_eq!(total(&place, 1).await, Some(40));

    let restored = json(&run(
        OPS,
        &place,
        &["--json", "restore", "till_totals", &file, "--yes"],
        &[],
    ));
    assert_eq!(restored["restored"].as_str(), Some("till_totals"));
    assert_eq!(
        restored["checkpoints"][0]["position"].as_str(),
        Some(at.as_str())
    );
    // As it was; the application's workers catch up from there.
    assert_eq!(total(&place, 1).await, Some(30));
    let listed = json(&run(OPS, &place, &["--json", "consumers", "list"], &[]));
    assert_eq!(listed[0]["position"].as_str(), Some(at.as_str()));
    assert_eq!(listed[0]["lag"].as_u64(), Some(1));

    // A table changed since: refused, saying why, exit 6.
    let herald = ops::builder(&place.url())
        .run_consumers(false)
        .build()
        .await
        .unwrap();
    herald_tests::backends::sql(&herald, "ALTER TABLE till_totals ADD COLUMN note TEXT").await;
    herald.shutdown().await;
    let incompatible = run(
        OPS,
        &place,
        &["restore", "till_totals", &file, "--yes"],
        &[],
    );
    assert_eq!(code(&incompatible), 6, "{}", stderr(&incompatible));
    assert!(
        stderr(&incompatible).contains("has a column `note`"),
        "{}",
        stderr(&incompatible)
    );
    let missing = run(OPS, &place, &["restore", "nobody", &file, "--yes"], &[]);
    assert_eq!(code(&missing), 3, "{}", stderr(&missing));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_application_binary_snapshots_and_restores_on_sqlite() {
    the_application_binary_snapshots_and_restores(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_application_binary_snapshots_and_restores_on_postgres() {
    the_application_binary_snapshots_and_restores(Place::postgres().await).await;
}

async fn archiving_counts_first_then_asks(place: Place) {
    seeded(&place).await;
    let archive = Place::sqlite();
    let to = archive.url();
    let dry = json(&run(
        STANDALONE,
        &place,
        &["--json", "discard", "--to", &to, "--dry-run"],
        &[],
    ));
    // Every event is passed by the one consumer (the poison parked, so passed).
    assert_eq!(
        (dry["archive"].as_u64(), dry["discard_at_most"].as_u64()),
        (Some(3), Some(3))
    );
    let refused = run(STANDALONE, &place, &["discard", "--to", &to], &[]);
    assert_eq!(code(&refused), 4);
    assert!(
        stderr(&refused).contains("archive 3 events"),
        "{}",
        stderr(&refused)
    );
    let done = json(&run(
        STANDALONE,
        &place,
        &["--json", "discard", "--to", &to, "--yes"],
        &[],
    ));
    // Till 1's first payment goes; each stream's last event and the parked one stay.
    assert_eq!(
        (done["archived"].as_u64(), done["discarded"].as_u64()),
        (Some(3), Some(1))
    );
    let tail = run(STANDALONE, &place, &["events", "tail"], &[]);
    assert_eq!(stdout(&tail).lines().count(), 2);
    let dry = json(&run(
        STANDALONE,
        &place,
        &["--json", "archive", "--to", &to, "--dry-run"],
        &[],
    ));
    assert_eq!(dry["archive"].as_u64(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn archiving_counts_first_then_asks_on_sqlite() {
    archiving_counts_first_then_asks(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn archiving_counts_first_then_asks_on_postgres() {
    archiving_counts_first_then_asks(Place::postgres().await).await;
}

/// A tmux session of its own, killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(width: u32) -> Tmux {
        let name = format!("herald-cli-{}", herald::Uuid::now_v7().simple());
        let started = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &width.to_string(),
                "-y",
                "30",
            ])
            .env_remove("TMUX")
            .status()
            .expect("tmux is installed");
        assert!(started.success());
        Tmux { name }
    }

    fn send(&self, keys: &[&str]) {
        let sent = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Types a command line and presses Enter.
    fn type_line(&self, line: &str) {
        self.send(&["-l", line]);
        self.send(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen once it shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// A line a shell runs: the binary on the place, then its exit code.
fn shell_line(bin: &str, place: &Place, args: &str, env: &str) -> String {
    format!(
        "{env} {bin} --url '{}' {args}; echo \"exit=$?\"",
        place.url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_is_seen_and_answered_in_a_terminal() {
    let place = Place::sqlite();
    let (_, parked) = seeded(&place).await;
    let tmux = Tmux::start(160);
    let skip = format!("dead-letters skip till_totals {parked}");
    tmux.type_line(&shell_line(STANDALONE, &place, &skip, ""));
    let screen = tmux.wait_for("Go on? [y/N]");
    assert!(
        screen.contains(&format!("This will skip event {parked}")),
        "{screen}"
    );
    tmux.type_line("n");
    let screen = tmux.wait_for("exit=4");
    assert!(
        screen.contains("not confirmed: nothing was changed"),
        "{screen}"
    );

    drop(tmux);
    // A new terminal, so that the prompt seen is the new one.
    let tmux = Tmux::start(160);
    tmux.type_line(&shell_line(STANDALONE, &place, &skip, ""));
    tmux.wait_for("Go on? [y/N]");
    tmux.type_line("y");
    let screen = tmux.wait_for("exit=0");
    assert!(
        screen.contains(&format!("skipped event {parked} of `till_totals`")),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_shows_its_progress_and_its_failure_in_a_terminal() {
    let place = Place::sqlite();
    let herald = ops::builder(&place.url()).build().await.unwrap();
    ops::create_tables(&herald).await.unwrap();
    let payments = 2000u64;
    for chunk in 0..payments / 200 {
        let mut tx = herald.begin().await.unwrap();
        for i in 0..200 {
            let amount = chunk * 200 + i + 1;
            tx.dispatch(Pay {
                till_id: amount % 7,
                amount,
            })
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    herald.shutdown().await;

    let tmux = Tmux::start(160);
    let healed = "HERALD_OPS_HEALED=1";
    tmux.type_line(&shell_line(OPS, &place, "rebuild till_totals", healed));
    // The bar as it runs: rate and time left.
    let running = tmux.wait_for("/s, ");
    assert!(running.contains("rebuilding till_totals ["), "{running}");
    assert!(
        running.contains("/s, ") && running.contains(" left"),
        "{running}"
    );
    let done = tmux.wait_for("exit=0");
    assert!(
        done.contains(&format!("{payments}/{payments} events")),
        "{done}"
    );
    assert!(
        done.contains(&format!("rebuilt till_totals: {payments} events read")),
        "{done}"
    );

    // One in the middle fails: the bar stops there and the error is printed below it.
    drop(tmux);
    let tmux = Tmux::start(160);
    let fail_at = "HERALD_OPS_HEALED=1 HERALD_OPS_FAIL_AT=1500";
    tmux.type_line(&shell_line(OPS, &place, "rebuild till_totals", fail_at));
    let failed = tmux.wait_for("exit=1");
    assert!(
        failed.contains("error: rebuilding till_totals failed"),
        "{failed}"
    );
    assert!(failed.contains("payment of 1500 refused"), "{failed}");
    let bar = failed
        .lines()
        .find(|l| l.contains("rebuilding till_totals ["))
        .expect("the bar stays");
    assert!(!bar.contains(&format!("{payments}/{payments}")), "{failed}");
}
