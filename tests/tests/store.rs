//! The store conformance suite, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::conformance;
    append_and_read, events_round_trip, versions_are_checked,
    a_waiting_writer_conflicts_when_the_first_commits, a_waiting_writer_proceeds_when_the_first_rolls_back,
    readers_never_skip_an_event_that_commits_later, savepoints_undo_what_came_after,
    dropping_a_transaction_rolls_it_back, streams_are_keyed_by_tenant, crossed_writers_do_not_hang,
    invalid_stream_keys_are_refused, command_ids_are_recorded_once, a_racing_command_id_waits_for_the_first,
    snapshots_keep_the_newest, the_transaction_gives_its_connection, reads_can_be_filtered_by_route_pattern,
    a_streams_events_stay_in_order_when_an_older_writer_commits_last,
    a_reader_paging_beside_many_writers_reads_every_event_once,
);
