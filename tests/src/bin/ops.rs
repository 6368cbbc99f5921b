//! The CLI tests' application binary: Herald's commands with the tills' handlers, as an
//! application ships them (`herald::cli::run`). The store comes from `--url`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    herald_tests::ops::link();
    herald::cli::run(herald::Herald::builder().modules(["herald_tests::ops"])).await
}
