//! Panicking handlers, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::panics_suite;
    a_panic_in_the_loop_is_the_dispatchs_error,
    a_panicking_saga_step_is_retried_then_reversed,
    a_panicking_eventual_handler_parks_its_event_and_goes_on,
);
