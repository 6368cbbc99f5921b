//! Herald's compile-time errors are product surface: `tests/ui.rs` compiles each case in
//! `tests/ui/<macro>/{pass,fail}/` and compares the errors with the reviewed `.stderr`.
