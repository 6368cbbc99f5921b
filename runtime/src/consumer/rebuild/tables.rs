//! A rebuild's tables: an empty copy built beside each table (its columns, constraints,
//! indexes, foreign keys and triggers), swapped in for it at the end. A table that a
//! view or another table's foreign key depends on cannot be swapped: that is refused
//! before anything is built, naming what depends on it.

use super::consumer_store_error;
use crate::engine::handler::rebuild_table;
use crate::outcome::error::{Error, ErrorKind};
use crate::store::{Sql, StoreError, StoreTransaction};

/// What the tables are built aside for: a rebuild from the events, or a snapshot being
/// restored. Says so in refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::consumer) enum Aside {
    Rebuild,
    Restore,
}

impl Aside {
    /// That consumer `name` cannot be rebuilt (or restored), and why.
    pub(in crate::consumer) fn refused(self, name: &str, why: &str) -> Error {
        let done = match self {
            Aside::Rebuild => "rebuilt",
            Aside::Restore => "restored",
        };
        ErrorKind::NoSuchConsumer(format!("consumer `{name}` cannot be {done}: {why}")).into()
    }

    fn work(self) -> &'static str {
        match self {
            Aside::Rebuild => "rebuild",
            Aside::Restore => "restore",
        }
    }
}

/// Runs one statement on the transaction's connection, a store failure naming the table.
macro_rules! execute {
    ($conn:expr, $statement:expr, $fail:expr) => {
        sqlx::query(sqlx::AssertSqlSafe($statement))
            .execute(&mut *$conn)
            .await
            .map_err($fail)?
    };
}

/// Refuses `table` when something outside it depends on it: a view, or a foreign key of
/// another table (dropping the table for its copy would fail, or cascade).
pub(in crate::consumer) async fn check_swappable(
    tx: &mut dyn StoreTransaction,
    table: &str,
    name: &str,
    aside: Aside,
) -> Result<(), Error> {
    let fail = |source: sqlx_error::Error| sql_error(name, table, source);
    let dependents: Vec<String> = match tx.sql() {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => {
            let views: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'view' AND sql IS NOT NULL",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(&fail)?;
            let keys: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT m.name FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
                 WHERE m.type = 'table' AND m.name <> ?1 AND f.\"table\" = ?1 ORDER BY m.name",
            )
            .bind(table)
            .fetch_all(&mut *conn)
            .await
            .map_err(&fail)?;
            views
                .into_iter()
                .filter(|(_, sql)| names(sql, table))
                .map(|(view, _)| format!("view `{view}`"))
                .chain(keys.into_iter().map(|t| format!("a foreign key of table `{t}`")))
                .collect()
        }
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => sqlx::query_scalar(
            "SELECT DISTINCT 'view `' || v.relname || '`' FROM pg_depend d \
             JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
             WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1::regclass AND v.oid <> $1::regclass \
             UNION SELECT 'foreign key `' || c.conname || '` of table `' || t.relname || '`' \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             WHERE c.contype = 'f' AND c.confrelid = $1::regclass AND c.conrelid <> $1::regclass \
             ORDER BY 1",
        )
        .bind(format!("\"{table}\""))
        .fetch_all(&mut *conn)
        .await
        .map_err(&fail)?,
        _ => Vec::new(), // `copy_table` says a SQL store is needed
    };
    match dependents.is_empty() {
        true => Ok(()),
        false => Err(aside.refused(
            name,
            &format!(
                "its table `{table}` cannot be swapped for a copy filled aside while {} depends on it: drop it, {}, and create it again",
                dependents.join(" and "),
                aside.work()
            ),
        )),
    }
}

/// Creates an empty copy of `table` beside it (dropping one a stopped rebuild left):
/// the same columns, constraints, indexes, foreign keys and triggers.
pub(in crate::consumer) async fn copy_table(
    tx: &mut dyn StoreTransaction,
    table: &str,
    name: &str,
    aside: Aside,
) -> Result<(), Error> {
    let copy = rebuild_table(table);
    match tx.sql() {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => copy_sqlite_table(conn, table, &copy, name, aside).await,
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => copy_postgres_table(conn, table, &copy, name, aside).await,
        _ => Err(aside.refused(name, "it needs a SQL store, to build the tables aside")),
    }
}

/// `copy_table` on SQLite: the table's `CREATE TABLE` under the copy's name, then its
/// indexes and triggers.
#[cfg(feature = "sqlite")]
async fn copy_sqlite_table(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    copy: &str,
    name: &str,
    aside: Aside,
) -> Result<(), Error> {
    let fail = |source: sqlx_error::Error| sql_error(name, table, source);
    let drop = format!("DROP TABLE IF EXISTS \"{copy}\"");
    execute!(conn, drop, &fail);
    let sql: Option<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_optional(&mut *conn)
            .await
            .map_err(&fail)?;
    let Some(sql) = sql else {
        return Err(aside.refused(name, &format!("its table `{table}` does not exist")));
    };
    // `CREATE TABLE name (…)`: the same columns and constraints (foreign keys
    // included), another name.
    let columns = sql.find('(').map_or("", |at| &sql[at..]);
    let create = format!("CREATE TABLE \"{copy}\" {columns}");
    execute!(conn, create, &fail);
    // Its indexes and triggers, on the copy, under names of their own until the
    // swap (SQLite's names are the schema's, not the table's).
    for (index, sql) in sqlite_objects(conn, "index", table).await.map_err(&fail)? {
        let create = index_sql(&sql, &rebuild_table(&index), copy);
        execute!(conn, create, &fail);
    }
    for (trigger, sql) in sqlite_objects(conn, "trigger", table)
        .await
        .map_err(&fail)?
    {
        let create = trigger_sql(&sql, &rebuild_table(&trigger), copy)
            .ok_or_else(|| unreadable_trigger(name, table, &trigger, aside))?;
        execute!(conn, create, &fail);
    }
    Ok(())
}

/// `copy_table` on PostgreSQL: `LIKE … INCLUDING ALL`, then the foreign keys and
/// triggers it leaves out.
#[cfg(feature = "postgres")]
async fn copy_postgres_table(
    conn: &mut sqlx::PgConnection,
    table: &str,
    copy: &str,
    name: &str,
    aside: Aside,
) -> Result<(), Error> {
    let fail = |source: sqlx_error::Error| sql_error(name, table, source);
    let drop = format!("DROP TABLE IF EXISTS \"{copy}\"");
    execute!(conn, drop, &fail);
    let create = format!("CREATE TABLE \"{copy}\" (LIKE \"{table}\" INCLUDING ALL)");
    execute!(conn, create, &fail);
    // What `LIKE` leaves out: foreign keys and triggers. Their names are the
    // table's own, so the copy's keep them.
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY conname",
    )
    .bind(format!("\"{table}\""))
    .fetch_all(&mut *conn)
    .await
    .map_err(&fail)?;
    for (key, definition) in keys {
        let add = format!("ALTER TABLE \"{copy}\" ADD CONSTRAINT \"{key}\" {definition}");
        execute!(conn, add, &fail);
    }
    // The definition names the table schema-qualified, or as `regclass` prints it.
    let triggers: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT t.tgname::text, pg_get_triggerdef(t.oid), \
         quote_ident(n.nspname) || '.' || quote_ident(c.relname), $1::regclass::text \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal ORDER BY t.tgname",
    )
    .bind(format!("\"{table}\""))
    .fetch_all(&mut *conn)
    .await
    .map_err(&fail)?;
    for (trigger, definition, qualified, visible) in triggers {
        let on = [qualified, visible]
            .map(|name| format!(" ON {name} "))
            .into_iter()
            .find(|on| definition.contains(on.as_str()))
            .ok_or_else(|| unreadable_trigger(name, table, &trigger, aside))?;
        let create = definition.replacen(&on, &format!(" ON \"{copy}\" "), 1);
        execute!(conn, create, &fail);
    }
    Ok(())
}

/// Replaces `table` by its filled copy.
pub(in crate::consumer) async fn swap_table(
    tx: &mut dyn StoreTransaction,
    table: &str,
    name: &str,
    aside: Aside,
) -> Result<(), Error> {
    let copy = rebuild_table(table);
    let fail = |source: sqlx_error::Error| sql_error(name, table, source);
    let drop = format!("DROP TABLE \"{table}\"");
    let rename = format!("ALTER TABLE \"{copy}\" RENAME TO \"{table}\"");
    match tx.sql() {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => {
            let indexes = sqlite_objects(conn, "index", table).await.map_err(&fail)?;
            let triggers = sqlite_objects(conn, "trigger", table)
                .await
                .map_err(&fail)?;
            for statement in [drop, rename] {
                execute!(conn, statement, &fail);
            }
            // The copy's indexes and triggers take the names of the table's.
            for (index, sql) in indexes {
                let drop = format!("DROP INDEX IF EXISTS \"{}\"", rebuild_table(&index));
                execute!(conn, drop, &fail);
                let create = index_sql(&sql, &index, table);
                execute!(conn, create, &fail);
            }
            for (trigger, sql) in triggers {
                let drop = format!("DROP TRIGGER IF EXISTS \"{}\"", rebuild_table(&trigger));
                execute!(conn, drop, &fail);
                execute!(conn, sql, &fail);
            }
        }
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => {
            // A `serial` column's sequence belongs to the old table, and the copy's
            // default uses it: it goes to the copy before the old table is dropped.
            let owned: Vec<(String, String)> = sqlx::query_as(
                "SELECT s.relname::text, a.attname::text FROM pg_depend d \
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                 WHERE d.refobjid = $1::regclass AND d.deptype = 'a'",
            )
            .bind(format!("\"{table}\""))
            .fetch_all(&mut *conn)
            .await
            .map_err(&fail)?;
            for (sequence, column) in owned {
                let give =
                    format!("ALTER SEQUENCE \"{sequence}\" OWNED BY \"{copy}\".\"{column}\"");
                execute!(conn, give, &fail);
            }
            for statement in [drop, rename] {
                execute!(conn, statement, &fail);
            }
        }
        _ => return Err(aside.refused(name, "it needs a SQL store")),
    }
    Ok(())
}

/// The indexes (created by statements of their own, not a constraint's) or triggers of
/// `table`: name and `CREATE` text.
#[cfg(feature = "sqlite")]
async fn sqlite_objects(
    conn: &mut sqlx::SqliteConnection,
    kind: &str,
    table: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL \
         ORDER BY name",
    )
    .bind(kind)
    .bind(table)
    .fetch_all(conn)
    .await
}

/// `CREATE [UNIQUE] INDEX … ON … (…)` for another index name and table.
#[cfg(feature = "sqlite")]
fn index_sql(sql: &str, index: &str, table: &str) -> String {
    let unique = sql
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("CREATE UNIQUE");
    // What follows the table name, from the first parenthesis: `(columns) [WHERE …]`
    // (an index name is an identifier of the projector's tables, without one).
    let rest = sql.find('(').map_or("", |at| &sql[at..]);
    let unique = if unique { "UNIQUE " } else { "" };
    format!("CREATE {unique}INDEX \"{index}\" ON \"{table}\" {rest}")
}

/// `CREATE [TEMP] TRIGGER [IF NOT EXISTS] name … ON table …` for another trigger name
/// and table; `None` when the text does not read so.
#[cfg(any(feature = "sqlite", test))]
fn trigger_sql(sql: &str, trigger: &str, table: &str) -> Option<String> {
    let upper = sql.to_ascii_uppercase();
    let mut at = word(&upper, "TRIGGER", 0)? + "TRIGGER".len();
    at = skip_space(sql, at);
    if upper[at..].starts_with("IF") {
        at = word(&upper, "EXISTS", at)? + "EXISTS".len();
        at = skip_space(sql, at);
    }
    let name_end = identifier_end(sql, at)?;
    let on = word(&upper, "ON", name_end)? + "ON".len();
    let table_at = skip_space(sql, on);
    let table_end = identifier_end(sql, table_at)?;
    Some(format!(
        "{}\"{trigger}\"{} \"{table}\"{}",
        &sql[..at],
        &sql[name_end..on],
        &sql[table_end..]
    ))
}

/// Where `word` starts in `upper` at or after `from`, standing alone.
#[cfg(any(feature = "sqlite", test))]
fn word(upper: &str, word: &str, from: usize) -> Option<usize> {
    let bytes = upper.as_bytes();
    let alone =
        |i: usize| i >= bytes.len() || !(bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_');
    let mut start = from;
    while let Some(found) = upper[start..].find(word) {
        let at = start + found;
        if (at == 0 || alone(at - 1)) && alone(at + word.len()) {
            return Some(at);
        }
        start = at + word.len();
    }
    None
}

#[cfg(any(feature = "sqlite", test))]
fn skip_space(sql: &str, from: usize) -> usize {
    from + sql[from..].len() - sql[from..].trim_start().len()
}

/// Where the identifier at `from` ends: quoted (`"…"`, `` `…` ``, `[…]`) or bare, and
/// schema-qualified (`main.x`).
#[cfg(any(feature = "sqlite", test))]
fn identifier_end(sql: &str, from: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut at = from;
    loop {
        let close = match bytes.get(at)? {
            b'"' => Some(b'"'),
            b'`' => Some(b'`'),
            b'[' => Some(b']'),
            _ => None,
        };
        at = match close {
            Some(close) => at + 1 + sql[at + 1..].bytes().position(|b| b == close)? + 1,
            None => {
                let len = sql[at..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                if len == 0 {
                    return None;
                }
                at + len
            }
        };
        if bytes.get(at) != Some(&b'.') {
            return Some(at);
        }
        at += 1;
    }
}

/// Whether `sql` names `table` as a whole word (quoted or not).
#[cfg(feature = "sqlite")]
fn names(sql: &str, table: &str) -> bool {
    word(&sql.to_ascii_uppercase(), &table.to_ascii_uppercase(), 0).is_some()
}

fn unreadable_trigger(name: &str, table: &str, trigger: &str, aside: Aside) -> Error {
    aside.refused(
        name,
        &format!(
            "the definition of trigger `{trigger}` on its table `{table}` could not be read to copy it: drop it, {}, and create it again",
            aside.work()
        ),
    )
}

/// `sqlx`'s error, where a SQL store is built in.
mod sqlx_error {
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(super) type Error = sqlx::Error;
    #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
    pub(super) type Error = std::convert::Infallible;
}

fn sql_error(name: &str, table: &str, source: sqlx_error::Error) -> Error {
    let source = StoreError::Backend(format!("table `{table}`: {source}").into());
    consumer_store_error(name, "building its tables aside")(source)
}

#[cfg(test)]
mod tests {
    use super::trigger_sql;

    #[test]
    fn a_trigger_is_written_again_for_another_name_and_table() {
        let sql = "CREATE TRIGGER counts_logged AFTER UPDATE ON note_counts BEGIN INSERT INTO log VALUES (NEW.posts); END";
        assert_eq!(
            trigger_sql(sql, "x", "copy").unwrap(),
            "CREATE TRIGGER \"x\" AFTER UPDATE ON \"copy\" BEGIN INSERT INTO log VALUES (NEW.posts); END"
        );
        let quoted = "create temp trigger if not exists \"t on\" before delete on main.\"note counts\" begin select 1; end";
        assert_eq!(
            trigger_sql(quoted, "x", "copy").unwrap(),
            "create temp trigger if not exists \"x\" before delete on \"copy\" begin select 1; end"
        );
        assert_eq!(trigger_sql("CREATE TRIGGER", "x", "copy"), None);
    }
}
