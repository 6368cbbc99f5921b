//! Runnable Herald applications, one scenario each. Each lives in its own module, and its
//! binary in `src/bin/` builds a runtime from that module only
//! (`Herald::builder().modules([…])`), so the applications share this crate without
//! running each other's handlers.

#![allow(
    missing_docs,
    reason = "the examples' domain types are explained by their modules' docs"
)]

pub mod bank;
pub mod calculator;
pub mod signup;
pub mod signup_http;

/// The store an example runs on: `--url <url>`, else the `HERALD_URL` variable, else
/// `default` (a SQLite file). `postgres://…` runs it on PostgreSQL.
pub fn store_url(default: &str) -> String {
    let mut args = std::env::args().skip_while(|a| a != "--url").skip(1);
    args.next()
        .or_else(|| std::env::var("HERALD_URL").ok())
        .unwrap_or_else(|| default.to_owned())
}
