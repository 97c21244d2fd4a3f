//! The compile-fail snapshots of `tests/lessons_ui.rs`, read as a learner reads them: every
//! mistake is exactly one error, and no size is printed in typenum's binary (`UInt<…>`).
//!
//! trybuild checks that each snapshot is what rustc prints; this test checks what the
//! snapshots say, so a change that makes a mistake report two errors, or a size appear in
//! binary, fails here even when its snapshot was regenerated.

use std::path::{Path, PathBuf};

/// The directories of compile-fail cases (each `.rs` has a `.stderr` beside it).
const FAILING: &[&str] = &["tests/ui/network", "tests/ui/lessons", "tests/ui/plain"];

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// The error headlines of a rustc output: `error[E0308]: …` or `error: …`, without the
/// closing `error: aborting due to …` summary.
fn errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error[") || l.starts_with("error:"))
        .filter(|l| !l.starts_with("error: aborting due to"))
        .collect()
}

#[test]
fn every_failing_case_has_a_snapshot_with_exactly_one_error() {
    let mut problems = Vec::new();
    let mut cases = 0;
    for dir in FAILING {
        for rs in files(dir, "rs") {
            cases += 1;
            let stderr = rs.with_extension("stderr");
            let Ok(text) = std::fs::read_to_string(&stderr) else {
                problems.push(format!("{}: no snapshot", stderr.display()));
                continue;
            };
            let found = errors(&text);
            if found.len() != 1 {
                problems.push(format!(
                    "{}: {} errors, expected 1:\n  {}",
                    stderr.display(),
                    found.len(),
                    found.join("\n  ")
                ));
            }
        }
    }
    assert!(cases >= 30, "only {cases} compile-fail cases found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_snapshot_prints_a_size_in_binary() {
    let mut binary = Vec::new();
    for dir in FAILING {
        for stderr in files(dir, "stderr") {
            let text = std::fs::read_to_string(&stderr).expect("readable snapshot");
            if text.contains("UInt<") || text.contains("UTerm") {
                binary.push(stderr.display().to_string());
            }
        }
    }
    assert!(
        binary.is_empty(),
        "sizes in binary in: {}",
        binary.join(", ")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The counting must not pass vacuously: a two-error output counts two, the summary none.
    let two = "error[E0308]: mismatched types\n --> a.rs:1:1\nerror: something else\nerror: aborting due to 2 previous errors\n";
    assert_eq!(errors(two).len(), 2);
    assert_eq!(errors("warning: unused\n").len(), 0);
}
