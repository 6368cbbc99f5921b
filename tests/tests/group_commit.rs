//! Group commit: concurrent top-level commands share one transaction and one commit on
//! the SQL stores, and each keeps what it promises alone: its own result, trace and
//! idempotency row; a neighbour that fails (rejected, a failing strong projector, given
//! up mid-way) is undone alone; a repeated command id waits for the first run; the
//! aggregate cache sees only what committed. With group commit off, each commits alone.

use std::time::Duration;

use herald::prelude::*;
use herald::store::{EventStore, Position, Sql};
use herald::trace::{Operation, TraceNode};
use herald_tests::backends::TestStore;
use herald_tests::on_every_backend;

mod accounts {
    use std::time::Duration;

    use herald::prelude::*;
    use herald::store::Sql;

    #[event("acct.:id.opened")]
    pub(crate) struct Opened {
        pub(crate) id: u64,
        pub(crate) note: String,
    }

    /// `note` says how it goes wrong: `reject` (the aggregate refuses), `project` (its
    /// second strong projector fails after the first wrote a row); `noted` makes its
    /// before hook write a row of its own (`noted, reject`: then the aggregate refuses);
    /// `hold_ms` keeps its before hook busy, holding the shared transaction, while others
    /// gather.
    #[command("open.acct.:id")]
    pub(crate) struct OpenAcct {
        pub(crate) id: u64,
        pub(crate) note: String,
        pub(crate) hold_ms: u64,
    }

    #[aggregate(name = "acct")]
    #[derive(Default)]
    pub(crate) struct Acct {
        pub(crate) open: bool,
    }

    #[aggregate]
    impl Acct {
        #[handle]
        fn open(&self, cmd: &OpenAcct) -> Result<Opened, String> {
            if self.open {
                return Err(format!("account {} is open already", cmd.id));
            }
            if cmd.note.contains("reject") {
                return Err("refused".into());
            }
            Ok(Opened {
                id: cmd.id,
                note: cmd.note.clone(),
            })
        }

        #[apply]
        fn opened(&mut self, _: &Opened) {
            self.open = true;
        }

        #[handle]
        fn note(&self, cmd: &NoteAcct) -> Result<Noted, String> {
            Ok(Noted { id: cmd.id })
        }

        #[apply]
        fn noted(&mut self, _: &Noted) {}
    }

    /// Notes something on account `id`: always accepted, any number of times.
    #[command("note.acct.:id")]
    pub(crate) struct NoteAcct {
        pub(crate) id: u64,
    }

    #[event("acct.:id.noted")]
    pub(crate) struct Noted {
        pub(crate) id: u64,
    }

    /// Writes row `id` to `table` on the command's connection (nothing on a store
    /// without SQL).
    async fn insert_id(cx: &mut Cx<'_>, table: &str, id: u64) -> Result<(), herald::BoxError> {
        let id = id as i64;
        match cx.sql() {
            Sql::Sqlite(conn) => {
                let insert = sqlx::AssertSqlSafe(format!("INSERT INTO {table} (id) VALUES (?)"));
                sqlx::query(insert).bind(id).execute(conn).await?;
            }
            Sql::Postgres(conn) => {
                let insert = sqlx::AssertSqlSafe(format!("INSERT INTO {table} (id) VALUES ($1)"));
                sqlx::query(insert).bind(id).execute(conn).await?;
            }
            _ => {}
        }
        Ok(())
    }

    #[hook(before, "open.acct.:id")]
    async fn hold(cmd: &mut OpenAcct, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        if cmd.hold_ms > 0 {
            tokio::time::sleep(Duration::from_millis(cmd.hold_ms)).await;
        }
        if cmd.note.starts_with("noted") {
            insert_id(cx, "gc_hooked", cmd.id).await?;
        }
        Ok(())
    }

    #[projector("acct.:id.opened")]
    async fn account_row(e: &Recorded<Opened>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        insert_id(cx, "gc_accounts", e.id).await?;
        Ok(())
    }

    /// Tags `id`: a command with no hook, so no SQL of its own before its append. Tag
    /// `fail` makes its strong projector fail after writing its row.
    #[command("tag.:id")]
    pub(crate) struct TagIt {
        pub(crate) id: u64,
        pub(crate) tag: String,
    }

    #[event("tag.:id.tagged")]
    pub(crate) struct Tagged {
        pub(crate) id: u64,
        pub(crate) tag: String,
    }

    #[aggregate(name = "tag")]
    #[derive(Default)]
    pub(crate) struct Tag;

    #[aggregate]
    impl Tag {
        #[handle]
        fn tag(&self, cmd: &TagIt) -> Result<Tagged, String> {
            Ok(Tagged {
                id: cmd.id,
                tag: cmd.tag.clone(),
            })
        }

        #[apply]
        fn tagged(&mut self, _: &Tagged) {}
    }

    #[projector("tag.:id.tagged")]
    async fn tag_row(e: &Recorded<Tagged>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
        // A row per tag: its id and version.
        insert_id(cx, "gc_tagged", e.id * 10 + e.record().version).await?;
        match e.tag.as_str() {
            "fail" => Err("the tags are down".into()),
            _ => Ok(()),
        }
    }

    /// Welcomes account `id`, once.
    #[command("welcome.acct.:id")]
    pub(crate) struct Welcome {
        pub(crate) id: u64,
    }

    #[event("welcome.:id.sent")]
    pub(crate) struct Welcomed {
        pub(crate) id: u64,
    }

    #[aggregate(name = "welcome")]
    #[derive(Default)]
    pub(crate) struct Greeting {
        pub(crate) sent: bool,
    }

    #[aggregate]
    impl Greeting {
        #[handle]
        fn welcome(&self, cmd: &Welcome) -> Result<Welcomed, String> {
            if self.sent {
                return Err(format!("account {} was welcomed already", cmd.id));
            }
            Ok(Welcomed { id: cmd.id })
        }

        #[apply]
        fn sent(&mut self, _: &Welcomed) {
            self.sent = true;
        }
    }

    /// A note `welcome` sends a welcome, nested; `welcome twice` sends two, the second
    /// refused after the first ran.
    #[processor("acct.:id.opened")]
    async fn greet(e: &Recorded<Opened>, _cx: &mut Cx<'_>) -> Result<Vec<Welcome>, String> {
        Ok(match e.note.as_str() {
            "welcome" => vec![Welcome { id: e.id }],
            "welcome twice" => vec![Welcome { id: e.id }, Welcome { id: e.id }],
            _ => Vec::new(),
        })
    }

    #[projector("acct.:id.opened", priority = 5)]
    async fn ledger(e: &Recorded<Opened>, _cx: &mut Cx<'_>) -> Result<(), String> {
        match e.note.as_str() {
            "project" => Err("the ledger is down".into()),
            _ => Ok(()),
        }
    }
}

use accounts::{Acct, Greeting, NoteAcct, OpenAcct, Tag, TagIt};

async fn runtime(test: &TestStore, group_commit: bool) -> Herald {
    let herald = Herald::builder()
        .modules(["group_commit::accounts"])
        .store(test.store.clone())
        .group_commit(group_commit)
        .build()
        .await
        .unwrap();
    let mut tx = herald.begin().await.unwrap();
    for table in ["gc_accounts", "gc_hooked", "gc_tagged"] {
        let create = format!("CREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY)");
        let create = sqlx::AssertSqlSafe(create);
        match tx.sql() {
            Sql::Sqlite(conn) => drop(sqlx::query(create).execute(conn).await.unwrap()),
            Sql::Postgres(conn) => drop(sqlx::query(create).execute(conn).await.unwrap()),
            _ => {}
        }
    }
    tx.commit().await.unwrap();
    herald
}

/// The ids with a row in the read model; `None` on a store without SQL.
async fn rows(store: &dyn EventStore) -> Option<Vec<i64>> {
    rows_of(store, "gc_accounts").await
}

/// The ids with a row in `table`; `None` on a store without SQL.
async fn rows_of(store: &dyn EventStore, table: &str) -> Option<Vec<i64>> {
    let mut reader = store.reader().await.unwrap();
    let select = sqlx::AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id"));
    Some(match reader.sql() {
        Sql::Sqlite(conn) => sqlx::query_scalar(select).fetch_all(conn).await.unwrap(),
        Sql::Postgres(conn) => sqlx::query_scalar(select).fetch_all(conn).await.unwrap(),
        _ => return None,
    })
}

/// The versions of the events of `stream`, in order.
async fn versions(store: &dyn EventStore, stream: &herald::store::StreamKey) -> Vec<u64> {
    let events = store.read_stream(stream, 0).await.unwrap();
    events.iter().map(|e| e.version).collect()
}

/// `value` on a store with SQL (where the read model's rows are), `None` on the others.
fn on_sql<T>(test: &TestStore, value: T) -> Option<T> {
    (test.store.kind() != "memory").then_some(value)
}

fn open(id: u64, note: &str, hold_ms: u64) -> OpenAcct {
    OpenAcct {
        id,
        note: note.to_owned(),
        hold_ms,
    }
}

/// The detail of the dispatch's commit node, which says how many commands shared it.
fn commit_detail(nodes: impl Iterator<Item = TraceNode>) -> Option<String> {
    nodes
        .filter(|n| n.operation == Operation::Commit)
        .find_map(|n| n.detail)
}

/// Sends `commands` at once, the first a moment ahead (its hook holds the transaction
/// while the others arrive and gather behind it).
async fn together(
    herald: &Herald,
    commands: Vec<OpenAcct>,
) -> Vec<Result<herald::Dispatched, herald::Error>> {
    let mut tasks = Vec::new();
    for (i, command) in commands.into_iter().enumerate() {
        let herald = herald.clone();
        tasks.push(tokio::spawn(async move { herald.dispatch(command).await }));
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("the dispatch did not panic"));
    }
    results
}

/// Eight commands that arrive while one holds the transaction share it: each returns its
/// own events and trace, whose commit says how many others it committed with, and each
/// has its own row (a repeat of its id reads it back).
#[on_every_backend]
async fn commands_that_arrive_together_commit_together(test: &TestStore) {
    let herald = runtime(test, true).await;
    let mut commands = vec![open(1, "", 300)];
    commands.extend((2..=8).map(|id| open(id, "", 0)));
    let results = together(&herald, commands).await;
    let mut grouped = 0;
    for (i, result) in results.into_iter().enumerate() {
        let dispatched = result.unwrap();
        assert_eq!(dispatched.version(), 1);
        assert_eq!(dispatched.events().len(), 1);
        assert_eq!(
            dispatched.events()[0].stream.stream_id(),
            (i + 1).to_string()
        );
        if let Some(detail) = commit_detail(dispatched.trace().nodes().cloned()) {
            assert_eq!(detail, "committed in one transaction with 7 other commands");
            grouped += 1;
        }
        let hold_ms = if i == 0 { 300 } else { 0 };
        let again = herald
            .dispatch(open(i as u64 + 1, "", hold_ms))
            .command_id(dispatched.command_id())
            .await
            .unwrap();
        assert!(again.is_repeat(), "its own row, with its own result");
        assert_eq!(again.events(), dispatched.events());
    }
    match test.store.groups_commits() {
        true => assert_eq!(grouped, 8, "all eight shared one commit"),
        false => assert_eq!(grouped, 0, "the memory store commits each alone"),
    }
    assert_eq!(rows(&*test.store).await.map(|r| r.len()), on_sql(test, 8));
    assert_eq!(
        test.store
            .read_all(Position::START, 100)
            .await
            .unwrap()
            .len(),
        8
    );
}

/// In one shared transaction, a command its aggregate refuses and one whose second strong
/// projector fails (after the first wrote its row) are undone alone: the neighbours
/// commit, their rows and events are there, and nothing of the two failures is.
#[on_every_backend]
async fn a_failing_neighbour_is_undone_alone(test: &TestStore) {
    let herald = runtime(test, true).await;
    let commands = vec![
        open(1, "", 300),
        open(2, "reject", 0),
        open(3, "", 0),
        open(4, "project", 0),
        open(5, "", 0),
    ];
    let results = together(&herald, commands).await;
    let failed: Vec<_> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i + 1, e)))
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        matches!(failed[0].1.kind(), herald::ErrorKind::Rejected { .. }),
        "{}",
        failed[0].1
    );
    assert!(
        matches!(failed[1].1.kind(), herald::ErrorKind::Project { .. }),
        "{}",
        failed[1].1
    );
    assert_eq!((failed[0].0, failed[1].0), (2, 4));
    let committed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    if test.store.groups_commits() {
        for dispatched in &committed {
            assert_eq!(
                commit_detail(dispatched.trace().nodes().cloned()).as_deref(),
                Some("committed in one transaction with 2 other commands"),
                "the three that succeeded shared the commit"
            );
        }
    }
    assert_eq!(rows(&*test.store).await, on_sql(test, vec![1, 3, 5]));
    let mut streams: Vec<String> = test
        .store
        .read_all(Position::START, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stream.stream_id().to_owned())
        .collect();
    streams.sort();
    assert_eq!(streams, ["1", "3", "5"]);
    // Nothing of them stayed: the same accounts open now.
    herald.dispatch(open(2, "", 0)).await.unwrap();
    herald.dispatch(open(4, "", 0)).await.unwrap();
    assert_eq!(herald.load::<Acct>(4).await.unwrap().version(), 1);
}

/// In one shared transaction, what a command's before hook wrote to the command's own
/// connection is undone with the command when its aggregate refuses it, and kept with
/// the neighbours that commit: a hook's SQL runs inside its command's savepoint, which
/// the SQLite store otherwise takes with the command's append.
#[on_every_backend]
async fn a_hooks_writes_are_undone_with_its_refused_command(test: &TestStore) {
    let herald = runtime(test, true).await;
    let commands = vec![
        open(1, "", 300),
        open(2, "noted", 0),
        open(3, "noted, reject", 0),
        open(4, "noted", 0),
    ];
    let results = together(&herald, commands).await;
    let refused = results[2].as_ref().unwrap_err();
    assert!(
        matches!(refused.kind(), herald::ErrorKind::Rejected { .. }),
        "{refused}"
    );
    for i in [0, 1, 3] {
        let dispatched = results[i].as_ref().unwrap();
        if test.store.groups_commits() {
            assert_eq!(
                commit_detail(dispatched.trace().nodes().cloned()).as_deref(),
                Some("committed in one transaction with 2 other commands")
            );
        }
    }
    assert_eq!(
        rows_of(&*test.store, "gc_hooked").await,
        on_sql(test, vec![2, 4])
    );
    assert_eq!(rows(&*test.store).await, on_sql(test, vec![1, 2, 4]));
}

/// A command whose runtime's cache is behind the store (another runtime wrote the
/// stream) finds the stream moved on at its append inside a shared transaction: the
/// append writes nothing, the command loads again and appends after the other's event,
/// and it commits with its neighbour.
#[on_every_backend]
async fn a_stale_command_in_a_shared_transaction_loads_again_and_commits(test: &TestStore) {
    let (ours, theirs) = (runtime(test, true).await, runtime(test, true).await);
    ours.dispatch(NoteAcct { id: 9 }).await.unwrap();
    let moved_on = theirs.dispatch(NoteAcct { id: 9 }).await.unwrap();
    assert_eq!(moved_on.version(), 2);
    let holder = {
        let ours = ours.clone();
        tokio::spawn(async move { ours.dispatch(open(1, "", 300)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let stale = ours.dispatch(NoteAcct { id: 9 }).await.unwrap();
    holder.await.unwrap().unwrap();
    assert_eq!(
        stale.version(),
        3,
        "appended after the other runtime's event"
    );
    let conflicts = stale
        .trace()
        .nodes()
        .filter(|n| n.outcome == herald::trace::Outcome::Conflict)
        .count();
    assert_eq!(conflicts, 1, "its first append found the stream moved on");
    if test.store.groups_commits() {
        assert_eq!(
            commit_detail(stale.trace().nodes().cloned()).as_deref(),
            Some("committed in one transaction with 1 other commands")
        );
    }
    let versions = versions(&*test.store, &stale.events()[0].stream).await;
    assert_eq!(versions, [1, 2, 3]);
}

/// Commands whose first statement is their append (no hook, their aggregate cached) share
/// the transaction too, their savepoint taken with that append where the store can
/// (SQLite). One whose strong projector fails after writing its row, and one whose event
/// holds a NUL character (which PostgreSQL refuses; the other stores keep it) are undone
/// alone: the neighbours commit, and nothing of the failures stays.
#[on_every_backend]
async fn commands_without_sql_before_their_append_are_undone_alone(test: &TestStore) {
    let herald = runtime(test, true).await;
    // Tagged once each, alone: their aggregates are in the cache, so that the commands
    // below load nothing, and their append is their first statement.
    for id in 10..=13 {
        let first = TagIt {
            id,
            tag: "first".into(),
        };
        herald.dispatch(first).await.unwrap();
    }
    let holder = {
        let herald = herald.clone();
        tokio::spawn(async move { herald.dispatch(open(1, "", 300)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut tags = Vec::new();
    for (id, tag) in [(10, "a"), (11, "fail"), (12, "nul \0 here"), (13, "b")] {
        let herald = herald.clone();
        let tag = tag.to_owned();
        tags.push(tokio::spawn(async move {
            herald.dispatch(TagIt { id, tag }).await
        }));
    }
    holder.await.unwrap().unwrap();
    let mut results = Vec::new();
    for task in tags {
        results.push(task.await.unwrap());
    }
    let postgres = test.kind() == "postgres";
    let failed = results[1].as_ref().expect_err("its projector failed");
    assert!(
        matches!(failed.kind(), herald::ErrorKind::Project { .. }),
        "{failed}"
    );
    assert_eq!(results[2].is_err(), postgres, "{:?}", results[2]);
    let committed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    if test.store.groups_commits() {
        let others = format!(
            "committed in one transaction with {} other commands",
            committed.len()
        );
        for dispatched in &committed {
            assert_eq!(
                commit_detail(dispatched.trace().nodes().cloned()),
                Some(others.clone()),
                "they shared the holder's commit"
            );
        }
    }
    // The first tags' rows (version 1), and the second tags' that committed.
    let kept: Vec<u64> = match postgres {
        true => vec![101, 102, 111, 121, 131, 132],
        false => vec![101, 102, 111, 121, 122, 131, 132],
    };
    let rows: Vec<i64> = kept.iter().map(|&row| row as i64).collect();
    assert_eq!(rows_of(&*test.store, "gc_tagged").await, on_sql(test, rows));
    let mut streams: Vec<String> = test
        .store
        .read_all(Position::START, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            format!(
                "{}.{}.{}",
                e.stream.stream_type(),
                e.stream.stream_id(),
                e.version
            )
        })
        .collect();
    streams.sort();
    let mut expected = vec!["acct.1.1".to_owned()];
    expected.extend(
        kept.iter()
            .map(|row| format!("tag.{}.{}", row / 10, row % 10)),
    );
    assert_eq!(streams, expected);
    // Nothing of the failed one stayed: its next tag is its second.
    let again = herald
        .dispatch(TagIt {
            id: 11,
            tag: "a".into(),
        })
        .await
        .unwrap();
    assert_eq!(again.version(), 2);
    assert_eq!(herald.load::<Tag>(11).await.unwrap().version(), 2);
}

/// A processor's commands are undone with the command they are nested in: in one shared
/// transaction, a command whose processor's first command ran and whose second was
/// refused leaves no record of either, while its neighbours' records and their nested
/// commands' are all there (the commit writes the records of a shared transaction's
/// commands together).
#[on_every_backend]
async fn a_failing_neighbours_nested_commands_leave_no_record(test: &TestStore) {
    let herald = runtime(test, true).await;
    let commands = vec![
        open(1, "welcome", 300),
        open(2, "welcome twice", 0),
        open(3, "welcome", 0),
    ];
    let results = together(&herald, commands).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let refused = results[1]
        .as_ref()
        .expect_err("the second welcome is refused");
    assert!(
        refused.to_string().contains("welcomed already"),
        "{refused}"
    );
    let mut routes: Vec<String> = test
        .store
        .recent_commands(None, 100)
        .await
        .unwrap()
        .into_iter()
        // The table set up by a transaction has its row too, with no route.
        .filter_map(|command| command.result["route"].as_str().map(str::to_owned))
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            "open.acct.1",
            "open.acct.3",
            "welcome.acct.1",
            "welcome.acct.3"
        ]
    );
    for (result, command) in [
        (&results[0], open(1, "welcome", 300)),
        (&results[2], open(3, "welcome", 0)),
    ] {
        let dispatched = result.as_ref().unwrap();
        let again = herald
            .dispatch(command)
            .command_id(dispatched.command_id())
            .await
            .unwrap();
        assert!(again.is_repeat(), "its own record, with its own result");
    }
    // Nothing of the refused one stayed: account 2 opens and is welcomed now.
    herald.dispatch(open(2, "welcome", 0)).await.unwrap();
    assert_eq!(herald.load::<Greeting>(2).await.unwrap().version(), 1);
}

/// A command given up in the middle of its steps (its caller dropped the dispatch while
/// its hook ran, holding the shared transaction) leaves nothing, and the commands behind
/// it in the same transaction commit.
#[on_every_backend]
async fn a_dispatch_given_up_mid_way_leaves_nothing_in_the_shared_transaction(test: &TestStore) {
    let herald = runtime(test, true).await;
    let first = {
        let herald = herald.clone();
        tokio::spawn(async move { herald.dispatch(open(1, "", 200)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let given_up = {
        let herald = herald.clone();
        tokio::spawn(async move { herald.dispatch(open(2, "", 5_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let behind = {
        let herald = herald.clone();
        tokio::spawn(async move { herald.dispatch(open(3, "", 0)).await })
    };
    // The second is in its hook (its account row not written yet, its command id not
    // recorded), the third waits for the transaction: give the second up.
    tokio::time::sleep(Duration::from_millis(400)).await;
    given_up.abort();
    assert!(given_up.await.unwrap_err().is_cancelled());
    first.await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(10), behind)
        .await
        .expect("the command behind the one given up does not wait for it")
        .unwrap()
        .unwrap();
    assert_eq!(rows(&*test.store).await, on_sql(test, vec![1, 3]));
    assert_eq!(herald.load::<Acct>(2).await.unwrap().version(), 0);
    herald.dispatch(open(2, "", 0)).await.unwrap();
}

/// A dispatch given up at any moment (after 0 to 6 ms, by steps of 50 µs: waiting for
/// its seat, in its steps, while it commits the transaction it shares, after) never holds
/// up or fails the neighbour that shares its transaction (a commit under way goes on
/// without the caller), and leaves its stream whole: the next command on it commits,
/// right after what did commit.
#[on_every_backend]
async fn a_dispatch_given_up_at_any_moment_never_holds_up_its_neighbour(test: &TestStore) {
    let herald = runtime(test, true).await;
    for step in 0..120u64 {
        let id = 100 + step;
        let neighbour = {
            let herald = herald.clone();
            tokio::spawn(async move { herald.dispatch(NoteAcct { id: 10_000 + step }).await })
        };
        let patience = Duration::from_micros(step * 50);
        let given_up = tokio::time::timeout(patience, herald.dispatch(NoteAcct { id })).await;
        let neighbour = tokio::time::timeout(Duration::from_secs(10), neighbour)
            .await
            .expect("the neighbour's dispatch finished")
            .unwrap();
        assert_eq!(neighbour.unwrap().version(), 1);
        let next = tokio::time::timeout(Duration::from_secs(10), herald.dispatch(NoteAcct { id }))
            .await
            .expect("the next command on the stream was not held up")
            .unwrap();
        if let Ok(finished) = given_up {
            assert_eq!(finished.unwrap().version(), 1);
            assert_eq!(next.version(), 2);
        }
        let versions = versions(&*test.store, &next.events()[0].stream).await;
        assert_eq!(versions, (1..=next.version()).collect::<Vec<_>>());
    }
}

/// The same command id sent twice at once, while a transaction is being shared: one
/// runs, the other waits for it and returns its result, running nothing.
#[on_every_backend]
async fn one_command_id_twice_at_once_runs_once(test: &TestStore) {
    let herald = runtime(test, true).await;
    let id = herald::Uuid::now_v7();
    let holder = {
        let herald = herald.clone();
        tokio::spawn(async move { herald.dispatch(open(1, "", 200)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let twice: Vec<_> = (0..2)
        .map(|_| {
            let herald = herald.clone();
            tokio::spawn(async move { herald.dispatch(open(2, "", 0)).command_id(id).await })
        })
        .collect();
    holder.await.unwrap().unwrap();
    let mut repeats = 0;
    for task in twice {
        let dispatched = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("no deadlock")
            .unwrap()
            .unwrap();
        assert_eq!(dispatched.command_id(), id);
        assert_eq!(dispatched.version(), 1);
        repeats += usize::from(dispatched.is_repeat());
    }
    assert_eq!(repeats, 1);
    assert_eq!(herald.load::<Acct>(2).await.unwrap().version(), 1);
}

/// With group commit off, each command commits alone, whatever arrives beside it.
#[on_every_backend]
async fn with_group_commit_off_each_commits_alone(test: &TestStore) {
    let herald = runtime(test, false).await;
    let mut commands = vec![open(1, "", 100)];
    commands.extend((2..=4).map(|id| open(id, "", 0)));
    for result in together(&herald, commands).await {
        let dispatched = result.unwrap();
        assert_eq!(commit_detail(dispatched.trace().nodes().cloned()), None);
    }
    assert_eq!(rows(&*test.store).await.map(|r| r.len()), on_sql(test, 4));
}

/// Many writers on distinct streams, a hundred commands each, through shared commits:
/// every command's event is there once, and the aggregates load as committed.
#[on_every_backend]
async fn many_writers_through_shared_commits_lose_nothing(test: &TestStore) {
    let herald = runtime(test, true).await;
    let writers: Vec<_> = (0..8u64)
        .map(|writer| {
            let herald = herald.clone();
            tokio::spawn(async move {
                for n in 0..25u64 {
                    let id = writer * 1000 + n;
                    herald.dispatch(open(id, "", 0)).await.unwrap();
                    // Its aggregate, from the cache or the store, is the committed one.
                    assert!(herald.load::<Acct>(id).await.unwrap().state().open);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let events = test.store.read_all(Position::START, 1000).await.unwrap();
    assert_eq!(events.len(), 200);
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(rows(&*test.store).await.map(|r| r.len()), on_sql(test, 200));
}

/// A transaction that keeps its commands' rows for the commit, as a shared one does
/// (`write_commands_at_commit`): a row kept after a savepoint goes with a rollback to it,
/// one kept before it or released with it is written; and a commit that cannot write
/// every kept row (here one id twice) commits nothing. The memory store writes each row
/// at once, so the SQL stores only.
#[on_every_backend]
async fn rows_kept_for_the_commit_follow_savepoints_and_commit_whole(test: &TestStore) {
    if !test.store.groups_commits() {
        return;
    }
    let result = herald::store::ResultJson::new(r#"{"kept":true}"#).unwrap();
    let [kept, undone, released] = [(); 3].map(|()| herald::Uuid::now_v7());
    let mut tx = test.store.begin().await.unwrap();
    tx.write_commands_at_commit();
    tx.finish_command(kept, b"h", result).await.unwrap();
    let savepoint = tx.savepoint().await.unwrap();
    tx.finish_command(undone, b"h", result).await.unwrap();
    tx.rollback_to(savepoint).await.unwrap();
    let savepoint = tx.savepoint().await.unwrap();
    tx.finish_command(released, b"h", result).await.unwrap();
    tx.release(savepoint).await.unwrap();
    // A savepoint taken after the release, and undone, leaves the released row alone.
    let later = tx.savepoint().await.unwrap();
    tx.rollback_to(later).await.unwrap();
    tx.commit().await.unwrap();
    let read = |id| test.store.read_command(id);
    assert!(read(kept).await.unwrap().is_some());
    assert!(read(undone).await.unwrap().is_none());
    assert!(read(released).await.unwrap().is_some());

    let [twice, beside] = [(); 2].map(|()| herald::Uuid::now_v7());
    let mut tx = test.store.begin().await.unwrap();
    tx.write_commands_at_commit();
    tx.finish_command(beside, b"h", result).await.unwrap();
    tx.finish_command(twice, b"h", result).await.unwrap();
    tx.finish_command(twice, b"h", result).await.unwrap();
    assert!(
        tx.commit().await.is_err(),
        "one id twice: not every row can be written"
    );
    assert!(read(twice).await.unwrap().is_none());
    assert!(
        read(beside).await.unwrap().is_none(),
        "nothing of it committed"
    );

    // More rows than one statement writes (a thousand): all of them.
    let many: Vec<_> = (0..2_001).map(|_| herald::Uuid::now_v7()).collect();
    let mut tx = test.store.begin().await.unwrap();
    tx.write_commands_at_commit();
    for &id in &many {
        tx.finish_command(id, b"h", result).await.unwrap();
    }
    tx.commit().await.unwrap();
    for id in [many[0], many[999], many[1_000], many[2_000]] {
        assert!(read(id).await.unwrap().is_some());
    }
    assert_eq!(
        test.store.recent_commands(None, 3_000).await.unwrap().len(),
        2 + 2_001,
        "the two rows of the first transaction, and these"
    );
}
