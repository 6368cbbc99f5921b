//! The recent commands of a tenant, newest first, filtered by route pattern and by
//! failure, a page at a time over the store's commands (every tenant's: a page looks at a
//! bounded number of them, so it may come back short while more come further on).

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::engine::dispatch::CommandResult;
use crate::facade::runtime::Herald;
use crate::http::wire;
use crate::outcome::error::{Error, ErrorKind};
use crate::route::Pattern;
use crate::store::{ListedCommand, StoreError};

/// How many of the store's commands one page looks at, at most.
pub(crate) const SCAN: usize = 2_000;

/// How many rows are read from the store at a time.
const BATCH: usize = 250;

/// What the caller asked for.
pub(crate) struct Asked<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) patterns: &'a [Pattern],
    pub(crate) failed_only: bool,
    pub(crate) before: Option<Uuid>,
    pub(crate) limit: usize,
    /// Whether the caller may see how long each took (the trace role).
    pub(crate) timed: bool,
}

fn store_error(source: StoreError) -> Error {
    ErrorKind::Store {
        context: "listing the recent commands".into(),
        source,
    }
    .into()
}

/// A page of the tenant's recent commands: `{"commands": […], "next": id | null}`.
pub(crate) async fn page(herald: &Herald, asked: Asked<'_>) -> Result<Value, Error> {
    let store = herald.store();
    let parked = parked_by_command(herald, asked.tenant).await?;
    let mut listed = Vec::new();
    let mut before = asked.before;
    let mut looked = 0;
    // Whether the store has no more commands past the last one looked at.
    let mut exhausted = false;
    'scan: while listed.len() < asked.limit && looked < SCAN {
        let want = BATCH.min(SCAN - looked);
        let rows = store
            .recent_commands(before, want)
            .await
            .map_err(store_error)?;
        let got = rows.len();
        for (index, row) in rows.into_iter().enumerate() {
            looked += 1;
            before = Some(row.id);
            let last = index + 1 == got && got < want;
            if let Some(entry) = entry(&asked, &parked, row) {
                listed.push(entry);
                if listed.len() == asked.limit {
                    exhausted = last;
                    break 'scan;
                }
            }
        }
        if got < want {
            exhausted = true;
            break;
        }
    }
    let next = match exhausted {
        true => Value::Null,
        false => before.map_or(Value::Null, |id| json!(id)),
    };
    Ok(json!({ "commands": listed, "next": next }))
}

/// The entry of a listed command, when it is the caller's tenant's and what was asked.
fn entry(asked: &Asked<'_>, parked: &HashMap<Uuid, usize>, row: ListedCommand) -> Option<Value> {
    let result = CommandResult::read(row.result)?;
    let matches =
        asked.patterns.is_empty() || asked.patterns.iter().any(|p| p.matches(&result.route));
    if result.stream.tenant() != asked.tenant || !matches {
        return None;
    }
    let parked = parked.get(&row.id).copied().unwrap_or(0);
    // A step that did not end well in a command that committed: a conflict it ran
    // again after, a saga step's failed try.
    let troubled = result.trace.nodes().any(|n| !n.outcome.is_ok());
    let failed = parked > 0 || troubled;
    if asked.failed_only && !failed {
        return None;
    }
    let mut entry = json!({
        "command_id": row.id,
        "route": result.route,
        "correlation_id": result.correlation_id,
        "command": result.trace.root().handler,
        "recorded_at": wire::rfc3339(row.recorded_at),
        "started_at": result.started_at().map(wire::rfc3339),
        "events": result.event_count(),
        "failed": failed,
        "parked": parked,
    });
    if asked.timed {
        let took = result.trace.root().duration.as_micros();
        entry["took_us"] = json!(u64::try_from(took).unwrap_or(u64::MAX));
    }
    Some(entry)
}

/// How many events each command of `tenant` has parked with the eventual consumers:
/// from the dead letters (few, where the handlers work), by the command id their events
/// carry.
async fn parked_by_command(herald: &Herald, tenant: &str) -> Result<HashMap<Uuid, usize>, Error> {
    let log = herald.store().consumers();
    let mut parked = HashMap::new();
    for handler in herald.registry().eventual_handlers() {
        let letters = log
            .dead_letters(handler.name())
            .await
            .map_err(store_error)?;
        for letter in letters.iter().filter(|l| l.stream.tenant() == tenant) {
            let command = match &letter.event {
                Some(event) => Some(event.metadata.command_id),
                // A letter of an older Herald keeps no event: read it.
                None => (log.event(letter.event_id).await.map_err(store_error)?)
                    .map(|e| e.metadata.command_id),
            };
            if let Some(command) = command {
                *parked.entry(command).or_insert(0) += 1;
            }
        }
    }
    Ok(parked)
}
