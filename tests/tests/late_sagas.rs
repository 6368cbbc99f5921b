//! Late saga steps, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::late_sagas_suite;
    a_late_step_runs_on_the_decided_events_and_never_for_a_refusal,
    a_conflicts_retry_runs_the_late_step_once,
    a_failure_after_the_late_step_reverses_both_last_first,
);
