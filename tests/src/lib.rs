//! Herald's behaviour, tested through its public API. The tests are in `tests/`; this
//! library holds what several of them share: a fresh store of each backend per test, and
//! the suites written once and run on every backend.

pub mod archive_suite;
pub mod backends;
pub mod calls;
pub mod commit_faults_suite;
pub mod conformance;
pub mod consumers_suite;
pub mod dispatch_suite;
pub mod domain;
pub mod faults;
pub mod handlers_suite;
pub mod late_sagas_suite;
pub mod panics_suite;
pub mod partitions_suite;
pub mod process;
pub mod users;
