//! Compile-fail lessons: each file under `tests/ui/network/` is a classic mistake, and its
//! `.stderr` snapshot is the error the learner sees. Files under `tests/ui/pass/` must build
//! and run. Regenerate snapshots with `TRYBUILD=overwrite cargo test --test lessons_ui`.

#[test]
fn compile_errors_teach() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/network/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
