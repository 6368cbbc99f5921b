//! An eventual projector's writes take effect exactly once across crashes: a worker
//! process is killed (SIGKILL) in the middle of catching up, a new one finishes, and the
//! projection equals one built from scratch from the events. On PostgreSQL two worker
//! processes run the same consumer at once and one is killed: nothing is applied twice.
//! The same with a consumer split into partitions: the two processes share them, and the
//! survivor takes the killed one's. The processes are real: this test binary runs itself
//! as the children.

use std::time::{Duration, Instant};

use herald::prelude::*;
use herald::store::{Position, Sql};
use herald_tests::process::{ChildProcess, Place};

mod tally {
    use herald::prelude::*;

    #[event("meter.:id.read")]
    pub(crate) struct Read {
        pub(crate) id: u32,
        pub(crate) n: i64,
    }

    #[command("read.meter.:id")]
    pub(crate) struct TakeReading {
        pub(crate) id: u32,
        pub(crate) n: i64,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Meter;

    #[aggregate]
    impl Meter {
        #[handle]
        fn take(&self, cmd: &TakeReading) -> Result<Read, String> {
            Ok(Read {
                id: cmd.id,
                n: cmd.n,
            })
        }

        #[apply]
        fn read(&mut self, _: &Read) {}
    }
}

/// The consumer run by one process at a time.
mod whole {
    use std::time::Duration;

    use herald::prelude::*;
    use herald::store::Sql;

    use crate::tally::Read;

    /// Adds each reading to a running total: applied twice, the total would be wrong. The
    /// pause makes the catch-up last long enough to be killed in the middle.
    #[projector("meter.:id.read", consistency = eventual)]
    async fn totals(e: &Recorded<Read>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let add =
            "UPDATE meter_totals SET total = total + $1, readings = readings + 1 WHERE id = 1";
        // Which process handled how many: one at a time runs the consumer.
        let by = "INSERT INTO meter_processes (pid, readings) VALUES ($1, 1) \
                  ON CONFLICT (pid) DO UPDATE SET readings = meter_processes.readings + 1";
        let pid = i64::from(std::process::id());
        match cx.sql() {
            Sql::Sqlite(conn) => {
                sqlx::query(add).bind(e.n).execute(&mut *conn).await?;
                sqlx::query(by).bind(pid).execute(conn).await?;
            }
            Sql::Postgres(conn) => {
                sqlx::query(add).bind(e.n).execute(&mut *conn).await?;
                sqlx::query(by).bind(pid).execute(conn).await?;
            }
            _ => return Err("these tests need a SQL store".into()),
        }
        Ok(())
    }
}

/// The consumer split four ways by meter: several processes run it side by side.
mod split {
    use std::time::Duration;

    use herald::prelude::*;
    use herald::store::Sql;

    use crate::tally::Read;

    /// Adds each reading to its meter's total, and counts what each process handled.
    /// Slow enough for the processes to share the work before it is done: the largest
    /// partition holds about 90 readings (4.5 s), a hand-over takes under a second.
    #[projector("meter.:id.read", consistency = eventual, partitions = 4)]
    async fn split_totals(e: &Recorded<Read>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let add = "INSERT INTO meter_split (id, total, readings) VALUES ($1, $2, 1) \
                   ON CONFLICT (id) DO UPDATE SET total = meter_split.total + $2, \
                   readings = meter_split.readings + 1";
        let by = "INSERT INTO meter_split_processes (pid, readings) VALUES ($1, 1) \
                  ON CONFLICT (pid) DO UPDATE SET readings = meter_split_processes.readings + 1";
        let pid = i64::from(std::process::id());
        let Sql::Postgres(conn) = cx.sql() else {
            return Err("the split test runs on PostgreSQL".into());
        };
        sqlx::query(add)
            .bind(i64::from(e.id))
            .bind(e.n)
            .execute(&mut *conn)
            .await?;
        sqlx::query(by).bind(pid).execute(conn).await?;
        Ok(())
    }
}

const EVENTS: i64 = 300;
const WHOLE: &str = "consumer_crash::whole";
const SPLIT: &str = "consumer_crash::split";

async fn runtime(place: &Place, workers: bool) -> Herald {
    runtime_of(place, WHOLE, workers).await
}

/// A runtime of the meters and the consumer of module `release`.
async fn runtime_of(place: &Place, release: &str, workers: bool) -> Herald {
    let herald = Herald::builder()
        .modules(["consumer_crash::tally", release])
        .store(place.store().await)
        .run_consumers(workers)
        .consumer_batch(10)
        // A killed worker's hold on the consumer runs out quickly.
        .consumer_lease(Duration::from_millis(600))
        .build()
        .await
        .unwrap();
    let mut tx = herald.begin().await.unwrap();
    let create = "CREATE TABLE IF NOT EXISTS meter_totals (id INTEGER PRIMARY KEY, total BIGINT NOT NULL, readings BIGINT NOT NULL)";
    let seed =
        "INSERT INTO meter_totals (id, total, readings) VALUES (1, 0, 0) ON CONFLICT DO NOTHING";
    let processes = "CREATE TABLE IF NOT EXISTS meter_processes (pid BIGINT PRIMARY KEY, readings BIGINT NOT NULL)";
    let split = "CREATE TABLE IF NOT EXISTS meter_split (id BIGINT PRIMARY KEY, total BIGINT NOT NULL, readings BIGINT NOT NULL)";
    let split_processes = "CREATE TABLE IF NOT EXISTS meter_split_processes (pid BIGINT PRIMARY KEY, readings BIGINT NOT NULL)";
    for statement in [create, seed, processes, split, split_processes] {
        match tx.sql() {
            Sql::Sqlite(conn) => drop(sqlx::query(statement).execute(conn).await.unwrap()),
            Sql::Postgres(conn) => drop(sqlx::query(statement).execute(conn).await.unwrap()),
            _ => unreachable!(),
        }
    }
    tx.commit().await.unwrap();
    herald
}

/// A child: runs the consumer's worker until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests as their child process"]
async fn worker() {
    let Some(place) = Place::of_child() else {
        return;
    };
    let _herald = runtime(&place, true).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// A child: runs the split consumer's workers until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests as their child process"]
async fn split_worker() {
    let Some(place) = Place::of_child() else {
        return;
    };
    let _herald = runtime_of(&place, SPLIT, true).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// The consumer's committed position.
async fn position(herald: &Herald) -> Position {
    let checkpoints = herald.store().consumers().checkpoints().await.unwrap();
    checkpoints
        .iter()
        .find(|c| c.consumer == "totals")
        .map_or(Position::START, |c| c.position)
}

/// Waits until the consumer has passed `at`.
async fn reached(herald: &Herald, at: Position) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while position(herald).await < at {
        assert!(Instant::now() < deadline, "the consumer never passed {at}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill(child: ChildProcess) {
    child.kill(); // SIGKILL
}

/// The totals table: (total, readings).
async fn projection(herald: &Herald) -> (i64, i64) {
    let mut tx = herald.begin().await.unwrap();
    let select = "SELECT total, readings FROM meter_totals WHERE id = 1";
    let row: (i64, i64) = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_as(select).fetch_one(conn).await.unwrap(),
        Sql::Postgres(conn) => sqlx::query_as(select).fetch_one(conn).await.unwrap(),
        _ => unreachable!(),
    };
    tx.rollback().await.unwrap();
    row
}

/// How many readings each process handled, by pid.
async fn by_process(herald: &Herald) -> Vec<(i64, i64)> {
    let mut tx = herald.begin().await.unwrap();
    let select = "SELECT pid, readings FROM meter_processes ORDER BY pid";
    let rows: Vec<(i64, i64)> = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_as(select).fetch_all(conn).await.unwrap(),
        Sql::Postgres(conn) => sqlx::query_as(select).fetch_all(conn).await.unwrap(),
        _ => unreachable!(),
    };
    tx.rollback().await.unwrap();
    rows
}

/// The projection built from scratch: every reading, from the events.
async fn from_scratch(herald: &Herald) -> (i64, i64) {
    let events = herald
        .store()
        .read_all(Position::START, EVENTS as usize + 10)
        .await
        .unwrap();
    let readings: Vec<tally::Read> = events.iter().map(|e| e.decode().unwrap()).collect();
    (readings.iter().map(|r| r.n).sum(), readings.len() as i64)
}

/// Dispatches the readings without running the consumer; the last position.
async fn readings(place: &Place) -> (Herald, Position) {
    let herald = runtime(place, false).await;
    let mut last = Position::START;
    for id in 0..EVENTS {
        let reading = tally::TakeReading {
            id: (id % 7) as u32,
            n: id * 3 + 1,
        };
        last = herald.dispatch(reading).await.unwrap().events()[0].position;
    }
    (herald, last)
}

async fn killed_mid_catch_up_then_restarted(place: Place) {
    let (herald, last) = readings(&place).await;
    let all = herald.store().read_all(Position::START, 200).await.unwrap();
    let child = place.spawn("worker", &[]);
    reached(&herald, all[100].position).await;
    kill(child);
    let at_kill = position(&herald).await;
    assert!(at_kill < last, "killed before it was done");
    let (total, readings) = projection(&herald).await;
    let done = all.iter().filter(|e| e.position <= at_kill).count() as i64;
    assert_eq!(readings, done, "the rows and the checkpoint moved together");
    assert!(total > 0);

    let restarted = runtime(&place, true).await;
    reached(&restarted, last).await;
    assert_eq!(projection(&restarted).await, from_scratch(&restarted).await);
    assert!(
        restarted
            .consumers()
            .dead_letters("totals")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_worker_killed_mid_catch_up_applies_each_event_once() {
    killed_mid_catch_up_then_restarted(Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_worker_killed_mid_catch_up_applies_each_event_once() {
    killed_mid_catch_up_then_restarted(Place::postgres().await).await;
}

/// Two worker processes for one consumer: the one holding its lease runs it, the other
/// stands by; the holder is killed mid-run; the other takes over once the lease runs
/// out and finishes; each event took effect once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_second_worker_process_takes_over_a_killed_ones_lease() {
    let place = Place::postgres().await;
    let (herald, last) = readings(&place).await;
    let all = herald.store().read_all(Position::START, 200).await.unwrap();
    let first = place.spawn("worker", &[]);
    let first_pid = i64::from(first.id());
    reached(&herald, all[20].position).await; // the first holds the lease
    let second = place.spawn("worker", &[]);
    reached(&herald, all[80].position).await;
    let before = by_process(&herald).await;
    assert_eq!(before.len(), 1, "one process at a time: {before:?}");
    assert_eq!(before[0].0, first_pid);
    kill(first);
    reached(&herald, last).await;
    kill(second);
    assert_eq!(projection(&herald).await, from_scratch(&herald).await);
    let after = by_process(&herald).await;
    assert_eq!(after.len(), 2, "the second took over: {after:?}");
    assert!(
        herald
            .consumers()
            .dead_letters("totals")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Rows of a query of two numbers.
async fn pairs(herald: &Herald, select: &str) -> Vec<(i64, i64)> {
    let mut tx = herald.begin().await.unwrap();
    let Sql::Postgres(conn) = tx.sql() else {
        unreachable!()
    };
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(select))
        .fetch_all(conn)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    rows
}

/// Waits until every partition of the split consumer has passed `at`.
async fn split_reached(herald: &Herald, at: Position) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = herald.consumers().list().await.unwrap();
        let partitions: Vec<_> = list.iter().filter(|c| c.name == "split_totals").collect();
        assert_eq!(partitions.len(), 4);
        if partitions.iter().all(|c| c.position >= at) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the partitions never passed {at}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two worker processes run a consumer split four ways: they share its partitions (both
/// handle events before either is done); one is killed mid-run; the survivor takes its
/// partitions once their leases run out and finishes. Each meter's total equals the one
/// built from the events: nothing was applied twice or skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_two_processes_share_a_split_consumer_and_a_survivor_finishes_a_killed_ones_partitions()
 {
    let place = Place::postgres().await;
    let (_, last) = readings(&place).await;
    let herald = runtime_of(&place, SPLIT, false).await;
    let first = place.spawn("split_worker", &[]);
    let second = place.spawn("split_worker", &[]);
    let (first_pid, second_pid) = (i64::from(first.id()), i64::from(second.id()));
    let by_process = "SELECT pid, readings FROM meter_split_processes ORDER BY pid";
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let processes = pairs(&herald, by_process).await;
        let handled: i64 = processes.iter().map(|(_, n)| n).sum();
        if processes.len() == 2 {
            assert!(handled < EVENTS, "both ran before the work was done");
            break;
        }
        assert!(
            handled < EVENTS,
            "one process did everything: {processes:?}"
        );
        assert!(
            Instant::now() < deadline,
            "the processes never shared the work"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(first);
    split_reached(&herald, last).await;
    kill(second);

    let totals = pairs(&herald, "SELECT id, total FROM meter_split ORDER BY id").await;
    let counts = pairs(&herald, "SELECT id, readings FROM meter_split ORDER BY id").await;
    let events = herald
        .store()
        .read_all(Position::START, EVENTS as usize + 10)
        .await
        .unwrap();
    let mut expected: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
    for event in &events {
        let read: tally::Read = event.decode().unwrap();
        let entry = expected.entry(i64::from(read.id)).or_default();
        *entry = (entry.0 + read.n, entry.1 + 1);
    }
    let expected_totals: Vec<(i64, i64)> = expected.iter().map(|(id, (t, _))| (*id, *t)).collect();
    let expected_counts: Vec<(i64, i64)> = expected.iter().map(|(id, (_, n))| (*id, *n)).collect();
    assert_eq!(totals, expected_totals, "each reading added once");
    assert_eq!(counts, expected_counts);
    let processes = pairs(&herald, by_process).await;
    let pids: Vec<i64> = processes.iter().map(|(pid, _)| *pid).collect();
    let mut both = vec![first_pid, second_pid];
    both.sort();
    assert_eq!(pids, both);
    assert_eq!(processes.iter().map(|(_, n)| n).sum::<i64>(), EVENTS);
    assert!(
        herald
            .consumers()
            .dead_letters("split_totals")
            .await
            .unwrap()
            .is_empty()
    );
}
