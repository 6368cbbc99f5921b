//! A consumer split by stream (`partitions = N`) on every store: each stream's events are
//! handled once and in order, a parked event holds back only its own stream, runtimes
//! sharing a store deal the partitions among them and a survivor takes a stopped one's,
//! and a store holding another layout's checkpoints is refused until the consumer is
//! reset. The same projector is declared twice, split and whole, in modules of its own,
//! as two releases of an application would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use herald::consumer::Partition;
use herald::prelude::*;
use herald::store::{EventStore, Position, RecordedEvent, Sql, StreamKey};
use herald::{ErrorKind, RetryPolicy};

use herald_tests::backends::{TestStore, sql};
use herald_tests::on_every_backend;

mod ledger {
    use herald::prelude::*;

    #[event("ledger.:account.entered")]
    pub(crate) struct Entered {
        pub(crate) account: String,
        pub(crate) n: u32,
    }

    #[command("enter.ledger.:account")]
    pub(crate) struct Enter {
        pub(crate) account: String,
        pub(crate) n: u32,
    }

    #[aggregate(name = "ledger")]
    #[derive(Default)]
    pub(crate) struct Ledger;

    #[aggregate]
    impl Ledger {
        #[handle]
        fn enter(&self, cmd: &Enter) -> Result<Entered, std::convert::Infallible> {
            Ok(Entered {
                account: cmd.account.clone(),
                n: cmd.n,
            })
        }

        #[apply]
        fn entered(&mut self, _: &Entered) {}
    }
}

/// This release: the projector split three ways.
mod split {
    use herald::prelude::*;

    use super::ledger::Entered;

    #[projector(
        "ledger.:account.entered",
        consistency = eventual,
        partitions = 3,
        tables = ["ledger_balances"],
        name = "balances"
    )]
    async fn balances(e: &Recorded<Entered>, cx: &mut Cx<'_>) -> Result<(), String> {
        super::apply(e, cx).await
    }
}

/// The release before: the same projector, whole.
mod whole {
    use herald::prelude::*;

    use super::ledger::Entered;

    #[projector(
        "ledger.:account.entered",
        consistency = eventual,
        tables = ["ledger_balances"],
        name = "balances"
    )]
    async fn balances(e: &Recorded<Entered>, cx: &mut Cx<'_>) -> Result<(), String> {
        super::apply(e, cx).await
    }
}

const SPLIT: &str = "partitions::split";
const WHOLE: &str = "partitions::whole";

/// What the projector applied, by account, in order; and the entries that fail.
#[derive(Default)]
struct Book {
    applied: HashMap<String, Vec<u32>>,
    failing: HashMap<String, u32>,
}

static BOOK: Mutex<Option<Book>> = Mutex::new(None);

fn book<T>(f: impl FnOnce(&mut Book) -> T) -> T {
    let mut book = BOOK.lock().unwrap_or_else(PoisonError::into_inner);
    f(book.get_or_insert_with(Book::default))
}

/// What the projector applied for `account`, in order.
fn applied(account: &str) -> Vec<u32> {
    book(|b| b.applied.get(account).cloned()).unwrap_or_default()
}

/// Adds the entry to the account's row (on SQL stores, with the checkpoint) and to the
/// book; entry `n` of an account set to fail fails every time.
async fn apply(e: &Recorded<ledger::Entered>, cx: &mut Cx<'_>) -> Result<(), String> {
    if book(|b| b.failing.get(&e.account) == Some(&e.n)) {
        return Err(format!("entry {} of {} is refused", e.n, e.account));
    }
    let upsert = format!(
        "INSERT INTO {} (account, entries) VALUES ($1, 1) \
         ON CONFLICT (account) DO UPDATE SET entries = {0}.entries + 1",
        cx.table("ledger_balances")
    );
    let written = match cx.sql() {
        Sql::Sqlite(conn) => sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(&e.account)
            .execute(conn)
            .await
            .map(drop),
        Sql::Postgres(conn) => sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(&e.account)
            .execute(conn)
            .await
            .map(drop),
        _ => Ok(()),
    };
    written.map_err(|e| e.to_string())?;
    book(|b| b.applied.entry(e.account.clone()).or_default().push(e.n));
    Ok(())
}

const WAIT: Duration = Duration::from_secs(20);
const PARTITIONS: u32 = 3;

/// A runtime of the ledger and the projector of `release` ([`SPLIT`] or [`WHOLE`]) on the
/// test's store: three tries a millisecond apart, a short lease.
async fn runtime(store: &Arc<dyn EventStore>, release: &str) -> Herald {
    runtime_leasing(store, release, Duration::from_millis(300)).await
}

/// [`runtime`], with leases of `lease`.
async fn runtime_leasing(store: &Arc<dyn EventStore>, release: &str, lease: Duration) -> Herald {
    let herald = Herald::builder()
        .modules(["partitions::ledger", release])
        .store(store.clone())
        .consumer_retry(
            RetryPolicy::new(3)
                .base(Duration::from_millis(1))
                .cap(Duration::from_millis(5)),
        )
        .consumer_lease(lease)
        .build()
        .await
        .expect("consistent fixtures");
    let create = "CREATE TABLE IF NOT EXISTS ledger_balances (account TEXT PRIMARY KEY, entries INTEGER NOT NULL)";
    sql(&herald, create).await;
    herald
}

/// The entries of `account`'s row, on SQL stores (`None` in memory).
async fn entries(herald: &Herald, account: &str) -> Option<i64> {
    let mut tx = herald.begin().await.unwrap();
    let select = "SELECT entries FROM ledger_balances WHERE account = $1";
    let found: Option<i64> = match tx.sql() {
        Sql::Sqlite(conn) => sqlx::query_scalar(select)
            .bind(account)
            .fetch_optional(conn)
            .await
            .unwrap(),
        Sql::Postgres(conn) => sqlx::query_scalar::<_, i32>(select)
            .bind(account)
            .fetch_optional(conn)
            .await
            .unwrap()
            .map(i64::from),
        _ => {
            tx.rollback().await.unwrap();
            return None;
        }
    };
    tx.rollback().await.unwrap();
    Some(found.unwrap_or(0))
}

/// The partition `account`'s stream falls in.
fn partition_of(account: &str) -> Partition {
    let stream = StreamKey::new("default", "ledger", account).unwrap();
    Partition::of(&stream, PARTITIONS)
}

/// New accounts, `each` in every partition, by partition.
fn accounts(each: usize) -> Vec<Vec<String>> {
    let mut found = vec![Vec::new(); PARTITIONS as usize];
    while found.iter().any(|f| f.len() < each) {
        let account = Uuid::now_v7().simple().to_string();
        let slot = &mut found[partition_of(&account).index as usize];
        if slot.len() < each {
            slot.push(account);
        }
    }
    found
}

async fn enter(herald: &Herald, account: &str, n: u32) -> Vec<RecordedEvent> {
    let enter = ledger::Enter {
        account: account.to_owned(),
        n,
    };
    herald.dispatch(enter).await.unwrap().into_events()
}

/// The projector's rows in [`Consumers::list`](herald::Consumers::list), by partition.
async fn rows(herald: &Herald) -> Vec<herald::consumer::ConsumerStatus> {
    let mut rows: Vec<_> = herald
        .consumers()
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.name == "balances")
        .collect();
    rows.sort_by_key(|c| c.partition);
    rows
}

/// How many of the projector's partitions `herald` holds.
async fn held(herald: &Herald) -> usize {
    rows(herald).await.iter().filter(|c| c.held).count()
}

/// Waits until `done` says so, or fails naming `what`.
async fn eventually<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT;
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each stream is handled by one partition, once, in order; every partition is listed,
/// held by the only runtime, and past every event; a rebuild moves every partition.
#[on_every_backend]
async fn a_split_projector_handles_each_stream_once_in_order(test: &TestStore) {
    let herald = runtime(&test.store, SPLIT).await;
    let accounts: Vec<String> = accounts(2).concat();
    let mut events = Vec::new();
    for n in 1..=3 {
        for account in &accounts {
            let entered = enter(&herald, account, n).await;
            assert_eq!(
                Partition::of(&entered[0].stream, PARTITIONS),
                partition_of(account)
            );
            events.extend(entered);
        }
    }
    let consumers = herald.consumers();
    consumers
        .wait_for(&events, ["balances"], WAIT)
        .await
        .unwrap();
    for account in &accounts {
        assert_eq!(applied(account), [1, 2, 3], "account {account}");
        if let Some(entries) = entries(&herald, account).await {
            assert_eq!(
                entries, 3,
                "account {account}: its row, written once per entry"
            );
        }
    }
    let last = events.iter().map(|e| e.position).max().unwrap();
    let rows = rows(&herald).await;
    let partitions: Vec<String> = rows
        .iter()
        .map(|r| r.partition.unwrap().to_string())
        .collect();
    assert_eq!(partitions, ["0/3", "1/3", "2/3"]);
    for row in &rows {
        assert!(row.running && row.held, "{row:?}");
        assert_eq!((row.parked, &row.error), (0, &None), "{row:?}");
    }
    // Each partition reads past the others' events too.
    let runtime = &herald;
    eventually("every partition is past the last event", || async move {
        self::rows(runtime).await.iter().all(|r| r.position >= last)
    })
    .await;

    if test.kind() == "memory" {
        return; // a rebuild needs a SQL store
    }
    sql(&herald, "UPDATE ledger_balances SET entries = 99").await;
    let rebuilt = consumers.rebuild("balances").await.unwrap();
    assert_eq!(rebuilt.handled, events.len() as u64);
    for account in &accounts {
        assert_eq!(entries(&herald, account).await, Some(3), "rebuilt");
    }
    for row in self::rows(&herald).await {
        assert!(row.position >= rebuilt.position, "{row:?}");
    }
    let after = enter(&herald, &accounts[0], 4).await;
    consumers
        .wait_for(&after, ["balances"], WAIT)
        .await
        .unwrap();
    assert_eq!(entries(&herald, &accounts[0]).await, Some(4));
}

/// A parked event holds back the later events of its stream only: another stream of the
/// same partition and the other partitions flow on. Its partition's row counts them;
/// a retry releases them in order.
#[on_every_backend]
async fn a_parked_event_holds_back_only_its_stream(test: &TestStore) {
    let herald = runtime(&test.store, SPLIT).await;
    let accounts = accounts(2);
    let (stuck, same, other) = (&accounts[0][0], &accounts[0][1], &accounts[1][0]);
    book(|b| b.failing.insert(stuck.clone(), 2));
    let consumers = herald.consumers();
    // Handled before the failing one is posted: a batch that fails is run again, and the
    // book, unlike the rows, is not rolled back.
    let first = enter(&herald, stuck, 1).await;
    consumers
        .wait_for(&first, ["balances"], WAIT)
        .await
        .unwrap();
    let second = enter(&herald, stuck, 2).await;
    let third = enter(&herald, stuck, 3).await;
    let mut flowing = enter(&herald, same, 1).await;
    flowing.extend(enter(&herald, other, 1).await);
    consumers
        .wait_for(&flowing, ["balances"], WAIT)
        .await
        .unwrap();
    let parked = consumers.wait_for(&second, ["balances"], WAIT).await;
    assert!(
        matches!(
            parked.unwrap_err().kind(),
            ErrorKind::Parked { attempts: 3, .. }
        ),
        "tried three times, then parked"
    );
    consumers.wait_for(&third, ["balances"], WAIT).await.ok();
    assert_eq!(
        (applied(stuck), applied(same), applied(other)),
        (vec![1], vec![1], vec![1])
    );
    let parked: Vec<usize> = rows(&herald).await.iter().map(|r| r.parked).collect();
    assert_eq!(parked, [2, 0, 0], "its partition's row counts them");
    let letters = consumers.dead_letters("balances").await.unwrap();
    let ids: Vec<Uuid> = letters.iter().map(|l| l.event_id).collect();
    assert_eq!(ids, [second[0].event_id, third[0].event_id]);
    assert_eq!(letters[1].behind, Some(second[0].event_id));

    book(|b| b.failing.remove(stuck));
    consumers
        .retry("balances", second[0].event_id)
        .await
        .unwrap();
    assert_eq!(applied(stuck), [1, 2, 3]);
    assert!(consumers.dead_letters("balances").await.unwrap().is_empty());
    if let Some(entries) = entries(&herald, stuck).await {
        assert_eq!(entries, 3);
    }
    let fourth = enter(&herald, stuck, 4).await;
    consumers
        .wait_for(&fourth, ["balances"], WAIT)
        .await
        .unwrap();
    assert_eq!(applied(stuck), [1, 2, 3, 4]);
}

/// Two runtimes on one store deal the partitions among them (one holds two, the other
/// one); each event is still handled once. When one stops, the other takes its
/// partitions and goes on.
#[on_every_backend]
async fn two_runtimes_deal_the_partitions_and_a_survivor_takes_them_all(test: &TestStore) {
    let first = runtime(&test.store, SPLIT).await;
    let second = runtime(&test.store, SPLIT).await;
    let (one, two) = (&first, &second);
    eventually("the runtimes share the partitions", || async move {
        let (a, b) = (held(one).await, held(two).await);
        a + b == PARTITIONS as usize && a > 0 && b > 0
    })
    .await;
    let accounts: Vec<String> = accounts(2).concat();
    let mut events = Vec::new();
    for n in 1..=3 {
        for (i, account) in accounts.iter().enumerate() {
            // Both runtimes dispatch.
            let herald = if i % 2 == 0 { &first } else { &second };
            events.extend(enter(herald, account, n).await);
        }
    }
    first
        .consumers()
        .wait_for(&events, ["balances"], WAIT)
        .await
        .unwrap();
    for account in &accounts {
        assert_eq!(applied(account), [1, 2, 3], "account {account}, once each");
    }

    second.shutdown().await;
    drop(second);
    let survivor = &first;
    eventually("the survivor holds every partition", || async move {
        held(survivor).await == PARTITIONS as usize
    })
    .await;
    let mut more = Vec::new();
    for account in &accounts {
        more.extend(enter(&first, account, 4).await);
    }
    first
        .consumers()
        .wait_for(&more, ["balances"], WAIT)
        .await
        .unwrap();
    for account in &accounts {
        assert_eq!(applied(account), [1, 2, 3, 4], "account {account}");
        if let Some(entries) = entries(&first, account).await {
            assert_eq!(entries, 4, "account {account}");
        }
    }
}

/// A release that splits a consumer finds the whole consumer's checkpoint in the store:
/// its workers refuse to run (the streams would fall elsewhere) and say how to go on. A
/// reset is refused while the old release still runs; once it stopped, a reset to its
/// checkpoint moves every partition there and retires the old one, and each event is
/// handled once.
#[on_every_backend]
async fn a_changed_number_of_partitions_is_refused_until_reset(test: &TestStore) {
    let (a, b) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let before = runtime(&test.store, WHOLE).await;
    let mut first = enter(&before, &a, 1).await;
    first.extend(enter(&before, &b, 1).await);
    before
        .consumers()
        .wait_for(&first, ["balances"], WAIT)
        .await
        .unwrap();
    let after = runtime(&test.store, SPLIT).await;
    let consumers = after.consumers();
    let running = consumers.reset("balances", Position::START).await;
    let error = running.unwrap_err().to_string();
    assert!(
        error.contains("still runs consumer `balances`") && error.contains("holds `balances`"),
        "the old release runs: {error}"
    );
    before.shutdown().await;
    drop(before);
    // Where the old release left it.
    let checkpoints = test.store.consumers().checkpoints().await.unwrap();
    let at = checkpoints
        .iter()
        .find(|c| c.consumer == "balances")
        .unwrap()
        .position;

    let second = enter(&after, &a, 2).await;
    let waited = consumers.wait_for(&second, ["balances"], WAIT).await;
    assert!(
        matches!(waited.unwrap_err().kind(), ErrorKind::Repartitioned(_)),
        "waiting says why at once"
    );
    let split = &after;
    eventually("every partition says why it stopped", || async move {
        rows(split).await.iter().all(|r| r.error.is_some())
    })
    .await;
    let error = rows(&after).await[0].error.clone().unwrap();
    for words in [
        "`balances` is declared with 3 partitions",
        "checkpoints `balances`",
        &format!("all at {at}"),
        "reset(\"balances\", position)",
    ] {
        assert!(error.contains(words), "{words:?} in: {error}");
    }
    assert_eq!(applied(&a), [1], "nothing ran meanwhile");

    consumers.reset("balances", at).await.unwrap();
    consumers
        .wait_for(&second, ["balances"], WAIT)
        .await
        .unwrap();
    assert_eq!((applied(&a), applied(&b)), (vec![1, 2], vec![1]));
    if let Some(entries) = entries(&after, &a).await {
        assert_eq!(entries, 2);
    }
    let checkpoints = test.store.consumers().checkpoints().await.unwrap();
    let keys: Vec<&str> = checkpoints
        .iter()
        .map(|c| c.consumer.as_str())
        .filter(|c| c.starts_with("balances"))
        .collect();
    assert_eq!(
        keys,
        ["balances", "balances#0/3", "balances#1/3", "balances#2/3"]
    );
    // The old checkpoint is retired: it stands past every event, so a worker of the old
    // release that was missed reads nothing more.
    let head = test.store.consumers().head().await.unwrap();
    let mut tx = test.store.begin().await.unwrap();
    let retired = tx.claim_consumer("balances").await.unwrap();
    tx.rollback().await.unwrap();
    assert!(retired > head);
    let unread = test.store.read_all(retired, 10).await.unwrap();
    assert!(unread.is_empty(), "{unread:?}");
    eventually("every partition runs again", || async move {
        rows(split).await.iter().all(|r| r.error.is_none())
    })
    .await;

    // The old release, started again by mistake, refuses in turn, and handles nothing.
    let again = runtime(&test.store, WHOLE).await;
    let third = enter(&after, &b, 2).await;
    consumers
        .wait_for(&third, ["balances"], WAIT)
        .await
        .unwrap();
    let old = &again;
    eventually("the old release says why it stopped", || async move {
        let error = rows(old).await[0].error.clone().unwrap_or_default();
        error.contains("declared with no partitions") && error.contains("`balances#0/3`")
    })
    .await;
    assert_eq!((applied(&a), applied(&b)), (vec![1, 2], vec![1, 2]));
}

/// A runtime whose lease call on a partition took the lease but lost the reply still
/// gives the partition up when it is dealt to another runtime, which then takes it long
/// before the lease would have run out.
#[on_every_backend]
async fn a_lease_taken_unheard_is_given_up_when_dealt_elsewhere(test: &TestStore) {
    const LEASE: Duration = Duration::from_secs(9);
    let faulty = herald_tests::faults::FaultyStore::new(test.store.clone());
    // With two runtimes, partition 1 of 3 is dealt to the second.
    faulty.faults.lose_lease_replies("balances#1/3");
    let store: Arc<dyn EventStore> = Arc::new(faulty);
    let first = runtime_leasing(&store, SPLIT, LEASE).await;
    let one = &first;
    eventually(
        "the first holds the partitions it hears of",
        || async move { held(one).await == 2 },
    )
    .await;
    let joined = Instant::now();
    let second = runtime_leasing(&test.store, SPLIT, LEASE).await;
    let two = &second;
    eventually("the second holds partition 1", || async move {
        rows(two)
            .await
            .iter()
            .any(|r| r.held && r.partition.is_some_and(|p| p.index == 1))
    })
    .await;
    assert!(
        joined.elapsed() < LEASE * 5 / 6,
        "partition 1 was taken after {:?}: the first runtime kept its unheard lease",
        joined.elapsed()
    );
    second.shutdown().await;
    first.shutdown().await;
}
