//! Every accepted form compiles and runs; every compile error matches its reviewed
//! `.stderr`. Regenerate with `TRYBUILD=overwrite cargo test -p ui-tests`, then review
//! the diff.

// Snapshots follow the one toolchain we run.
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "stderr snapshots are pinned to stable 1.95"
)]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass/*.rs");
    t.compile_fail("tests/ui/*/fail/*.rs");
}
