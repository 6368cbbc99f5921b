//! Archiving, on the in-memory store, a SQLite file and PostgreSQL, each archived into a
//! SQLite file; and a PostgreSQL database as the archive.

use herald_tests::archive_suite as cases;
use herald_tests::backends::{TestArchive, TestStore};

/// The cases, each with a fresh SQLite file as the archive.
mod into_sqlite {
    use super::*;

    pub(crate) async fn archived_events_stay_readable_after_they_are_discarded(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        cases::archived_events_stay_readable_after_they_are_discarded(test, &archive.archive).await;
    }

    pub(crate) async fn archiving_waits_for_every_consumer(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        cases::archiving_waits_for_every_consumer(test, &archive.archive).await;
    }

    pub(crate) async fn an_event_parked_while_replaying_the_archive_is_retried_from_it(
        test: &TestStore,
    ) {
        let archive = TestArchive::sqlite().await;
        let archive = &archive.archive;
        cases::an_event_parked_while_replaying_the_archive_is_retried_from_it(test, archive).await;
    }

    pub(crate) async fn only_what_every_consumer_passed_is_discarded(test: &TestStore) {
        let archive = TestArchive::sqlite().await;
        cases::only_what_every_consumer_passed_is_discarded(test, &archive.archive).await;
    }

    pub(crate) async fn discarding_goes_page_by_page(test: &TestStore) {
        cases::discarding_goes_page_by_page(test).await;
    }

    pub(crate) async fn archiving_without_an_archive_says_so(test: &TestStore) {
        cases::archiving_without_an_archive_says_so(test).await;
    }
}

herald_tests::on_every_backend!(crate::into_sqlite;
    archived_events_stay_readable_after_they_are_discarded,
    archiving_waits_for_every_consumer,
    an_event_parked_while_replaying_the_archive_is_retried_from_it,
    only_what_every_consumer_passed_is_discarded,
    discarding_goes_page_by_page,
    archiving_without_an_archive_says_so,
);

/// A SQLite store archived into a PostgreSQL database.
mod into_postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn archived_events_stay_readable_after_they_are_discarded() {
        let (test, archive) = (TestStore::sqlite().await, TestArchive::postgres().await);
        cases::archived_events_stay_readable_after_they_are_discarded(&test, &archive.archive)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn archiving_waits_for_every_consumer() {
        let (test, archive) = (TestStore::postgres().await, TestArchive::postgres().await);
        cases::archiving_waits_for_every_consumer(&test, &archive.archive).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_archive_refuses_a_second_store() {
        let (first, second) = (TestStore::sqlite().await, TestStore::sqlite().await);
        let archive = TestArchive::postgres().await;
        cases::an_archive_refuses_a_second_store(&first, &second, &archive.archive).await;
    }
}

/// Two stores whose positions start alike, one SQLite archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_refuses_a_second_store() {
    let (first, second) = (TestStore::memory(), TestStore::sqlite().await);
    let archive = TestArchive::sqlite().await;
    cases::an_archive_refuses_a_second_store(&first, &second, &archive.archive).await;
}
