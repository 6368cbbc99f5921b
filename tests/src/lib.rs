//! Herald's behaviour, tested through its public API. The tests are in `tests/`, a binary
//! per suite, named after it (`tests/consumers.rs` is the consumers suite); this library
//! holds what several of them share: a fresh store of each backend per test, the domains
//! and faulty stores the suites run on, and [`on_every_backend`], which runs a case on
//! every backend.

pub mod backends;
pub mod calls;
pub mod channels;
pub mod domain;
pub mod events;
pub mod faults;
pub mod http;
pub mod ops;
pub mod process;
pub mod spans;
pub mod users;

/// Runs a case on every backend: on `async fn case(test: &TestStore)`, keeps the function
/// and adds beside it a module of its name holding a `#[tokio::test]` per backend
/// (`case::memory`, `case::sqlite`, `case::postgres`), each on a fresh
/// [`TestStore`](backends::TestStore). A case is written once, where it is defined, and
/// so cannot be left out of a list; one that needs another store (`sqlite::memory:`, a
/// second PostgreSQL store) is a `#[tokio::test]` of its own that calls it.
///
/// ```no_run
/// use herald_tests::backends::TestStore;
/// use herald_tests::on_every_backend;
///
/// /// A new store reads no event.
/// #[on_every_backend]
/// async fn a_new_store_is_empty(test: &TestStore) {
///     let events = test.store.read_all(herald::store::Position::START, 10).await.unwrap();
///     assert!(events.is_empty());
/// }
///
/// // In `tests/<suite>.rs` this is all; the three tests run with `cargo nextest run`:
/// // `a_new_store_is_empty::memory`, `…::sqlite`, `…::postgres`.
/// # fn main() {}
/// ```
pub use herald_tests_macros::on_every_backend;
