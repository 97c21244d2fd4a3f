//! Every input the fuzzers keep — the seeds (`fuzz/seeds/<target>/`), the crash and limit
//! cases (`tests/fuzz_regressions/<target>/`) and the minimised corpora
//! (`tests/fuzz_regressions/corpus/<target>/`) — fed to the same entry points as
//! `cargo +nightly fuzz run <target>`, on the stable toolchain (docs/reliability.md).
//!
//! Each entry point returns its outcome (`"Ok"` or `"Err(Variant)"` per call, after checking
//! what must hold on any input, see `fuzz/src/lib.rs`); a panic fails the test. The outcome
//! of every seed and regression input is pinned in `tests/fuzz_regressions/expected.txt`;
//! the minimised corpora are checked for no panic and typed outcomes only. After adding
//! inputs, `NANOTORCH_BLESS=1 cargo test --release --test fuzz_regressions` rewrites the
//! pins; review the diff.

#[path = "../fuzz/src/lib.rs"]
mod entry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files in `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// Every outcome of one call is `Ok` or `Err(Variant)` of a typed error.
fn assert_typed(what: &str, outcome: &str) {
    for part in outcome.split(' ') {
        let typed = part == "Ok"
            || part
                .strip_prefix("Err(")
                .and_then(|v| v.strip_suffix(')'))
                .is_some_and(|v| !v.is_empty() && v.chars().all(char::is_alphanumeric));
        assert!(typed, "{what}: outcome {outcome:?}");
    }
}

#[test]
fn seeds_and_regressions_give_their_pinned_outcomes() {
    let manifest = root().join("tests/fuzz_regressions/expected.txt");
    let mut got = BTreeMap::new();
    for (target, run) in entry::TARGETS {
        for dir in [
            format!("fuzz/seeds/{target}"),
            format!("tests/fuzz_regressions/{target}"),
        ] {
            for file in files(&root().join(&dir)) {
                let name = format!("{dir}/{}", file.file_name().unwrap().to_string_lossy());
                let outcome = run(&std::fs::read(&file).unwrap());
                assert_typed(&name, &outcome);
                got.insert(name, outcome);
            }
        }
    }
    assert!(got.len() >= 30, "only {} inputs found", got.len());
    let text: String = got.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    if std::env::var_os("NANOTORCH_BLESS").is_some() {
        std::fs::write(&manifest, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(
        pinned, text,
        "outcomes differ from tests/fuzz_regressions/expected.txt"
    );
}

#[test]
fn the_minimised_corpora_give_typed_outcomes() {
    let mut n = 0;
    for (target, run) in entry::TARGETS {
        let dir = root().join(format!("tests/fuzz_regressions/corpus/{target}"));
        for file in files(&dir) {
            let outcome = run(&std::fs::read(&file).unwrap());
            assert_typed(&file.display().to_string(), &outcome);
            n += 1;
        }
    }
    assert!(
        n > 0,
        "no corpus found under tests/fuzz_regressions/corpus/"
    );
}
