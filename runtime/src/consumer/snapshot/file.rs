//! The snapshot file: JSON lines. The first line is the header (the format and its
//! version, the projector's name, version and partitions, the store's kind, the
//! checkpoints, the tables' columns and row counts, the dead letters); then a line per row,
//! `{"table":"…","row":{…}}`, the tables one after the other in the header's order;
//! last, `{"end":{"rows":N,"sha256":"…"}}`, the count of rows and the SHA-256 of every
//! byte before that line, so that a file cut short or changed is never restored.
//!
//! It is written under a temporary name beside the path and renamed once whole.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::outcome::error::{Error, ErrorKind, SnapshotMismatch};
use crate::store::{DeadLetter, Position};

/// What the file says it is, in its first line.
pub(super) const FORMAT: &str = "herald-read-model-snapshot";
/// The version of the format this Herald writes and reads.
pub(super) const FORMAT_VERSION: u32 = 1;

/// A column of a table, as the database describes it: what a restore checks the table
/// still has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Column {
    pub(super) name: String,
    /// The declared type (SQLite: as written; PostgreSQL: `format_type`).
    #[serde(rename = "type")]
    pub(super) sql_type: String,
    pub(super) not_null: bool,
    /// Its place in the primary key, from 1; 0 when it is not in it.
    pub(super) primary_key: u32,
    /// A generated column: its values are not kept, the database computes them.
    pub(super) generated: bool,
}

/// A table in the header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Table {
    pub(super) name: String,
    pub(super) columns: Vec<Column>,
    /// How many rows follow for it.
    pub(super) rows: u64,
}

/// A checkpoint in the header: the consumer's, or a partition's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct At {
    pub(super) key: String,
    /// As the CLI and the HTTP door write positions (`v1.<tx>.<seq>`).
    pub(super) position: String,
}

/// The first line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) format: String,
    pub(super) format_version: u32,
    pub(super) projector: String,
    pub(super) projector_version: u32,
    pub(super) partitions: u32,
    pub(super) store: String,
    /// RFC 3339, for people.
    pub(super) taken_at: String,
    pub(super) checkpoints: Vec<At>,
    pub(super) tables: Vec<Table>,
    pub(super) dead_letters: Vec<DeadLetter>,
}

impl Header {
    /// Each checkpoint's key and position.
    pub(super) fn positions(&self, file: &Path) -> Result<Vec<(String, Position)>, Error> {
        self.checkpoints
            .iter()
            .map(|at| match Position::from_wire(&at.position) {
                Some(position) => Ok((at.key.clone(), position)),
                None => Err(corrupt(
                    file,
                    format!(
                        "checkpoint `{}` is at `{}`, not a position",
                        at.key, at.position
                    ),
                )),
            })
            .collect()
    }
}

/// Only the format, read first: a file of another version may not have the rest.
#[derive(Deserialize)]
struct Format {
    format: String,
    format_version: u32,
}

/// A row line, read.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    table: &'a str,
    #[serde(borrow)]
    row: &'a RawValue,
}

#[derive(Serialize, Deserialize)]
struct End {
    rows: u64,
    sha256: String,
}

/// A row line, to write.
#[derive(Serialize)]
struct RowLine<'a> {
    table: &'a str,
    row: &'a RawValue,
}

#[derive(Serialize, Deserialize)]
struct EndLine {
    end: End,
}

/// A snapshot being written: to a temporary file until [`finish`](Self::finish) renames it.
pub(super) struct Writer {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    rows: u64,
    bytes: u64,
}

impl Writer {
    /// Starts the file at `path` with its header.
    pub(super) fn create(path: &Path, header: &Header) -> Result<Writer, Error> {
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|e| io(path, "creating it", e))?;
        let mut writer = Writer {
            path: path.to_owned(),
            partial,
            out: BufWriter::new(file),
            hash: Sha256::new(),
            rows: 0,
            bytes: 0,
        };
        let line = serde_json::to_string(header).map_err(|e| corrupt(path, e.to_string()))?;
        writer.line(&line)?;
        Ok(writer)
    }

    /// A row of `table`: the JSON object the database gave for it.
    pub(super) fn row(&mut self, table: &str, row: &str) -> Result<(), Error> {
        let row = RawValue::from_string(row.to_owned())
            .map_err(|e| corrupt(&self.path, format!("a row of `{table}` is not JSON: {e}")))?;
        let line = serde_json::to_string(&RowLine { table, row: &row })
            .map_err(|e| corrupt(&self.path, e.to_string()))?;
        self.rows += 1;
        self.line(&line)
    }

    fn line(&mut self, line: &str) -> Result<(), Error> {
        self.hash.update(line.as_bytes());
        self.hash.update(b"\n");
        self.bytes += line.len() as u64 + 1;
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        written.map_err(|e| io(&self.path, "writing it", e))
    }

    /// Writes the end line, makes the file durable and gives it its name; the rows
    /// written and the file's size.
    pub(super) fn finish(mut self) -> Result<(u64, u64), Error> {
        let end = EndLine {
            end: End {
                rows: self.rows,
                sha256: hex(&self.hash.clone().finalize()),
            },
        };
        let line = serde_json::to_string(&end).map_err(|e| corrupt(&self.path, e.to_string()))?;
        self.line(&line)?;
        let path = self.path.clone();
        let file = self
            .out
            .into_inner()
            .map_err(|e| io(&path, "writing it", e.into_error()))?;
        file.sync_all().map_err(|e| io(&path, "syncing it", e))?;
        drop(file);
        std::fs::rename(&self.partial, &self.path).map_err(|e| io(&path, "naming it", e))?;
        Ok((self.rows, self.bytes))
    }

    /// Removes the partial file of a snapshot that failed.
    pub(super) fn abandon(self) {
        let partial = self.partial.clone();
        drop(self.out);
        let _ = std::fs::remove_file(partial);
    }
}

/// `app.snapshot` → `app.snapshot.partial`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// A snapshot being read: its header, then its rows.
pub(super) struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    hash: Sha256,
    line: String,
    rows: u64,
    ended: bool,
}

/// A row read: its table and its JSON object, as written.
pub(super) struct Row<'a> {
    pub(super) table: &'a str,
    pub(super) json: &'a str,
}

impl Reader {
    /// Opens the file and reads its header, refusing another format or version.
    pub(super) fn open(path: &Path, consumer: &str) -> Result<(Reader, Header), Error> {
        let file = File::open(path).map_err(|e| io(path, "opening it", e))?;
        let mut reader = Reader {
            path: path.to_owned(),
            input: BufReader::new(file),
            hash: Sha256::new(),
            line: String::new(),
            rows: 0,
            ended: false,
        };
        if !reader.next_line()? {
            return Err(corrupt(path, "it is empty".into()));
        }
        let not_one = || corrupt(path, "it is not a Herald read-model snapshot".into());
        let format: Format = serde_json::from_str(&reader.line).map_err(|_| not_one())?;
        if format.format != FORMAT {
            return Err(not_one());
        }
        if format.format_version != FORMAT_VERSION {
            return Err(mismatch(
                consumer,
                path,
                SnapshotMismatch::Format {
                    found: format.format_version,
                    supported: FORMAT_VERSION,
                },
            ));
        }
        let header: Header = serde_json::from_str(&reader.line)
            .map_err(|e| corrupt(path, format!("its header cannot be read: {e}")))?;
        Ok((reader, header))
    }

    /// Reads the next line into `self.line` (without its newline), hashing what comes
    /// before the end line; whether there was one.
    fn next_line(&mut self) -> Result<bool, Error> {
        self.line.clear();
        let read = self
            .input
            .read_line(&mut self.line)
            .map_err(|e| io(&self.path, "reading it", e))?;
        if read == 0 {
            return Ok(false);
        }
        if !self.line.ends_with('\n') {
            return Err(corrupt(&self.path, "it is cut short".into()));
        }
        // Hashed unless it is the end line, checked once read.
        if !self.line.starts_with("{\"end\":") {
            self.hash.update(self.line.as_bytes());
        }
        self.line.pop();
        Ok(true)
    }

    /// The next row, or `None` after the last, once the end line is read and checked:
    /// the count of rows and the hash of everything before it.
    pub(super) fn next_row(&mut self) -> Result<Option<Row<'_>>, Error> {
        if self.ended {
            return Ok(None);
        }
        if !self.next_line()? {
            return Err(corrupt(&self.path, "it is cut short: it has no end".into()));
        }
        if self.line.starts_with("{\"end\":") {
            let EndLine { end } = serde_json::from_str(&self.line)
                .map_err(|e| corrupt(&self.path, format!("its end cannot be read: {e}")))?;
            let sha256 = hex(&self.hash.clone().finalize());
            if end.rows != self.rows || end.sha256 != sha256 {
                return Err(corrupt(
                    &self.path,
                    format!(
                        "it was changed or cut short: its end says {} rows and hash {}, and it holds {} rows with hash {sha256}",
                        end.rows, end.sha256, self.rows
                    ),
                ));
            }
            if self.next_line()? {
                return Err(corrupt(&self.path, "it goes on after its end".into()));
            }
            self.ended = true;
            return Ok(None);
        }
        self.rows += 1;
        let number = self.rows + 1;
        let line: Line<'_> = serde_json::from_str(&self.line)
            .map_err(|e| corrupt(&self.path, format!("line {number} cannot be read: {e}")))?;
        Ok(Some(Row {
            table: line.table,
            json: line.row.get(),
        }))
    }
}

/// When a snapshot was taken, for the header.
pub(super) fn now() -> String {
    crate::base::time::rfc3339(SystemTime::now())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(path: &Path, doing: &str, error: std::io::Error) -> Error {
    ErrorKind::SnapshotFile {
        file: path.to_owned(),
        problem: format!("{doing}: {error}"),
    }
    .into()
}

/// A file that is not a whole snapshot.
pub(super) fn corrupt(path: &Path, problem: String) -> Error {
    ErrorKind::SnapshotFile {
        file: path.to_owned(),
        problem,
    }
    .into()
}

/// A snapshot that does not fit.
pub(super) fn mismatch(consumer: &str, path: &Path, mismatch: SnapshotMismatch) -> Error {
    ErrorKind::SnapshotMismatch {
        consumer: consumer.to_owned(),
        file: path.to_owned(),
        mismatch,
    }
    .into()
}
