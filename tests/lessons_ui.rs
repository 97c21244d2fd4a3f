//! Compile-fail lessons: each file under `tests/ui/network/`, `tests/ui/lessons/` and
//! `tests/ui/plain/` (shape mistakes in plain Rust, outside `network!`) is a classic mistake,
//! and its `.stderr` snapshot is the error the learner sees (the lesson pages in `lessons/`
//! quote them). Files under `tests/ui/pass/` must build and run. Regenerate snapshots with
//! `TRYBUILD=overwrite cargo test --test lessons_ui`; `tests/ui_errors.rs` then checks that
//! each is one error with decimal sizes.

#[test]
fn compile_errors_teach() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/network/*.rs");
    t.compile_fail("tests/ui/lessons/*.rs");
    t.compile_fail("tests/ui/plain/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
