//! The standalone `herald` binary (`runtime/src/bin/herald.rs`) for the CLI's tests:
//! the same one call, built in this package so that the tests find it
//! (`CARGO_BIN_EXE_herald-standalone`). It has no application code: this package's
//! handlers are not linked into it.

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
