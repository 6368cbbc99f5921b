//! The SQL text of the store's statements that take a dialect's fragments, put together
//! once when a store connects. (Statements with no fragment are literals where they run.)

use sqlx::{AssertSqlSafe, SqlStr};

use super::dialect::Dialect;

/// The columns of an event row, as [`rows::event`](super::rows::event) reads them.
pub(super) fn event_columns<D: Dialect>(table: &str, position: &str) -> String {
    format!(
        "SELECT {position}, event_id, tenant, stream_type, stream_id, version, route, name, \
         schema_version, payload, metadata, {} AS recorded_us FROM {table} ",
        D::micros("recorded_at")
    )
}

/// The committed rows of `herald_commands`, as `recent_commands` reads them.
fn commands<D: Dialect>() -> String {
    format!(
        "SELECT id, result, {} AS recorded_us FROM herald_commands WHERE result IS NOT NULL",
        D::micros("recorded_at")
    )
}

/// Writes the records of `n` commands: each the row its id claimed, or a new one for an
/// id no one else can know. `$1` to `$4` are the first's id, payload hash, result (JSON
/// text) and time (microseconds since the epoch), `$5` to `$8` the second's, and so on.
/// A record is written only where the row has no result yet and the same payload hash,
/// so the rows it touches say whether all were.
pub(super) fn finish_commands<D: Dialect>(n: usize) -> SqlStr {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let at = |k: usize| format!("${}", 4 * i + k);
            format!(
                "({}, {}, {}, {})",
                at(1),
                at(2),
                D::json(&at(3)),
                D::time(&at(4))
            )
        })
        .collect();
    sql(format!(
        "INSERT INTO herald_commands (id, payload_hash, result, recorded_at) VALUES {} \
         ON CONFLICT (id) DO UPDATE SET result = excluded.result \
         WHERE herald_commands.result IS NULL \
         AND herald_commands.payload_hash = excluded.payload_hash",
        rows.join(", ")
    ))
}

pub(super) fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

use sqlx::SqlSafeStr as _;

/// The statements of a store's events, commands, snapshots and consumers.
#[derive(Debug)]
pub(super) struct Statements {
    pub(super) stream_events: SqlStr,
    pub(super) event_by_id: SqlStr,
    pub(super) replay_events: SqlStr,
    pub(super) claim_command: SqlStr,
    pub(super) finish_command: SqlStr,
    /// The newest committed commands (`$1`: how many).
    pub(super) recent_commands: SqlStr,
    /// The newest committed commands before command `$1` (`$2`: how many).
    pub(super) commands_before: SqlStr,
    pub(super) save_snapshot: SqlStr,
    pub(super) discard: SqlStr,
    pub(super) count_after: SqlStr,
    pub(super) count_after_at_most: SqlStr,
    pub(super) checkpoints: SqlStr,
    pub(super) claim_consumer: SqlStr,
    pub(super) read_checkpoint: SqlStr,
    pub(super) save_checkpoint: SqlStr,
    pub(super) park: SqlStr,
    pub(super) dead_letters: SqlStr,
    pub(super) lease: SqlStr,
    pub(super) leases: SqlStr,
    pub(super) remote: RemoteStatements,
}

/// The statements of the remote consumers' registrations.
#[derive(Debug)]
pub(super) struct RemoteStatements {
    /// A new registration (`$1` tenant, `$2` name, `$3` patterns, `$4` when), unless
    /// there is one.
    pub(super) insert: SqlStr,
    /// The registration of `$1`, `$2`, with its checkpoint.
    pub(super) one: SqlStr,
    /// The registrations of tenant `$1`, by name, with their checkpoints.
    pub(super) of_tenant: SqlStr,
    /// The registration of `$1`, `$2`, locked until the transaction ends.
    pub(super) lock: SqlStr,
    /// Records the time of an acknowledgement (`$3`).
    pub(super) acked: SqlStr,
}

impl RemoteStatements {
    fn new<D: Dialect>() -> Self {
        let registrations = format!(
            "SELECT r.tenant, r.name, r.patterns, {} AS registered_us, {} AS acked_us, \
             COALESCE(c.tx_order, 0) AS tx_order, COALESCE(c.position, 0) AS position \
             FROM herald_remote_consumers r LEFT JOIN herald_checkpoints c \
             ON c.consumer = 'remote:' || r.tenant || ':' || r.name WHERE r.tenant = $1",
            D::micros("r.registered_at"),
            D::micros("r.acked_at"),
        );
        RemoteStatements {
            insert: sql(format!(
                "INSERT INTO herald_remote_consumers (tenant, name, patterns, registered_at) \
                 VALUES ($1, $2, $3, {}) ON CONFLICT (tenant, name) DO NOTHING",
                D::time("$4")
            )),
            one: sql(format!("{registrations} AND r.name = $2")),
            of_tenant: sql(format!("{registrations} ORDER BY r.name")),
            // A database with one writer needs no row lock: the transaction holds the
            // write lock.
            lock: sql(format!(
                "SELECT 1 AS found FROM herald_remote_consumers WHERE tenant = $1 AND name = $2{}",
                if D::SINGLE_WRITER { "" } else { " FOR UPDATE" }
            )),
            acked: sql(format!(
                "UPDATE herald_remote_consumers SET acked_at = {} WHERE tenant = $1 AND name = $2",
                D::time("$3")
            )),
        }
    }
}

impl Statements {
    pub(super) fn new<D: Dialect>() -> Self {
        let events = event_columns::<D>("herald_events", D::EVENT_POSITION);
        let now = D::NOW;
        let time = D::time;
        Statements {
            stream_events: sql(format!(
                "{events}WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 \
                 ORDER BY version"
            )),
            event_by_id: sql(format!("{events}WHERE event_id = $1")),
            // The payload as its JSON text: an aggregate decodes it into its own type.
            replay_events: sql(format!(
                "SELECT version, name, schema_version, {} AS payload FROM herald_events \
                 WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 \
                 ORDER BY version",
                D::json_text("payload")
            )),
            claim_command: sql(format!(
                "INSERT INTO herald_commands (id, payload_hash, recorded_at) VALUES ($1, $2, {}) \
                 ON CONFLICT (id) DO NOTHING",
                time("$3")
            )),
            finish_command: finish_commands::<D>(1),
            recent_commands: sql(format!(
                "{commands} ORDER BY {newest} LIMIT $1",
                commands = commands::<D>(),
                newest = D::COMMANDS_NEWEST_FIRST,
            )),
            commands_before: sql(format!(
                "{commands} AND {before} ORDER BY {newest} LIMIT $2",
                commands = commands::<D>(),
                before = D::commands_before("$1"),
                newest = D::COMMANDS_NEWEST_FIRST,
            )),
            save_snapshot: sql(format!(
                "INSERT INTO herald_snapshots \
                 (tenant, stream_type, stream_id, version, state_version, state, taken_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, {}) \
                 ON CONFLICT (tenant, stream_type, stream_id) DO UPDATE SET version = excluded.version, \
                 state_version = excluded.state_version, state = excluded.state, \
                 taken_at = excluded.taken_at WHERE excluded.version > herald_snapshots.version",
                time("$7")
            )),
            // From `$1, $2` on (the events kept before it are not looked at again) up to
            // `$3, $4`, at most `$5`.
            discard: sql(format!(
                "DELETE FROM herald_events WHERE position IN (\
                 SELECT e.position FROM herald_events e WHERE {after} AND NOT {past_end} \
                 AND e.version < (SELECT MAX(version) FROM herald_events s \
                 WHERE s.tenant = e.tenant AND s.stream_type = e.stream_type \
                 AND s.stream_id = e.stream_id) \
                 AND NOT EXISTS (SELECT 1 FROM herald_dead_letters d WHERE d.event_id = e.event_id) \
                 ORDER BY {order} LIMIT $5) RETURNING {position}",
                after = D::events_after("$1", "$2"),
                past_end = D::events_after("$3", "$4"),
                order = D::EVENT_ORDER,
                position = D::EVENT_POSITION,
            )),
            count_after: sql(format!(
                "SELECT COUNT(*) AS count FROM herald_events WHERE {}",
                D::events_after("$1", "$2")
            )),
            // Reads at most `$3` rows of the index, however long the log.
            count_after_at_most: sql(format!(
                "SELECT COUNT(*) AS count FROM (SELECT 1 FROM herald_events WHERE {} \
                 LIMIT $3) AS counted",
                D::events_after("$1", "$2")
            )),
            checkpoints: sql(format!(
                "SELECT consumer, tx_order, position, {} AS updated_us FROM herald_checkpoints \
                 ORDER BY consumer",
                D::micros("updated_at")
            )),
            claim_consumer: sql(format!(
                "INSERT INTO herald_checkpoints (consumer, tx_order, position, updated_at) \
                 VALUES ($1, 0, 0, {}) ON CONFLICT (consumer) DO NOTHING",
                time("$2")
            )),
            // A database with one writer needs no row lock: the transaction holds the
            // write lock.
            read_checkpoint: sql(format!(
                "SELECT tx_order, position FROM herald_checkpoints WHERE consumer = $1{}",
                if D::SINGLE_WRITER { "" } else { " FOR UPDATE" }
            )),
            save_checkpoint: sql(format!(
                "INSERT INTO herald_checkpoints (consumer, tx_order, position, updated_at) \
                 VALUES ($1, $2, $3, {}) ON CONFLICT (consumer) DO UPDATE SET \
                 tx_order = excluded.tx_order, position = excluded.position, \
                 updated_at = excluded.updated_at",
                time("$4")
            )),
            // A letter parked again keeps when it first failed, and its event.
            park: sql(format!(
                "INSERT INTO herald_dead_letters (consumer, event_id, tx_order, position, tenant, \
                 stream_type, stream_id, route, error, attempts, behind, first_failed_at, \
                 last_failed_at, event) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, {}, {}, $14) \
                 ON CONFLICT (consumer, event_id) DO UPDATE SET error = excluded.error, \
                 attempts = excluded.attempts, behind = excluded.behind, \
                 last_failed_at = excluded.last_failed_at, \
                 event = COALESCE(excluded.event, herald_dead_letters.event)",
                time("$12"),
                time("$13")
            )),
            dead_letters: sql(format!(
                "SELECT consumer, event_id, tx_order, position, tenant, stream_type, stream_id, \
                 route, error, attempts, behind, event, {} AS first_us, {} AS last_us \
                 FROM herald_dead_letters WHERE consumer = $1 ORDER BY tx_order, position",
                D::micros("first_failed_at"),
                D::micros("last_failed_at")
            )),
            // The database's clock: the processes sharing it may be on machines whose
            // clocks differ.
            lease: sql(format!(
                "INSERT INTO herald_consumer_leases (consumer, owner, expires_at) \
                 VALUES ($1, $2, {}) ON CONFLICT (consumer) DO UPDATE SET \
                 owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE herald_consumer_leases.owner = excluded.owner \
                 OR herald_consumer_leases.expires_at < {now}",
                D::later(now, "$3")
            )),
            leases: sql(format!(
                "SELECT consumer, owner FROM herald_consumer_leases \
                 WHERE substr(consumer, 1, length($1)) = $1 AND expires_at >= {now} \
                 ORDER BY consumer"
            )),
            remote: RemoteStatements::new::<D>(),
        }
    }
}

/// The statements of an archive.
#[derive(Debug)]
pub(super) struct ArchiveStatements {
    pub(super) read_all: SqlStr,
    pub(super) read_stream: SqlStr,
    pub(super) event_by_id: SqlStr,
    /// `INSERT … SELECT` from the `VALUES` list that follows.
    pub(super) insert: String,
}

impl ArchiveStatements {
    pub(super) fn new<D: Dialect>() -> Self {
        let events = event_columns::<D>("herald_archive", "tx_order, position");
        ArchiveStatements {
            read_all: sql(format!(
                "{events}WHERE (tx_order, position) > ($1, $2) ORDER BY tx_order, position LIMIT $3"
            )),
            read_stream: sql(format!(
                "{events}WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 \
                 ORDER BY version"
            )),
            event_by_id: sql(format!("{events}WHERE event_id = $1")),
            // `VALUES` names its columns `column1`… on SQLite and PostgreSQL alike.
            insert: format!(
                "INSERT INTO herald_archive (tx_order, position, event_id, tenant, stream_type, \
                 stream_id, version, route, name, schema_version, payload, metadata, recorded_at) \
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, \
                 column9, column10, column11, column12, {} FROM (",
                // then `) AS v WHERE true ON CONFLICT DO NOTHING` (the `WHERE` tells SQLite
                // the `ON` is the upsert's)
                D::time("column13")
            ),
        }
    }
}
