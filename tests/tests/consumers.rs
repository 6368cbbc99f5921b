//! Eventual consumers, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::consumers_suite;
    eventual_projectors_catch_up_after_the_commit,
    a_failing_event_is_tried_again_until_it_succeeds,
    a_parked_event_holds_back_its_stream_until_retried,
    skipping_a_parked_event_releases_the_ones_behind_it,
    an_eventual_processor_dispatches_its_command_once,
    a_stopped_runtime_resumes_from_its_checkpoints,
    a_commit_elsewhere_wakes_the_workers,
    an_event_committed_late_is_not_skipped,
    a_failure_mid_batch_keeps_the_events_before_it_once,
    a_live_subscriber_sees_new_events_and_is_told_what_it_skipped,
    a_rebuild_fills_the_tables_aside_then_swaps_them_in,
    a_reset_consumer_runs_again_from_there,
    a_failing_event_after_others_not_its_own_is_parked,
    a_failing_event_after_a_handled_one_is_tried_as_often_as_allowed,
    a_rebuild_keeps_triggers_and_foreign_keys_and_refuses_dependents,
);

/// `sqlite::memory:` keeps its database in one connection: a worker must read what it
/// needs in its transaction, never through the pool the transaction holds.
mod sqlite_in_one_connection {
    use herald_tests::backends::TestStore;
    use herald_tests::consumers_suite as cases;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parked_event_holds_back_its_stream_until_retried() {
        let test = TestStore::sqlite_in_memory().await;
        cases::a_parked_event_holds_back_its_stream_until_retried(&test).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn skipping_a_parked_event_releases_the_ones_behind_it() {
        let test = TestStore::sqlite_in_memory().await;
        cases::skipping_a_parked_event_releases_the_ones_behind_it(&test).await;
    }
}

/// PostgreSQL: readers are held back by this store's transactions only.
mod postgres_horizon {
    use herald_tests::backends::TestStore;
    use herald_tests::consumers_suite::{Elsewhere, a_transaction_elsewhere_holds_no_reader_back};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_in_another_database_holds_no_reader_back() {
        let test = TestStore::postgres().await;
        a_transaction_elsewhere_holds_no_reader_back(&test, Elsewhere::AnotherDatabase).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_on_another_table_holds_no_reader_back() {
        let test = TestStore::postgres().await;
        a_transaction_elsewhere_holds_no_reader_back(&test, Elsewhere::AnotherTable).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_of_another_store_holds_no_reader_back() {
        let test = TestStore::postgres().await;
        a_transaction_elsewhere_holds_no_reader_back(&test, Elsewhere::AnotherStore).await;
    }
}
