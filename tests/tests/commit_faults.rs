//! Commits that report an error, on the in-memory store, a SQLite file and PostgreSQL.

herald_tests::on_every_backend!(herald_tests::commit_faults_suite;
    a_dispatch_whose_commit_took_effect_returns_its_result,
    a_dispatch_whose_commit_failed_is_reversed,
    a_dispatch_whose_commit_is_unknown_is_settled_once_the_store_answers,
    a_dispatch_whose_unknown_commit_failed_is_reversed_once_the_store_answers,
    a_transaction_whose_commit_took_effect_returns_ok,
    a_transaction_whose_commit_failed_returns_the_error,
    a_batch_whose_commit_took_effect_keeps_its_processors_sagas,
);
