//! A projector's tables as a snapshot keeps them, on each SQL store: their columns, and
//! their rows as JSON objects keyed by column, read out in a read transaction and
//! written back into the copies a restore fills aside.
//!
//! On PostgreSQL the database writes and reads the JSON (`to_jsonb`,
//! `jsonb_populate_recordset`), so every type comes back as it was (numbers exactly,
//! `bytea` as its hex text). On SQLite each value keeps its storage class: an integer, a
//! real (written as the shortest text that reads back to the same bits), a text, a blob
//! (`{"blob":"<hex>"}`), or null.

// Without a SQL store built in, a snapshot can only refuse.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(unused))]

use super::file::Column;
use crate::store::{Sql, StoreError};

/// What can go wrong here: the database's error, or a row that does not fit.
#[derive(Debug)]
pub(super) enum RowError {
    Store(StoreError),
    /// A row of the file cannot be written into the table: why (SQLite's rows are
    /// checked here; PostgreSQL checks its own).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Row(String),
}

impl From<StoreError> for RowError {
    fn from(error: StoreError) -> Self {
        RowError::Store(error)
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for RowError {
    fn from(error: sqlx::Error) -> Self {
        RowError::Store(crate::store::backend(error))
    }
}

/// `"name"`, for SQL: the projectors' table names are plain identifiers (checked by the
/// macro), and a column's is quoted with its quotes doubled.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of `table`, in order; `None` when it does not exist.
pub(super) async fn columns(sql: Sql<'_>, table: &str) -> Result<Option<Vec<Column>>, RowError> {
    let columns: Vec<Column> = match sql {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => {
            let rows: Vec<(String, String, bool, i64, i64)> = sqlx::query_as(
                "SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid",
            )
            .bind(table)
            .fetch_all(conn)
            .await?;
            rows.into_iter()
                .map(|(name, sql_type, not_null, pk, hidden)| Column {
                    name,
                    sql_type,
                    not_null,
                    primary_key: pk as u32,
                    // 2: generated and virtual; 3: generated and stored.
                    generated: hidden >= 2,
                })
                .collect()
        }
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => {
            let rows: Vec<(String, String, bool, i32, bool)> = sqlx::query_as(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                 COALESCE(array_position(i.indkey::int2[], a.attnum), 0)::int4, a.attgenerated <> '' \
                 FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
            )
            .bind(quoted(table))
            .fetch_all(conn)
            .await?;
            rows.into_iter()
                .map(|(name, sql_type, not_null, pk, generated)| Column {
                    name,
                    sql_type,
                    not_null,
                    primary_key: pk as u32,
                    generated,
                })
                .collect()
        }
        _ => return Err(RowError::Store(StoreError::Unsupported("no SQL".into()))),
    };
    Ok((!columns.is_empty()).then_some(columns))
}

/// How many rows `table` has.
pub(super) async fn count(sql: Sql<'_>, table: &str) -> Result<u64, RowError> {
    let select = format!("SELECT COUNT(*) FROM {}", quoted(table));
    let count: i64 = match sql {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(select))
                .fetch_one(conn)
                .await?
        }
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(select))
                .fetch_one(conn)
                .await?
        }
        _ => 0,
    };
    Ok(count as u64)
}

/// Reads every row of `table` (its `columns`), each as a JSON object handed to `row`,
/// streaming: no more than one row is held at a time.
pub(super) async fn each_row(
    sql: Sql<'_>,
    table: &str,
    columns: &[Column],
    mut row: impl FnMut(&str) -> Result<(), crate::Error>,
) -> Result<Result<(), crate::Error>, RowError> {
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    use futures_util::TryStreamExt;
    match sql {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => {
            let kept: Vec<&Column> = columns.iter().filter(|c| !c.generated).collect();
            let list: Vec<String> = kept.iter().map(|c| quoted(&c.name)).collect();
            let select = format!("SELECT {} FROM {}", list.join(", "), quoted(table));
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(conn);
            while let Some(found) = rows.try_next().await? {
                let json = sqlite_json(&found, &kept)?;
                if let Err(error) = row(&json) {
                    return Ok(Err(error));
                }
            }
        }
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => {
            // The database turns every column into JSON: `columns` is SQLite's list.
            let _ = columns;
            let select = format!("SELECT to_jsonb(t)::text FROM {} AS t", quoted(table));
            let mut rows = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(select)).fetch(conn);
            while let Some(json) = rows.try_next().await? {
                if let Err(error) = row(&json) {
                    return Ok(Err(error));
                }
            }
        }
        _ => {}
    }
    Ok(Ok(()))
}

/// A SQLite row as a JSON object: each value by its storage class.
#[cfg(feature = "sqlite")]
fn sqlite_json(row: &sqlx::sqlite::SqliteRow, columns: &[&Column]) -> Result<String, RowError> {
    use serde_json::{Map, Value};
    use sqlx::{Row, TypeInfo, ValueRef};
    let mut object = Map::new();
    for (index, column) in columns.iter().enumerate() {
        let raw = row.try_get_raw(index)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(index)?),
                "REAL" => {
                    let real = row.try_get_unchecked::<f64, _>(index)?;
                    match serde_json::Number::from_f64(real) {
                        Some(number) => Value::Number(number),
                        // SQLite has no NaN (it stores NULL), but it has infinities.
                        None => serde_json::json!({ "real": real.to_string() }),
                    }
                }
                "TEXT" => Value::from(row.try_get_unchecked::<String, _>(index)?),
                _ => {
                    let blob = row.try_get_unchecked::<Vec<u8>, _>(index)?;
                    serde_json::json!({ "blob": hex(&blob) })
                }
            }
        };
        object.insert(column.name.clone(), value);
    }
    serde_json::to_string(&object).map_err(|e| RowError::Row(e.to_string()))
}

/// The most rows one `INSERT` writes.
const ROWS_PER_INSERT: usize = 200;

/// Writes `rows` (JSON objects as [`each_row`] gave them) into `table`'s copy `into`,
/// `columns` being the table's.
pub(super) async fn insert(
    sql: Sql<'_>,
    into: &str,
    columns: &[Column],
    rows: &[String],
) -> Result<(), RowError> {
    let kept: Vec<&Column> = columns.iter().filter(|c| !c.generated).collect();
    if rows.is_empty() || kept.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = kept.iter().map(|c| quoted(&c.name)).collect();
    let list = list.join(", ");
    match sql {
        #[cfg(feature = "sqlite")]
        Sql::Sqlite(conn) => {
            // SQLite binds at most 32,766 values a statement (999 before 3.32).
            let per = (999 / kept.len()).clamp(1, ROWS_PER_INSERT);
            for chunk in rows.chunks(per) {
                let one = format!("({})", vec!["?"; kept.len()].join(", "));
                let values = vec![one; chunk.len()].join(", ");
                let insert = format!("INSERT INTO {} ({list}) VALUES {values}", quoted(into));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
                for json in chunk {
                    let object: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(json).map_err(|e| {
                            RowError::Row(format!("a row is not a JSON object: {e}"))
                        })?;
                    for column in &kept {
                        query = bind_sqlite(query, object.get(&column.name), &column.name)?;
                    }
                }
                query.execute(&mut *conn).await?;
            }
        }
        #[cfg(feature = "postgres")]
        Sql::Postgres(conn) => {
            // `OVERRIDING SYSTEM VALUE`: an identity column takes the value kept.
            let insert = format!(
                "INSERT INTO {into} ({list}) OVERRIDING SYSTEM VALUE \
                 SELECT {list} FROM jsonb_populate_recordset(NULL::{into}, $1::jsonb)",
                into = quoted(into)
            );
            for chunk in rows.chunks(ROWS_PER_INSERT * 5) {
                let array = format!("[{}]", chunk.join(","));
                sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
                    .bind(array)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        _ => return Err(RowError::Store(StoreError::Unsupported("no SQL".into()))),
    }
    Ok(())
}

/// Binds a SQLite value as [`sqlite_json`] wrote it.
#[cfg(feature = "sqlite")]
fn bind_sqlite<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    value: Option<&serde_json::Value>,
    column: &str,
) -> Result<sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>, RowError> {
    use serde_json::Value;
    let bad = |what: &str| {
        RowError::Row(format!(
            "column `{column}` holds {what}, which SQLite does not"
        ))
    };
    Ok(match value {
        None | Some(Value::Null) => query.bind(None::<i64>),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => query.bind(i),
            (_, Some(f)) => query.bind(f),
            _ => return Err(bad("a number beyond 64 bits")),
        },
        Some(Value::String(text)) => query.bind(text.clone()),
        Some(Value::Object(object)) => match (object.get("blob"), object.get("real")) {
            (Some(Value::String(hex)), None) => {
                query.bind(unhex(hex).ok_or_else(|| bad("a blob that is not hex"))?)
            }
            (None, Some(Value::String(real))) => query.bind(
                real.parse::<f64>()
                    .map_err(|_| bad("a real that is not one"))?,
            ),
            _ => return Err(bad("an object")),
        },
        Some(Value::Bool(b)) => query.bind(i64::from(*b)),
        Some(Value::Array(_)) => return Err(bad("an array")),
    })
}

#[cfg(feature = "sqlite")]
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "sqlite")]
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::{hex, unhex};

    #[test]
    fn blobs_go_to_hex_and_back() {
        let bytes = [0u8, 1, 0x7f, 0xff];
        assert_eq!(hex(&bytes), "00017fff");
        assert_eq!(unhex("00017fff").unwrap(), bytes);
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
