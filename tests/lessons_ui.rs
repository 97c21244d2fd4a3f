//! Compile-fail lessons: each file under `tests/ui/network/` and `tests/ui/lessons/` is a
//! classic mistake, and its `.stderr` snapshot is the error the learner sees (the lesson pages
//! in `lessons/` quote them). Files under `tests/ui/pass/` must build and run. Regenerate
//! snapshots with `TRYBUILD=overwrite cargo test --test lessons_ui`.

#[test]
fn compile_errors_teach() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/network/*.rs");
    t.compile_fail("tests/ui/lessons/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
