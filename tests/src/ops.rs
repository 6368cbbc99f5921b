//! A small application for the CLI's tests: tills that take payments, an eventual
//! projector `till_totals` with a declared table (so that it can be rebuilt), and the
//! ways to make it fail that an operator has to deal with.
//!
//! - a payment of [`POISON`] fails in the projector unless `HERALD_OPS_HEALED` is set
//!   (parked as a dead letter, then retried once the "fix" is deployed);
//! - `HERALD_OPS_FAIL_AT=N` makes the projector fail on the payment of amount `N`
//!   (a failure in the middle of a rebuild).

use std::time::Duration;

use herald::prelude::*;
use herald::{Herald, HeraldBuilder, RetryPolicy};

/// A payment amount the projector refuses until it is healed.
pub const POISON: u64 = 666;

/// A till took a payment.
#[event("till.:till_id.paid")]
pub struct Paid {
    /// The till.
    pub till_id: u64,
    /// How much.
    pub amount: u64,
}

/// Pays at a till.
#[command("pay.:till_id")]
pub struct Pay {
    /// The till.
    pub till_id: u64,
    /// How much.
    pub amount: u64,
}

/// A till: what it took.
#[aggregate(name = "till")]
#[derive(Default)]
pub struct Till {
    total: u64,
}

#[aggregate]
impl Till {
    #[handle]
    fn pay(&self, cmd: &Pay) -> Result<Paid, String> {
        Ok(Paid {
            till_id: cmd.till_id,
            amount: cmd.amount,
        })
    }

    #[apply]
    fn paid(&mut self, e: &Paid) {
        self.total += e.amount;
    }
}

/// The projector's failure.
#[derive(Debug, thiserror::Error)]
#[error("payment of {0} refused by the projector")]
pub struct Refused(u64);

#[projector("till.:till_id.paid", consistency = eventual, tables = ["till_totals"])]
async fn till_totals(e: &Recorded<Paid>, cx: &mut Cx<'_>) -> Result<(), herald::BoxError> {
    let healed = std::env::var_os("HERALD_OPS_HEALED").is_some();
    let fail_at = std::env::var("HERALD_OPS_FAIL_AT")
        .ok()
        .and_then(|n| n.parse().ok());
    if (e.amount == POISON && !healed) || fail_at == Some(e.amount) {
        return Err(Refused(e.amount).into());
    }
    let table = cx.table("till_totals");
    let upsert = format!(
        "INSERT INTO {table} (till_id, total) VALUES ($1, $2) \
         ON CONFLICT (till_id) DO UPDATE SET total = {table}.total + $2"
    );
    herald::sql!(cx.sql(), |conn| {
        herald::sqlx::query(herald::sqlx::AssertSqlSafe(upsert.as_str()))
            .bind(e.till_id as i64)
            .bind(e.amount as i64)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
    })
    .transpose()?;
    Ok(())
}

/// The application's runtime on the store at `url`, with quick retries.
pub fn builder(url: &str) -> HeraldBuilder {
    Herald::builder()
        .modules([module_path!()])
        .url(url)
        .consumer_retry(RetryPolicy::new(2).base(Duration::from_millis(1)))
}

/// Creates the projector's table.
pub async fn create_tables(herald: &Herald) -> Result<(), herald::BoxError> {
    let mut tx = herald.begin().await?;
    herald::sql!(tx.sql(), |conn| {
        herald::sqlx::query(
            "CREATE TABLE IF NOT EXISTS till_totals (till_id BIGINT PRIMARY KEY, total BIGINT NOT NULL)",
        )
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
    })
    .transpose()?;
    tx.commit().await?;
    Ok(())
}

/// Links this module's registrations into a binary that names nothing else of it.
pub fn link() {}
