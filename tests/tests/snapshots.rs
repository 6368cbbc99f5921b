//! Read-model snapshots: an eventual projector's tables, checkpoints and dead letters
//! backed up at one position while commands go on, restored while holding the
//! projector's leases, then caught up; the snapshots that do not fit refused, saying
//! why; and, for any payments with writers committing throughout, a restore and its
//! catch-up leave the tables a rebuild from scratch leaves.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald::error::SnapshotMismatch;
use herald::prelude::*;
use herald::store::EventStore;
use herald::{ErrorKind, HeraldBuilder, RetryPolicy};
use herald_tests::backends::{TestStore, scratch_file, sql};
use herald_tests::on_every_backend;
use proptest::prelude::*;

mod domain {
    use herald::prelude::*;

    #[event("till.:till_id.paid")]
    pub(crate) struct Paid {
        pub(crate) till_id: u64,
        pub(crate) amount: u64,
    }

    #[command("pay.:till_id")]
    pub(crate) struct Pay {
        pub(crate) till_id: u64,
        pub(crate) amount: u64,
    }

    #[aggregate(name = "till")]
    #[derive(Default)]
    pub(crate) struct Till;

    #[aggregate]
    impl Till {
        #[handle]
        fn pay(&self, cmd: &Pay) -> Result<Paid, std::convert::Infallible> {
            Ok(Paid {
                till_id: cmd.till_id,
                amount: cmd.amount,
            })
        }

        #[apply]
        fn paid(&mut self, _: &Paid) {}
    }
}

use domain::{Paid, Pay};

/// The payment the projectors refuse: parked.
const POISON: u64 = 13;

/// A till's row: an integer, a count, a text that is sometimes null, a real with many
/// digits and a blob, so that each kind of value makes the trip.
async fn write_sum(table: &str, e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), String> {
    if e.amount == POISON {
        return Err(format!("payment of {POISON} refused"));
    }
    let upsert = format!(
        "INSERT INTO {table} (till_id, total, payments, last_memo, mean, tag) VALUES ($1, $2, 1, $3, $4, $5) \
         ON CONFLICT (till_id) DO UPDATE SET total = {table}.total + $2, payments = {table}.payments + 1, \
         last_memo = $3, mean = $4, tag = $5"
    );
    let memo = (!e.amount.is_multiple_of(3)).then(|| format!("paid {} \"at\" the tïll", e.amount));
    let mean = e.amount as f64 / 7.0;
    let tag = vec![e.till_id as u8, e.amount as u8, 0, 255];
    let written = herald::sql!(cx.sql(), |conn| {
        sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(e.till_id as i64)
            .bind(e.amount as i64)
            .bind(memo)
            .bind(mean)
            .bind(tag)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    });
    match written {
        Some(result) => result.map(drop).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// Version 1 of the tills' sums: the one the snapshots are taken of.
mod sums {
    use super::{Paid, write_sum};
    use herald::prelude::*;

    #[projector("till.:till_id.paid", consistency = eventual, tables = ["till_sums"])]
    async fn till_sums(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), String> {
        write_sum(cx.table("till_sums").as_ref(), e, cx).await
    }
}

/// Version 2 of the same projector, as a later release declares it.
mod sums_v2 {
    use super::{Paid, write_sum};
    use herald::prelude::*;

    #[projector("till.:till_id.paid", consistency = eventual, tables = ["till_sums"], version = 2, name = "till_sums")]
    async fn till_sums_v2(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), String> {
        write_sum(cx.table("till_sums").as_ref(), e, cx).await
    }
}

/// Another projector with a table of the same layout.
mod other {
    use super::{Paid, write_sum};
    use herald::prelude::*;

    #[projector("till.:till_id.paid", consistency = eventual, tables = ["other_sums"])]
    async fn other_sums(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), String> {
        write_sum(cx.table("other_sums").as_ref(), e, cx).await
    }
}

/// The same sums split in two partitions.
mod split {
    use super::{Paid, write_sum};
    use herald::prelude::*;

    #[projector("till.:till_id.paid", consistency = eventual, tables = ["split_sums"], partitions = 2)]
    async fn split_sums(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), String> {
        write_sum(cx.table("split_sums").as_ref(), e, cx).await
    }
}

const WAIT: Duration = Duration::from_secs(20);

fn builder(store: &Arc<dyn EventStore>, projectors: &str) -> HeraldBuilder {
    Herald::builder()
        .modules([
            "snapshots::domain".to_owned(),
            format!("snapshots::{projectors}"),
        ])
        .store(store.clone())
        .consumer_retry(RetryPolicy::new(2).base(Duration::from_millis(1)))
        .consumer_poll(Duration::from_millis(50))
}

/// A runtime running `projectors`' workers, with their tables made.
async fn app(store: &Arc<dyn EventStore>, projectors: &str) -> Herald {
    let herald = builder(store, projectors).build().await.unwrap();
    create_tables(&herald).await;
    herald
}

/// A runtime that runs no worker, as the operator's binary builds it.
async fn ops(store: &Arc<dyn EventStore>, projectors: &str) -> Herald {
    builder(store, projectors)
        .run_consumers(false)
        .build()
        .await
        .unwrap()
}

async fn create_tables(herald: &Herald) {
    let blob = match herald.store().kind() {
        "postgres" => "BYTEA",
        _ => "BLOB",
    };
    for table in ["till_sums", "other_sums", "split_sums"] {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (till_id BIGINT PRIMARY KEY, total BIGINT NOT NULL, \
             payments BIGINT NOT NULL, last_memo TEXT, mean DOUBLE PRECISION NOT NULL, tag {blob} NOT NULL)"
        );
        sql(herald, &create).await;
    }
}

async fn pay(herald: &Herald, till_id: u64, amount: u64) -> Vec<herald::store::RecordedEvent> {
    herald
        .dispatch(Pay { till_id, amount })
        .await
        .unwrap()
        .into_events()
}

type Sum = (i64, i64, i64, Option<String>, f64, Vec<u8>);

/// The rows of `table`, by till (empty on the memory store).
async fn sums(herald: &Herald, table: &str) -> Vec<Sum> {
    let mut reader = herald.reader().await.unwrap();
    let select = format!(
        "SELECT till_id, total, payments, last_memo, mean, tag FROM {table} ORDER BY till_id"
    );
    herald::sql!(reader.sql(), |conn| {
        sqlx::query_as::<_, Sum>(sqlx::AssertSqlSafe(select))
            .fetch_all(conn)
            .await
    })
    .transpose()
    .unwrap()
    .unwrap_or_default()
}

fn totals(sums: &[Sum]) -> Vec<(i64, i64)> {
    sums.iter().map(|s| (s.0, s.1)).collect()
}

fn scratch_snapshot() -> PathBuf {
    scratch_file().with_extension("snapshot")
}

/// The checkpoints of `name` (or its partitions), by key.
async fn positions(herald: &Herald, name: &str) -> Vec<(String, herald::store::Position)> {
    let checkpoints = herald.store().consumers().checkpoints().await.unwrap();
    checkpoints
        .into_iter()
        .filter(|c| c.consumer == name || c.consumer.starts_with(&format!("{name}#")))
        .map(|c| (c.consumer, c.position))
        .collect()
}

/// Whether table `copy` exists.
async fn exists(herald: &Herald, table: &str) -> bool {
    let mut reader = herald.reader().await.unwrap();
    let select = format!("SELECT COUNT(*) FROM {table}");
    herald::sql!(reader.sql(), |conn| {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(select))
            .fetch_one(conn)
            .await
    })
    .is_some_and(|counted| counted.is_ok())
}

/// A snapshot keeps the tables, checkpoint and dead letters of one moment while
/// commands go on; restoring it is refused while another runtime runs the projector,
/// puts all three back, and the projector then catches up from there.
#[on_every_backend]
async fn a_restored_snapshot_puts_the_projection_back_and_it_catches_up(test: &TestStore) {
    let store = &test.store;
    let live = app(store, "sums").await;
    pay(&live, 1, 10).await;
    pay(&live, 1, 20).await;
    let two = pay(&live, 2, 5).await;
    let poison = pay(&live, 3, POISON).await;
    let behind = pay(&live, 3, 4).await;
    let consumers = live.consumers();
    consumers.wait_for(&two, ["till_sums"], WAIT).await.unwrap();
    for parked in [&poison, &behind] {
        let waited = consumers.wait_for(parked, ["till_sums"], WAIT).await;
        assert_eq!(waited.unwrap_err().code(), "parked");
    }
    let path = scratch_snapshot();
    if test.kind() == "memory" {
        let refused = consumers.snapshot("till_sums", &path).await.unwrap_err();
        assert!(
            refused.to_string().contains("needs a SQL store"),
            "{refused}"
        );
        return;
    }
    let mut reports = Vec::new();
    let taken = consumers
        .snapshot("till_sums", &path)
        .on_progress(|p| reports.push(p.clone()))
        .await
        .unwrap();
    assert_eq!(taken.projector, "till_sums");
    assert_eq!(taken.tables, [("till_sums".to_owned(), 2)]);
    assert_eq!(taken.dead_letters, 2, "the poison and the one behind it");
    assert_eq!(
        taken.checkpoints,
        [("till_sums".to_owned(), behind[0].position)]
    );
    assert_eq!(reports.last().map(|p| (p.rows, p.total)), Some((2, 2)));
    let kept = sums(&live, "till_sums").await;
    assert_eq!(totals(&kept), [(1, 30), (2, 5)]);
    assert_eq!(herald::consumer::SnapshotInfo::read(&path).unwrap(), taken);

    // The store goes on; then a bug writes nonsense.
    pay(&live, 1, 30).await;
    let four = pay(&live, 4, 7).await;
    consumers
        .wait_for(&four, ["till_sums"], WAIT)
        .await
        .unwrap();
    sql(&live, "UPDATE till_sums SET total = 999").await;

    // The operator's runtime cannot restore while another runtime runs the projector.
    let operator = ops(store, "sums").await;
    let held = operator
        .consumers()
        .restore("till_sums", &path)
        .await
        .unwrap_err();
    assert_eq!(held.code(), "consumer_held", "{held}");
    assert!(held.to_string().contains("stop the processes"), "{held}");
    assert_eq!(totals(&sums(&live, "till_sums").await)[0], (1, 999));

    // Once it stops, the restore puts back the rows, the checkpoint and the letters.
    live.shutdown().await;
    drop(live);
    let restored = operator
        .consumers()
        .restore("till_sums", &path)
        .await
        .unwrap();
    assert_eq!(restored.rows(), 2);
    assert_eq!(sums(&operator, "till_sums").await, kept);
    assert_eq!(positions(&operator, "till_sums").await, taken.checkpoints);
    let letters = operator
        .consumers()
        .dead_letters("till_sums")
        .await
        .unwrap();
    let ids: Vec<_> = letters.iter().map(|l| l.event_id).collect();
    assert_eq!(ids, [poison[0].event_id, behind[0].event_id]);
    assert!(!exists(&operator, "till_sums__rebuild").await);

    // A runtime that runs it catches up from the snapshot's position.
    let again = app(store, "sums").await;
    again
        .consumers()
        .wait_for(&four, ["till_sums"], WAIT)
        .await
        .unwrap();
    assert_eq!(
        totals(&sums(&again, "till_sums").await),
        [(1, 60), (2, 5), (4, 7)]
    );
    // The poison is still parked, and the event behind it: retried once it is healed…
    assert_eq!(
        again
            .consumers()
            .dead_letters("till_sums")
            .await
            .unwrap()
            .len(),
        2
    );
    again.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

/// A snapshot that does not fit the projector is refused, saying why, and nothing
/// changes: another version, another projector, another table layout, another store,
/// another format; a file changed or cut short.
#[on_every_backend]
async fn a_snapshot_that_does_not_fit_is_refused(test: &TestStore) {
    if test.kind() == "memory" {
        let live = app(&test.store, "sums").await;
        let refused = live
            .consumers()
            .restore("till_sums", scratch_snapshot())
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("needs a SQL store"),
            "{refused}"
        );
        return;
    }
    let store = &test.store;
    let live = app(store, "sums").await;
    pay(&live, 1, 10).await;
    let last = pay(&live, 2, 20).await;
    live.consumers()
        .wait_for(&last, ["till_sums"], WAIT)
        .await
        .unwrap();
    let path = scratch_snapshot();
    live.consumers().snapshot("till_sums", &path).await.unwrap();
    live.shutdown().await;
    drop(live);
    let operator = ops(store, "sums").await;
    let kept = sums(&operator, "till_sums").await;
    let mismatch = |error: herald::Error| match error.into_kind() {
        ErrorKind::SnapshotMismatch { mismatch, .. } => mismatch,
        other => panic!("not a mismatch: {other}"),
    };

    // Version 2 of the projector.
    let v2 = ops(store, "sums_v2").await;
    let refused = v2
        .consumers()
        .restore("till_sums", &path)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "snapshot_mismatch");
    let message = refused.to_string();
    assert!(
        message.contains("version 1 of the projector, which is at version 2 now"),
        "{message}"
    );
    assert_eq!(
        mismatch(refused),
        SnapshotMismatch::Version {
            snapshot: 1,
            declared: 2
        }
    );

    // Another projector.
    let other = ops(store, "other").await;
    let refused = other
        .consumers()
        .restore("other_sums", &path)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("snapshot of projector `till_sums`"),
        "{refused}"
    );
    assert!(matches!(
        mismatch(refused),
        SnapshotMismatch::Projector { .. }
    ));

    // Another number of partitions.
    let split = ops(store, "split").await;
    let renamed = scratch_snapshot();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&renamed, text.replace("till_sums", "split_sums")).unwrap();
    let refused = split
        .consumers()
        .restore("split_sums", &renamed)
        .await
        .unwrap_err();
    assert_eq!(
        mismatch(refused),
        SnapshotMismatch::Partitions {
            snapshot: 1,
            declared: 2
        }
    );

    // Another store's: its position is past every event here.
    let elsewhere = match test.kind() {
        "sqlite" => TestStore::sqlite().await,
        _ => TestStore::postgres().await,
    };
    let empty = app(&elsewhere.store, "sums").await;
    let refused = empty
        .consumers()
        .restore("till_sums", &path)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("past every event of this store"),
        "{refused}"
    );
    assert!(matches!(
        mismatch(refused),
        SnapshotMismatch::AheadOfStore { .. }
    ));
    empty.shutdown().await;

    // A later format.
    let later = scratch_snapshot();
    std::fs::write(
        &later,
        "{\"format\":\"herald-read-model-snapshot\",\"format_version\":2}\n",
    )
    .unwrap();
    let refused = operator
        .consumers()
        .restore("till_sums", &later)
        .await
        .unwrap_err();
    assert_eq!(
        mismatch(refused),
        SnapshotMismatch::Format {
            found: 2,
            supported: 1
        }
    );

    // A row changed, or the end cut off: nothing is restored, and no copy stays.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replacen(',', ", ", 1);
    let changed = scratch_snapshot();
    std::fs::write(&changed, format!("{}\n", lines.join("\n"))).unwrap();
    let refused = operator
        .consumers()
        .restore("till_sums", &changed)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "snapshot_file", "{refused}");
    assert!(
        refused.to_string().contains("changed or cut short"),
        "{refused}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let cut = scratch_snapshot();
    std::fs::write(&cut, format!("{}\n", lines[..lines.len() - 1].join("\n"))).unwrap();
    let refused = operator
        .consumers()
        .restore("till_sums", &cut)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("cut short"), "{refused}");
    assert_eq!(sums(&operator, "till_sums").await, kept);
    assert!(!exists(&operator, "till_sums__rebuild").await);

    // A column added since.
    sql(&operator, "ALTER TABLE till_sums ADD COLUMN note TEXT").await;
    let refused = operator
        .consumers()
        .restore("till_sums", &path)
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains("table `till_sums` has a column `note`"),
        "{message}"
    );
    assert!(matches!(mismatch(refused), SnapshotMismatch::Layout { .. }));

    // What cannot be snapshotted at all.
    let refused = operator
        .consumers()
        .snapshot("nobody", &path)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "no_such_consumer");
    for file in [path, renamed, later, changed, cut] {
        let _ = std::fs::remove_file(file);
    }
}

/// A split projector's snapshot keeps each partition's checkpoint, and each partition
/// catches up from its own once restored.
#[on_every_backend]
async fn a_split_projectors_partitions_are_kept_each_at_its_checkpoint(test: &TestStore) {
    if test.kind() == "memory" {
        return; // no tables to keep
    }
    let store = &test.store;
    let live = app(store, "split").await;
    let mut last = Vec::new();
    for till in 1..=6 {
        last.push(pay(&live, till, till * 10).await);
    }
    for events in &last {
        live.consumers()
            .wait_for(events, ["split_sums"], WAIT)
            .await
            .unwrap();
    }
    let path = scratch_snapshot();
    let taken = live
        .consumers()
        .snapshot("split_sums", &path)
        .await
        .unwrap();
    let keys: Vec<&str> = taken.checkpoints.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["split_sums#0/2", "split_sums#1/2"]);
    let kept = sums(&live, "split_sums").await;
    assert_eq!(kept.len(), 6);
    let more = pay(&live, 1, 5).await;
    live.consumers()
        .wait_for(&more, ["split_sums"], WAIT)
        .await
        .unwrap();
    live.shutdown().await;
    drop(live);

    let operator = ops(store, "split").await;
    operator
        .consumers()
        .restore("split_sums", &path)
        .await
        .unwrap();
    assert_eq!(sums(&operator, "split_sums").await, kept);
    assert_eq!(positions(&operator, "split_sums").await, taken.checkpoints);
    let again = app(store, "split").await;
    again
        .consumers()
        .wait_for(&more, ["split_sums"], WAIT)
        .await
        .unwrap();
    assert_eq!(totals(&sums(&again, "split_sums").await)[0], (1, 15));
    again.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

/// Runs `statement` on `store`, through a runtime that runs nothing.
async fn sql_on(store: &Arc<dyn EventStore>, statement: &str) {
    let herald = ops(store, "sums").await;
    sql(&herald, statement).await;
}

/// Pays `payments` through `herald`, one command each, returning the last events.
async fn pay_all(herald: &Herald, payments: &[(u64, u64)]) -> Vec<herald::store::RecordedEvent> {
    let mut last = Vec::new();
    for &(till, amount) in payments {
        last = pay(herald, till, amount).await;
    }
    last
}

/// One case of the property: payments before, during and after the snapshot and during
/// the restore, the tables then caught up, against a rebuild from scratch of the same
/// events.
async fn restore_and_catch_up_equals_a_rebuild(
    test: &TestStore,
    before: &[(u64, u64)],
    during: &[(u64, u64)],
    after: &[(u64, u64)],
) {
    let store = &test.store;
    let live = app(store, "sums").await;
    let last = pay_all(&live, before).await;
    live.consumers()
        .wait_for(&last, ["till_sums"], WAIT)
        .await
        .unwrap();
    // The snapshot is taken while a writer commits and the projector runs.
    let path = scratch_snapshot();
    let (taken, _) = tokio::join!(
        live.consumers().snapshot("till_sums", &path).into_future(),
        pay_all(&live, during)
    );
    taken.unwrap();
    live.shutdown().await;
    drop(live);
    // What the restore is for: the tables went wrong since (rows lost, others changed).
    sql_on(store, "DELETE FROM till_sums WHERE till_id IN (1, 3)").await;
    sql_on(store, "UPDATE till_sums SET total = total + 1000").await;

    // The restore, while another writer commits.
    let operator = ops(store, "sums").await;
    let (restored, _) = tokio::join!(
        operator
            .consumers()
            .restore("till_sums", &path)
            .into_future(),
        pay_all(&operator, after)
    );
    restored.unwrap();

    // Caught up from the snapshot's position…
    let again = app(store, "sums").await;
    let everything = store
        .read_all(herald::store::Position::START, usize::MAX)
        .await
        .unwrap();
    again
        .consumers()
        .wait_for(&everything, ["till_sums"], WAIT)
        .await
        .unwrap();
    let caught_up = sums(&again, "till_sums").await;
    // …equals the tables rebuilt from every event.
    again.consumers().rebuild("till_sums").await.unwrap();
    let rebuilt = sums(&again, "till_sums").await;
    assert_eq!(caught_up, rebuilt);
    // And both are the payments' sums.
    let mut expected = std::collections::BTreeMap::new();
    for (till, amount) in before.iter().chain(during).chain(after) {
        *expected.entry(*till as i64).or_insert(0) += *amount as i64;
    }
    assert_eq!(totals(&rebuilt), expected.into_iter().collect::<Vec<_>>());
    again.shutdown().await;
    operator.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

fn payments() -> impl Strategy<Value = Vec<(u64, u64)>> {
    // Never the poison: every event is handled, so the sums are the payments'.
    proptest::collection::vec(
        (
            1..6u64,
            (1..1000u64).prop_filter("not the poison", |a| *a != POISON),
        ),
        0..12,
    )
}

/// The property on a fresh store of `backend` per case.
fn property_on(backend: &'static str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = ProptestConfig {
        cases: 8,
        ..ProptestConfig::default()
    };
    proptest!(config, |(before in payments(), during in payments(), after in payments())| {
        runtime.block_on(async {
            let test = match backend {
                "sqlite" => TestStore::sqlite().await,
                _ => TestStore::postgres().await,
            };
            restore_and_catch_up_equals_a_rebuild(&test, &before, &during, &after).await;
        });
    });
}

#[test]
fn restore_and_catch_up_equals_a_rebuild_on_sqlite() {
    property_on("sqlite");
}

#[test]
fn restore_and_catch_up_equals_a_rebuild_on_postgres() {
    property_on("postgres");
}
