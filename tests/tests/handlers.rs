//! Hooks and strong projectors, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::handlers_suite;
    hooks_and_projectors_run_in_order_and_enrich_the_command,
    a_rejecting_hook_stores_nothing_and_names_itself,
    a_hook_that_changes_the_route_is_an_error_naming_it,
    a_failing_projector_rolls_back_the_events_and_the_read_model,
    a_processors_command_runs_nested_caused_by_the_event,
    a_failing_nested_command_rolls_back_its_parent,
    a_dispatchers_side_event_is_in_the_global_order_not_in_an_aggregate,
    saga_steps_run_between_the_hooks_and_the_saga_is_settled,
    a_failure_after_the_saga_reverses_its_steps_last_first,
    a_failing_step_is_retried_then_the_steps_before_it_are_reversed,
    a_pipeline_commits_step_by_step_and_stops_at_the_first_failure,
    a_command_sent_again_after_a_failure_runs_its_saga_again,
    a_dispatch_dropped_mid_way_reverses_its_saga,
);
