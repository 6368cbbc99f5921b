//! Numbers keep every bit on their way through JSON: an aggregate's state loaded from the
//! cache, from a snapshot and its tail, and from a full replay equals the one its
//! commands produced, for any finite `f64` and the whole `i64` and `u64` range, on every
//! store. Floats that are not finite and integers beyond 64 bits are errors that store
//! nothing.

use std::sync::Arc;

use herald::prelude::*;
use herald::store::{EventStore, Sql};
use herald_tests::backends::TestStore;
use proptest::prelude::*;

#[event("meter.:meter_id.read")]
struct Read {
    meter_id: String,
    value: f64,
    signed: i64,
    unsigned: u64,
}

#[command("read.meter.:meter_id")]
struct Record {
    meter_id: String,
    value: f64,
    signed: i64,
    unsigned: u64,
}

#[event("meter.:meter_id.counted")]
struct Counted {
    meter_id: String,
    count: u128,
}

#[command("count.meter.:meter_id")]
struct Count {
    meter_id: String,
    count: u128,
}

#[aggregate(name = "meter", snapshot_every = 2)]
#[derive(Debug, Default, PartialEq)]
struct Meter {
    readings: Vec<(f64, i64, u64)>,
}

#[aggregate]
impl Meter {
    #[handle]
    fn record(&self, cmd: &Record) -> Result<Read, std::convert::Infallible> {
        Ok(Read {
            meter_id: cmd.meter_id.clone(),
            value: cmd.value,
            signed: cmd.signed,
            unsigned: cmd.unsigned,
        })
    }

    #[handle]
    fn count(&self, cmd: &Count) -> Result<Counted, std::convert::Infallible> {
        Ok(Counted {
            meter_id: cmd.meter_id.clone(),
            count: cmd.count,
        })
    }

    #[apply]
    fn read(&mut self, e: &Read) {
        self.readings.push((e.value, e.signed, e.unsigned));
    }

    #[apply]
    fn counted(&mut self, _: &Counted) {}
}

async fn herald(store: &Arc<dyn EventStore>) -> Herald {
    Herald::builder()
        .modules(["numbers"])
        .store(store.clone())
        .run_consumers(false)
        .build()
        .await
        .unwrap()
}

/// Drops every snapshot, so that the next fresh runtime replays the whole stream.
async fn forget_snapshots(herald: &Herald) {
    let mut tx = herald.begin().await.unwrap();
    let delete = "DELETE FROM herald_snapshots";
    match tx.sql() {
        Sql::Sqlite(conn) => drop(sqlx::query(delete).execute(conn).await.unwrap()),
        Sql::Postgres(conn) => drop(sqlx::query(delete).execute(conn).await.unwrap()),
        _ => {} // the memory store keeps its values as they are
    }
    tx.commit().await.unwrap();
}

/// Records `readings` on a fresh meter and loads it back three ways.
async fn round_trip(test: &TestStore, readings: &[(f64, i64, u64)]) {
    let meter = Uuid::now_v7().simple().to_string();
    let first = herald(&test.store).await;
    for &(value, signed, unsigned) in readings {
        first
            .dispatch(Record {
                meter_id: meter.clone(),
                value,
                signed,
                unsigned,
            })
            .await
            .unwrap();
    }
    let expected = Meter {
        readings: readings.to_vec(),
    };
    let cached = first.load::<Meter>(meter.as_str()).await.unwrap();
    assert_eq!(cached.state(), &expected, "from the cache");
    let snapshot_and_tail = herald(&test.store).await;
    let loaded = snapshot_and_tail
        .load::<Meter>(meter.as_str())
        .await
        .unwrap();
    assert_eq!(loaded.state(), &expected, "from a snapshot and its tail");
    forget_snapshots(&first).await;
    let replayed = herald(&test.store).await;
    let loaded = replayed.load::<Meter>(meter.as_str()).await.unwrap();
    assert_eq!(loaded.state(), &expected, "from a full replay");
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn readings() -> impl Strategy<Value = Vec<(f64, i64, u64)>> {
    let edges = prop_oneof![
        Just((4.425_160_402_714_336_5e274, i64::MIN, u64::MAX)),
        Just((f64::MIN_POSITIVE, i64::MAX, 0)),
        Just((f64::MAX, -1, 1 << 63)),
        Just((5e-324, 0, u64::MAX - 1)),
    ];
    let any_reading = (finite(), any::<i64>(), any::<u64>());
    proptest::collection::vec(prop_oneof![1 => edges, 4 => any_reading], 1..6)
}

fn on(backend: &'static str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let test = runtime.block_on(async {
        match backend {
            "memory" => TestStore::memory(),
            "sqlite" => TestStore::sqlite().await,
            _ => TestStore::postgres().await,
        }
    });
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    proptest!(config, |(readings in readings())| {
        runtime.block_on(round_trip(&test, &readings));
    });
}

#[test]
fn numbers_round_trip_in_memory() {
    on("memory");
}

#[test]
fn numbers_round_trip_on_sqlite() {
    on("sqlite");
}

#[test]
fn numbers_round_trip_on_postgres() {
    on("postgres");
}

/// A float JSON cannot hold, or an integer beyond 64 bits, is a typed error naming the
/// event and the field, and nothing is stored.
#[tokio::test]
async fn numbers_json_cannot_hold_are_refused_and_store_nothing() {
    let test = TestStore::sqlite().await;
    let herald = herald(&test.store).await;
    let meter = "refused".to_owned();
    for value in [f64::NAN, f64::INFINITY] {
        let error = herald
            .dispatch(Record {
                meter_id: meter.clone(),
                value,
                signed: 0,
                unsigned: 0,
            })
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`Read`") && message.contains("field `value`"),
            "{message}"
        );
    }
    let error = herald
        .dispatch(Count {
            meter_id: meter.clone(),
            count: u128::from(u64::MAX) + 1,
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Count"), "{error}");
    let loaded = herald.load::<Meter>(meter.as_str()).await.unwrap();
    assert_eq!(loaded.version(), 0, "nothing was stored");
}

/// `load` answers from the cache; `fresh` reads the store's snapshot and tail;
/// `from_events` replays the events alone. A snapshot changed behind the runtime's back
/// shows which is which.
#[tokio::test]
async fn loads_read_the_cache_the_store_or_the_events_alone() {
    let test = TestStore::sqlite().await;
    let herald = herald(&test.store).await;
    let meter = "audited".to_owned();
    for unsigned in [1, 2] {
        herald
            .dispatch(Record {
                meter_id: meter.clone(),
                value: 0.5,
                signed: -1,
                unsigned,
            })
            .await
            .unwrap();
    }
    let mut tx = herald.begin().await.unwrap();
    sqlx::query("UPDATE herald_snapshots SET state = '{\"readings\":[[9.0,9,9],[9.0,9,9]]}'")
        .execute(tx.sqlite().unwrap())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let truth = vec![(0.5, -1, 1), (0.5, -1, 2)];
    let cached = herald.load::<Meter>(meter.as_str()).await.unwrap();
    assert_eq!(cached.state().readings, truth, "the cache");
    let stored = herald.load::<Meter>(meter.as_str()).fresh().await.unwrap();
    assert_eq!(
        stored.state().readings,
        [(9.0, 9, 9), (9.0, 9, 9)],
        "the snapshot"
    );
    let replayed = herald
        .load::<Meter>(meter.as_str())
        .from_events()
        .await
        .unwrap();
    assert_eq!(replayed.state().readings, truth, "the events alone");
    assert_eq!((stored.version(), replayed.version()), (2, 2));
}
