//! Herald's route grammar: dotted routes, the templates commands and events render them
//! from, the patterns handlers subscribe with, and [`RouteTable`], the index that finds
//! every handler of a route without scanning them all.
//!
//! | segment | matches | captured as |
//! |---|---|---|
//! | `name` (ASCII letters, digits, `_`, `-`) | that segment, exactly (case-sensitive) | — |
//! | `:name` | exactly one non-empty segment | `name` |
//! | `:name?` | zero or one segment | `name` (absent when zero) |
//! | `*` | one or more whole segments | the wildcard captures, in order |
//!
//! Templates (command and event routes) hold only literals and `:name`. A concrete route's
//! segments are any non-empty text without `.`, `*`, `:`, `>`, whitespace or control
//! characters. A route has at most 32 segments and 1,024 bytes; a parameter name is an
//! (ASCII) Rust identifier and appears once. Matching is anchored at both ends; when a
//! route can be split over a pattern in several ways, earlier elements take as much as
//! they can.
//!
//! ```
//! use herald_route::Pattern;
//! let crud = Pattern::parse("test.:crud")?;
//! assert!(crud.matches("test.created") && crud.matches("test.anything"));
//! assert!(!crud.matches("test.1.created"));
//! let any = Pattern::parse("*.test")?;
//! assert!(any.matches("create.test") && any.matches("create.1234.test"));
//! assert!(!Pattern::parse("test.created")?.matches("Test.created"));
//! # Ok::<(), herald_route::RouteError>(())
//! ```
//!
//! The grammar and the matcher are `const fn`s ([`can_match`], [`assert_can_match`],
//! [`Template::new`]), so Herald's macros check routes when your crate compiles, with the
//! same code the runtime uses.

mod error;
mod grammar;
mod matcher;
mod route;
mod table;

pub use error::{ErrorKind, RouteError, Syntax};
pub use grammar::{MAX_LEN, MAX_SEGMENTS, SegmentKind};
pub use matcher::{assert_can_match, can_match};
pub use route::{Captures, Pattern, Route, Template};
pub use table::RouteTable;
