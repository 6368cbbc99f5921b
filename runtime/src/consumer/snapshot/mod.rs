//! Read-model snapshots: an eventual projector's declared tables backed up with its
//! checkpoints (every partition's) and dead letters at one position, into a versioned
//! file, and restored later, after which the projector catches up from there.
//!
//! Taking one reads everything in one read transaction (SQLite's, PostgreSQL's
//! `REPEATABLE READ READ ONLY`): the projector writes its rows and its checkpoint in one
//! transaction, so what is read is exactly what the checkpoint read says it handled, and
//! no writer waits. Restoring one holds the projector's leases (its worker elsewhere
//! stands by), fills copies of its tables aside from the file, as a rebuild does, then
//! swaps them in with the checkpoints and dead letters in one transaction.

// Without a SQL store built in, a snapshot can only refuse.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(unused))]

mod file;
mod rows;

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::hub::Hub;
use super::rebuild::{Aside, check_swappable, copy_table, swap_table};
use super::{Consumers, Layout, consumer_store_error, position_of};
use crate::BoxFuture;
use crate::engine::handler::ProjectorRow;
use crate::engine::handler::reaction::Reaction;
use crate::engine::handler::rebuild_table;
use crate::outcome::error::{Error, ErrorKind, SnapshotMismatch};
use crate::store::{Position, StoreError};
use file::{At, Column, FORMAT, FORMAT_VERSION, Header, Reader, Table, Writer, mismatch};
use rows::RowError;

/// How a snapshot or a restore is going, reported as rows are copied (see
/// [`TakeSnapshot::on_progress`] and [`Restore::on_progress`]).
///
/// ```
/// fn line(p: &herald::consumer::SnapshotProgress) -> String {
///     let eta = p.eta().map_or("?".into(), |eta| format!("{:.0} s", eta.as_secs_f64()));
///     format!("{}/{} rows, {:.0}/s, {eta} left", p.rows, p.total, p.rate())
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SnapshotProgress {
    /// Rows copied so far.
    pub rows: u64,
    /// Rows to copy, all tables together.
    pub total: u64,
    /// Time since the work started.
    pub elapsed: Duration,
}

impl SnapshotProgress {
    /// Rows copied per second so far.
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The time left at the rate so far, once there is one.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (self.rows > 0 && rate > 0.0)
            .then(|| Duration::from_secs_f64(self.total.saturating_sub(self.rows) as f64 / rate))
    }
}

/// What a snapshot holds, as [`Consumers::snapshot`] wrote it or [`SnapshotInfo::read`]
/// reads it back, and what [`Consumers::restore`] restored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// The projector it is of.
    pub projector: String,
    /// The projector's `version` it was taken under.
    pub projector_version: u32,
    /// The number of partitions the projector had (1: not split).
    pub partitions: u32,
    /// The kind of store it was taken on: `sqlite` or `postgres`.
    pub store: String,
    /// When it was taken (RFC 3339).
    pub taken_at: String,
    /// Each checkpoint (the projector's, or each partition's: `name#k/N`) and where it
    /// was: what the projector catches up from once restored.
    pub checkpoints: Vec<(String, Position)>,
    /// Each table and its number of rows.
    pub tables: Vec<(String, u64)>,
    /// How many events the projector had parked.
    pub dead_letters: usize,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl SnapshotInfo {
    /// Reads a snapshot file's header: what it holds, without restoring it (what the
    /// CLI shows before it asks). The rows are not read, nor checked.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), herald::Error> {
    /// let info = herald::consumer::SnapshotInfo::read("till_totals.snapshot")?;
    /// for (key, position) in &info.checkpoints {
    ///     println!("{key} at {position}, taken {}", info.taken_at);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn read(path: impl AsRef<Path>) -> Result<SnapshotInfo, Error> {
        let path = path.as_ref();
        let (_, header) = Reader::open(path, "")?;
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        SnapshotInfo::of(&header, path, bytes)
    }

    fn of(header: &Header, path: &Path, bytes: u64) -> Result<SnapshotInfo, Error> {
        Ok(SnapshotInfo {
            projector: header.projector.clone(),
            projector_version: header.projector_version,
            partitions: header.partitions,
            store: header.store.clone(),
            taken_at: header.taken_at.clone(),
            checkpoints: header.positions(path)?,
            tables: (header.tables.iter())
                .map(|t| (t.name.clone(), t.rows))
                .collect(),
            dead_letters: header.dead_letters.len(),
            bytes,
        })
    }

    /// Rows in all its tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

type OnProgress<'h> = Box<dyn FnMut(&SnapshotProgress) + Send + 'h>;

/// A snapshot of an eventual projector's tables, configured then awaited; see
/// [`Consumers::snapshot`].
#[must_use = "a snapshot does nothing until it is awaited"]
pub struct TakeSnapshot<'h> {
    hub: &'h Hub,
    name: String,
    path: PathBuf,
    progress: Option<OnProgress<'h>>,
}

impl<'h> TakeSnapshot<'h> {
    /// Called as rows are written (every 1,000, and once at the end).
    pub fn on_progress(mut self, report: impl FnMut(&SnapshotProgress) + Send + 'h) -> Self {
        self.progress = Some(Box::new(report));
        self
    }
}

impl<'h> IntoFuture for TakeSnapshot<'h> {
    type Output = Result<SnapshotInfo, Error>;
    type IntoFuture = BoxFuture<'h, Result<SnapshotInfo, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(take(self))
    }
}

/// A restore of an eventual projector's tables from a snapshot, configured then
/// awaited; see [`Consumers::restore`].
#[must_use = "a restore does nothing until it is awaited"]
pub struct Restore<'h> {
    hub: &'h Hub,
    name: String,
    path: PathBuf,
    progress: Option<OnProgress<'h>>,
}

impl<'h> Restore<'h> {
    /// Called as rows are written into the copies (every 1,000, and once at the end).
    pub fn on_progress(mut self, report: impl FnMut(&SnapshotProgress) + Send + 'h) -> Self {
        self.progress = Some(Box::new(report));
        self
    }
}

impl<'h> IntoFuture for Restore<'h> {
    type Output = Result<SnapshotInfo, Error>;
    type IntoFuture = BoxFuture<'h, Result<SnapshotInfo, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(restore(self))
    }
}

impl<'h> Consumers<'h> {
    /// Backs up eventual projector `name`'s declared tables (`tables = [...]`) with its
    /// checkpoints (every partition's, when it is split) and its dead letters, at one
    /// position, into the file at `path`: written under a temporary name beside it and
    /// renamed once whole, so that `path` never holds half a snapshot. Everything is
    /// read in one read transaction, which holds up no writer: commands go on, and so
    /// does the projector. The file is versioned: it holds the format's version, the
    /// projector's name and `version`, the tables' columns, the checkpoints and the
    /// rows, and ends with their count and SHA-256. Needs a SQL store.
    ///
    /// ```
    /// use herald::prelude::*;
    ///
    /// #[event("till.:till_id.paid")]
    /// struct Paid { till_id: u64, amount: u64 }
    /// #[command("pay.:till_id", event = Paid)]
    /// #[derive(Clone)]
    /// struct Pay { till_id: u64, amount: u64 }
    /// impl From<Pay> for Paid {
    ///     fn from(pay: Pay) -> Paid { Paid { till_id: pay.till_id, amount: pay.amount } }
    /// }
    ///
    /// #[projector("till.:till_id.paid", consistency = eventual, tables = ["totals"])]
    /// async fn totals(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    ///     let upsert = format!(
    ///         "INSERT INTO {0} VALUES ($1, $2) ON CONFLICT (till) DO UPDATE SET total = {0}.total + $2",
    ///         cx.table("totals")
    ///     );
    ///     herald::sqlx::query(herald::sqlx::AssertSqlSafe(upsert))
    ///         .bind(e.till_id as i64)
    ///         .bind(e.amount as i64)
    ///         .execute(cx.sqlite()?)
    ///         .await?;
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("herald-snapshot-doc-{}", herald::Uuid::now_v7()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let url = format!("sqlite://{}", dir.join("app.db").display());
    /// let herald = Herald::builder().modules([module_path!()]).url(url).build().await?;
    /// # let mut tx = herald.begin().await?;
    /// # herald::sqlx::query("CREATE TABLE totals (till INTEGER PRIMARY KEY, total INTEGER)").execute(tx.sqlite()?).await?;
    /// # tx.commit().await?;
    /// let paid = herald.dispatch(Pay { till_id: 1, amount: 30 }).await?;
    /// let consumers = herald.consumers();
    /// consumers.wait_for(paid.events(), ["totals"], std::time::Duration::from_secs(5)).await?;
    ///
    /// let path = dir.join("totals.snapshot");
    /// let taken = consumers.snapshot("totals", &path).await?;
    /// assert_eq!((taken.rows(), taken.checkpoints[0].1), (1, paid.events()[0].position));
    ///
    /// // Later, from that file: the table as it was, and the projector goes on from there.
    /// let restored = consumers.restore("totals", &path).await?;
    /// assert_eq!(restored.rows(), 1);
    /// # drop(herald); std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self, name: &str, path: impl AsRef<Path>) -> TakeSnapshot<'h> {
        TakeSnapshot {
            hub: self.hub,
            name: name.to_owned(),
            path: path.as_ref().to_owned(),
            progress: None,
        }
    }

    /// Restores eventual projector `name`'s tables, checkpoints and dead letters from a
    /// snapshot that [`snapshot`](Self::snapshot) wrote at `path`; its worker then
    /// catches up from the snapshot's position, handling the events committed since.
    ///
    /// While it runs it holds the projector's leases (every partition's), so that no
    /// other runtime's worker runs it meanwhile: if another runtime holds one, the
    /// restore is refused ([`ErrorKind::ConsumerHeld`]); stop the processes running it
    /// first, or restore from one of them. The rows are written into copies of the
    /// tables aside, as a [rebuild](Self::rebuild) does, then swapped in with the
    /// checkpoints in one transaction: readers see the old tables until then, the
    /// snapshot's after, never half of it.
    ///
    /// A snapshot that does not fit is refused with [`ErrorKind::SnapshotMismatch`],
    /// before anything changes, saying why ([`SnapshotMismatch`]): taken of another
    /// projector, under another `version` of it, with other tables or columns, under
    /// another number of partitions, on another kind of store or past this store's
    /// events. A file cut short or changed is refused with [`ErrorKind::SnapshotFile`],
    /// its tables left as they were. Needs a SQL store.
    ///
    /// ```no_run
    /// # async fn run(herald: herald::Herald) -> Result<(), herald::Error> {
    /// let restored = herald
    ///     .consumers()
    ///     .restore("profiles", "profiles.snapshot")
    ///     .on_progress(|p| eprintln!("{}/{} rows", p.rows, p.total))
    ///     .await?;
    /// println!("{} rows back, catching up from {:?}", restored.rows(), restored.checkpoints);
    /// # Ok(()) }
    /// ```
    pub fn restore(&self, name: &str, path: impl AsRef<Path>) -> Restore<'h> {
        Restore {
            hub: self.hub,
            name: name.to_owned(),
            path: path.as_ref().to_owned(),
            progress: None,
        }
    }
}

/// The projector `handler` is, when its tables can be backed up: an eventual projector
/// that declares them.
fn with_tables(
    handler: Reaction<'_>,
    name: &str,
    refused: impl Fn(&str) -> Error,
) -> Result<&'static ProjectorRow, Error> {
    let Reaction::Project(projector, _) = handler else {
        return Err(refused(
            "only an eventual projector's tables are kept in a snapshot",
        ));
    };
    if projector.tables.is_empty() {
        let _ = name;
        return Err(refused(
            "declare the tables it writes (`tables = [\"…\"]`) and write them through `cx.table(\"…\")`, so that a snapshot knows what to keep",
        ));
    }
    Ok(projector)
}

/// That consumer `name` cannot be snapshotted, and why.
fn not_snapshotted(name: &str) -> impl Fn(&str) -> Error + '_ {
    move |why| {
        ErrorKind::NoSuchConsumer(format!("consumer `{name}` cannot be snapshotted: {why}")).into()
    }
}

/// A failure of the SQL that reads or writes the rows.
fn row_failure(name: &str, path: &Path, doing: &str) -> impl Fn(RowError) -> Error + use<> {
    let store = consumer_store_error(name, doing);
    let path = path.to_owned();
    move |error| match error {
        RowError::Store(source) => store(source),
        RowError::Row(problem) => file::corrupt(&path, problem),
    }
}

/// Reports progress every 1,000 rows, and at the end.
struct Progress<'a, 'h> {
    report: &'a mut Option<OnProgress<'h>>,
    rows: u64,
    total: u64,
    started: Instant,
}

impl Progress<'_, '_> {
    fn row(&mut self) {
        self.rows += 1;
        if self.rows.is_multiple_of(1000) {
            self.report();
        }
    }

    fn report(&mut self) {
        if let Some(report) = self.report {
            report(&SnapshotProgress {
                rows: self.rows,
                total: self.total.max(self.rows),
                elapsed: self.started.elapsed(),
            });
        }
    }
}

async fn take(snapshot: TakeSnapshot<'_>) -> Result<SnapshotInfo, Error> {
    let TakeSnapshot {
        hub,
        name,
        path,
        mut progress,
    } = snapshot;
    let handler = hub.consumers().handler(&name)?;
    let projector = with_tables(handler, &name, not_snapshotted(&name))?;
    let layout = Layout::of(handler);
    let store = hub.store();
    let fail = consumer_store_error(&name, "taking a snapshot");
    let mut read = match store.read_transaction().await {
        Ok(read) => read,
        Err(StoreError::Unsupported(_)) => {
            return Err(not_snapshotted(&name)(
                "it needs a SQL store, to read its tables in one read transaction",
            ));
        }
        Err(error) => return Err(fail(error)),
    };
    // The first read fixes the moment everything else is read at.
    let checkpoints = read.checkpoints().await.map_err(&fail)?;
    layout.check(&checkpoints)?;
    let at: Vec<At> = (layout.keys().into_iter())
        .map(|(_, key)| At {
            position: position_of(&checkpoints, &key).to_wire(),
            key,
        })
        .collect();
    let dead_letters = read.dead_letters(&name).await.map_err(&fail)?;
    let rows_failed = row_failure(&name, &path, "reading its tables");
    let mut tables = Vec::new();
    for table in projector.tables {
        let columns = rows::columns(read.sql(), table)
            .await
            .map_err(&rows_failed)?
            .ok_or_else(|| {
                not_snapshotted(&name)(&format!("its table `{table}` does not exist"))
            })?;
        let rows = rows::count(read.sql(), table).await.map_err(&rows_failed)?;
        tables.push(Table {
            name: (*table).to_owned(),
            columns,
            rows,
        });
    }
    let header = Header {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        projector: name.clone(),
        projector_version: projector.version,
        partitions: layout.partitions,
        store: store.kind().to_owned(),
        taken_at: file::now(),
        checkpoints: at,
        tables,
        dead_letters,
    };
    let mut writer = Writer::create(&path, &header)?;
    let mut progress = Progress {
        report: &mut progress,
        rows: 0,
        total: header.tables.iter().map(|t| t.rows).sum(),
        started: Instant::now(),
    };
    for table in &header.tables {
        let written = rows::each_row(read.sql(), &table.name, &table.columns, |json| {
            writer.row(&table.name, json)?;
            progress.row();
            Ok(())
        })
        .await;
        let failed = match written {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error,
            Err(error) => rows_failed(error),
        };
        writer.abandon();
        return Err(failed);
    }
    drop(read);
    let (_, bytes) = writer.finish()?;
    progress.report();
    SnapshotInfo::of(&header, &path, bytes)
}

/// Refuses a snapshot whose header does not fit `projector`, as declared now.
fn check_fits(
    header: &Header,
    projector: &ProjectorRow,
    layout: &Layout,
    name: &str,
    path: &Path,
) -> Result<(), Error> {
    let refuse = |why| Err(mismatch(name, path, why));
    if header.projector != name {
        return refuse(SnapshotMismatch::Projector {
            snapshot: header.projector.clone(),
        });
    }
    if header.projector_version != projector.version {
        return refuse(SnapshotMismatch::Version {
            snapshot: header.projector_version,
            declared: projector.version,
        });
    }
    let kept: Vec<String> = header.tables.iter().map(|t| t.name.clone()).collect();
    let declared: Vec<String> = projector.tables.iter().map(|t| (*t).to_owned()).collect();
    if kept != declared {
        return refuse(SnapshotMismatch::Tables {
            snapshot: kept,
            declared,
        });
    }
    if header.partitions != layout.partitions {
        return refuse(SnapshotMismatch::Partitions {
            snapshot: header.partitions,
            declared: layout.partitions,
        });
    }
    let keys: Vec<String> = layout.keys().into_iter().map(|(_, key)| key).collect();
    let held: Vec<String> = header.checkpoints.iter().map(|c| c.key.clone()).collect();
    if keys != held {
        return Err(file::corrupt(
            path,
            format!("its checkpoints {held:?} are not the projector's {keys:?}"),
        ));
    }
    Ok(())
}

/// How `now`, a table's columns in the database, differs from `kept`, the snapshot's.
fn difference(kept: &[Column], now: &[Column]) -> Option<String> {
    for column in kept {
        let Some(found) = now.iter().find(|c| c.name == column.name) else {
            return Some(format!(
                "has no column `{}` ({}), which the snapshot holds",
                column.name, column.sql_type
            ));
        };
        let describe = |c: &Column| {
            let mut text = c.sql_type.clone();
            if c.not_null {
                text.push_str(" NOT NULL");
            }
            if c.primary_key > 0 {
                text.push_str(&format!(" (primary key, column {})", c.primary_key));
            }
            if c.generated {
                text.push_str(" GENERATED");
            }
            text
        };
        if found != column {
            return Some(format!(
                "has column `{}` as `{}`, and the snapshot has it as `{}`",
                column.name,
                describe(found),
                describe(column)
            ));
        }
    }
    now.iter()
        .find(|c| !kept.iter().any(|k| k.name == c.name))
        .map(|c| {
            format!(
                "has a column `{}` ({}) that the snapshot does not",
                c.name, c.sql_type
            )
        })
}

/// The projector's leases, held by this runtime for a restore: taken at once for every
/// partition, renewed while it runs, given up at the end unless a worker of this
/// runtime runs the projector (it keeps its own).
struct Held<'h> {
    hub: &'h Hub,
    name: String,
    keys: Vec<String>,
    at: Instant,
}

impl<'h> Held<'h> {
    async fn take(hub: &'h Hub, name: &str, layout: &Layout) -> Result<Held<'h>, Error> {
        let mut held = Held {
            hub,
            name: name.to_owned(),
            keys: Vec::new(),
            at: Instant::now(),
        };
        for (_, key) in layout.keys() {
            if let Err(error) = held.lease(&key).await {
                held.release().await;
                return Err(error);
            }
            held.keys.push(key);
        }
        Ok(held)
    }

    /// Takes or renews the lease on `key`, or says who holds it.
    async fn lease(&self, key: &str) -> Result<(), Error> {
        let log = self.hub.store().consumers();
        let ttl = self.hub.consumer_settings().lease;
        let fail = consumer_store_error(key, "taking its lease");
        if log.lease(key, self.hub.owner(), ttl).await.map_err(&fail)? {
            return Ok(());
        }
        let holder = match log.leases(key).await {
            Ok(leases) => leases.into_iter().find(|l| l.consumer == key),
            Err(_) => None,
        };
        Err(ErrorKind::ConsumerHeld {
            consumer: self.name.clone(),
            key: key.to_owned(),
            owner: holder.map_or(uuid::Uuid::nil(), |l| l.owner),
        }
        .into())
    }

    /// Renews the leases once a third of their term has passed.
    async fn renew(&mut self) -> Result<(), Error> {
        if self.at.elapsed() < self.hub.consumer_settings().lease / 3 {
            return Ok(());
        }
        self.at = Instant::now();
        for key in &self.keys {
            self.lease(key).await?;
        }
        Ok(())
    }

    /// Gives the leases up (but those a worker of this runtime runs under), so that the
    /// runtime that runs the projector takes them at once.
    async fn release(&self) {
        let log = self.hub.store().consumers();
        for key in &self.keys {
            if self.hub.workers().progress.contains_key(key) {
                continue;
            }
            if let Err(error) = log.release(key, self.hub.owner()).await {
                tracing::warn!(consumer = key, %error, "could not give up the lease; it expires");
            }
        }
    }
}

async fn restore(restore: Restore<'_>) -> Result<SnapshotInfo, Error> {
    let Restore {
        hub,
        name,
        path,
        mut progress,
    } = restore;
    let aside = Aside::Restore;
    let refused = |why: &str| aside.refused(&name, why);
    let handler = hub.consumers().handler(&name)?;
    let projector = with_tables(handler, &name, refused)?;
    let layout = Layout::of(handler);
    let store = hub.store();
    let fail = consumer_store_error(&name, "restoring a snapshot");
    match store.read_transaction().await {
        Ok(read) => drop(read),
        Err(StoreError::Unsupported(_)) => {
            return Err(refused("it needs a SQL store, to write its tables"));
        }
        Err(error) => return Err(fail(error)),
    }
    let (reader, header) = Reader::open(&path, &name)?;
    check_fits(&header, projector, &layout, &name, &path)?;
    let positions = header.positions(&path)?;
    // The store the positions are of.
    if header.store != store.kind() {
        return Err(mismatch(
            &name,
            &path,
            SnapshotMismatch::Store {
                snapshot: header.store.clone(),
                store: store.kind().to_owned(),
            },
        ));
    }
    let head = store.consumers().head().await.map_err(&fail)?;
    let furthest = positions
        .iter()
        .map(|(_, p)| *p)
        .max()
        .unwrap_or(Position::START);
    if furthest > head {
        return Err(mismatch(
            &name,
            &path,
            SnapshotMismatch::AheadOfStore {
                position: furthest,
                head,
            },
        ));
    }
    let mut held = Held::take(hub, &name, &layout).await?;
    let restoring = Restoring {
        hub,
        projector,
        layout: &layout,
        name: &name,
        path: &path,
        header: &header,
    };
    let restored = restoring
        .run(reader, &positions, &mut held, &mut progress)
        .await;
    if restored.is_err() {
        restoring.drop_copies().await;
    }
    held.release().await;
    restored?;
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    SnapshotInfo::of(&header, &path, bytes)
}

/// A restore under way.
struct Restoring<'a> {
    hub: &'a Hub,
    projector: &'static ProjectorRow,
    layout: &'a Layout,
    name: &'a str,
    path: &'a Path,
    header: &'a Header,
}

/// Rows written into the copies per transaction.
const ROWS_PER_BATCH: usize = 1000;

impl Restoring<'_> {
    async fn run(
        &self,
        mut reader: Reader,
        positions: &[(String, Position)],
        held: &mut Held<'_>,
        progress: &mut Option<OnProgress<'_>>,
    ) -> Result<(), Error> {
        self.make_copies().await?;
        let mut progress = Progress {
            report: progress,
            rows: 0,
            total: self.header.tables.iter().map(|t| t.rows).sum(),
            started: Instant::now(),
        };
        // The rows, table after table in the header's order, a batch per transaction.
        let mut tables = self.header.tables.iter();
        let mut table = tables.next();
        let mut batch: Vec<String> = Vec::new();
        let mut in_table = 0u64;
        while let Some(row) = reader.next_row()? {
            while table.is_some_and(|t| t.name != row.table) {
                let done = table.expect("some");
                self.check_count(done, in_table)?;
                self.write(done, &batch).await?;
                batch.clear();
                in_table = 0;
                table = tables.next();
            }
            let Some(current) = table else {
                return Err(file::corrupt(
                    self.path,
                    format!(
                        "it holds a row of `{}` out of the header's order",
                        row.table
                    ),
                ));
            };
            batch.push(row.json.to_owned());
            in_table += 1;
            progress.row();
            if batch.len() >= ROWS_PER_BATCH {
                self.write(current, &batch).await?;
                batch.clear();
                held.renew().await?;
            }
        }
        // The end was read and checked; the last table, and those without rows.
        while let Some(done) = table {
            self.check_count(done, in_table)?;
            self.write(done, &batch).await?;
            batch.clear();
            in_table = 0;
            table = tables.next();
        }
        progress.report();
        held.renew().await?;
        self.swap_in(positions).await
    }

    fn check_count(&self, table: &Table, rows: u64) -> Result<(), Error> {
        match table.rows == rows {
            true => Ok(()),
            false => Err(file::corrupt(
                self.path,
                format!(
                    "its header says table `{}` has {} rows, and it holds {rows}",
                    table.name, table.rows
                ),
            )),
        }
    }

    fn store_failure(&self, doing: &str) -> impl Fn(StoreError) -> Error + use<> {
        consumer_store_error(self.name, doing)
    }

    /// The copies of the tables, empty, in one transaction, once each table is seen to
    /// have the snapshot's columns and to be one that can be swapped.
    async fn make_copies(&self) -> Result<(), Error> {
        let rows_failed = row_failure(self.name, self.path, "reading its tables' columns");
        let mut tx = (self.hub.store().begin().await).map_err(self.store_failure("beginning"))?;
        for table in &self.header.tables {
            let found = rows::columns(tx.sql(), &table.name)
                .await
                .map_err(&rows_failed)?;
            let difference = match found {
                None => Some("does not exist".to_owned()),
                Some(now) => difference(&table.columns, &now),
            };
            if let Some(difference) = difference {
                return Err(mismatch(
                    self.name,
                    self.path,
                    SnapshotMismatch::Layout {
                        table: table.name.clone(),
                        difference,
                    },
                ));
            }
        }
        for table in self.projector.tables {
            check_swappable(&mut *tx, table, self.name, Aside::Restore).await?;
        }
        for table in self.projector.tables {
            copy_table(&mut *tx, table, self.name, Aside::Restore).await?;
        }
        tx.commit()
            .await
            .map_err(self.store_failure("creating the copies"))
    }

    /// A batch of rows into `table`'s copy, in a transaction of its own.
    async fn write(&self, table: &Table, rows: &[String]) -> Result<(), Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = (self.hub.store().begin().await).map_err(self.store_failure("beginning"))?;
        let copy = rebuild_table(&table.name);
        rows::insert(tx.sql(), &copy, &table.columns, rows)
            .await
            .map_err(row_failure(self.name, self.path, "writing its tables"))?;
        tx.commit()
            .await
            .map_err(self.store_failure("committing a batch"))
    }

    /// The swap: every checkpoint of the projector claimed (its workers wait), the
    /// copies in for the tables, the checkpoints moved to the snapshot's and its dead
    /// letters put back, together.
    async fn swap_in(&self, positions: &[(String, Position)]) -> Result<(), Error> {
        let hub = self.hub;
        let seen = self.layout.look(hub).await?;
        self.layout.check_none_run_otherwise(&seen)?;
        let mut tx =
            (hub.store().begin().await).map_err(self.store_failure("beginning the swap"))?;
        let position = |key: &str| {
            (positions.iter())
                .find(|(k, _)| k == key)
                .map_or(Position::START, |(_, p)| *p)
        };
        self.layout
            .move_each(&mut *tx, &seen, position)
            .await
            .map_err(self.store_failure("moving its checkpoints"))?;
        for table in self.projector.tables {
            swap_table(&mut *tx, table, self.name, Aside::Restore).await?;
        }
        let fail = self.store_failure("putting its dead letters back");
        for letter in tx.dead_letters(self.name).await.map_err(&fail)? {
            tx.unpark(self.name, letter.event_id).await.map_err(&fail)?;
        }
        for letter in &self.header.dead_letters {
            tx.park(letter).await.map_err(&fail)?;
        }
        tx.commit()
            .await
            .map_err(self.store_failure("committing the swap"))?;
        hub.workers().moved(self.name);
        Ok(())
    }

    /// Drops the copies of a restore that failed (a later rebuild or restore would).
    async fn drop_copies(&self) {
        let Ok(mut tx) = self.hub.store().begin().await else {
            return;
        };
        for table in self.projector.tables {
            let drop = format!("DROP TABLE IF EXISTS \"{}\"", rebuild_table(table));
            let dropped = match tx.sql() {
                #[cfg(feature = "sqlite")]
                crate::store::Sql::Sqlite(conn) => sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(conn)
                    .await
                    .is_ok(),
                #[cfg(feature = "postgres")]
                crate::store::Sql::Postgres(conn) => sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(conn)
                    .await
                    .is_ok(),
                _ => true,
            };
            if !dropped {
                return;
            }
        }
        let _ = tx.commit().await;
    }
}
