//! The dispatch suite, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::dispatch_suite;
    a_repeated_command_id_returns_the_first_result, racing_dispatches_of_one_command_id_run_it_once,
    a_command_id_reused_with_another_payload_or_tenant_is_an_error, a_rejected_command_leaves_its_id_free,
    snapshots_are_taken_every_n_events_and_used, stale_or_broken_snapshots_are_ignored,
    the_callers_transaction_binds_events_and_own_rows, an_oversized_payload_is_refused_whole,
    the_callers_expected_version_is_checked_against_the_stream, metadata_reaches_the_store,
    eight_writers_on_one_stream_lose_nothing, old_events_are_upcast_when_read,
    a_repeat_inside_the_callers_transaction_returns_the_first_run,
);
