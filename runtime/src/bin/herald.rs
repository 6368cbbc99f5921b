//! The standalone `herald` binary: Herald's operators' commands on any store by URL,
//! without the application's code. Everything is in [`herald::cli`].

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
