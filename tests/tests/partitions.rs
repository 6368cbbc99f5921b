//! A consumer split by stream (`partitions = N`), on the in-memory store, a SQLite file
//! and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::partitions_suite;
    a_split_projector_handles_each_stream_once_in_order,
    a_parked_event_holds_back_only_its_stream,
    two_runtimes_deal_the_partitions_and_a_survivor_takes_them_all,
    a_changed_number_of_partitions_is_refused_until_reset,
    a_lease_taken_unheard_is_given_up_when_dealt_elsewhere,
);
