//! A committed snapshot of the code `network!` writes for the README's `Regressor` and a small
//! stack `Stacked` and a scan `Rnn` (their forward and backward loops), so any
//! change to the generated code shows up in review as a diff of
//! `tests/expansion/regressor.expanded.rs`.
//!
//! The snapshot is the output of `cargo expand --test expansion_subject` (the test target
//! `tests/expansion_subject.rs` holds only those declarations), written by
//! cargo-expand [`CARGO_EXPAND_VERSION`] with the pinned toolchain.
//!
//! - Always: the committed file exists, parses as Rust (`syn::parse_file`) and holds the
//!   generated `Regressor` with its layer fields and `fn backward_pass`, and `Stacked`'s two
//!   loops over its blocks.
//! - With `NANOTORCH_CHECK_EXPANSION=1`: runs cargo expand (it must be installed) and fails
//!   with a line diff if its output differs from the committed file.
//! - With `NANOTORCH_CHECK_EXPANSION=overwrite`: rewrites the committed file from cargo expand
//!   (then review and commit the diff).
//!
//! cargo expand needs no nightly toolchain and no `RUSTC_BOOTSTRAP=1` from the caller: on a
//! stable rustc it sets `RUSTC_BOOTSTRAP=1` itself for the `-Zunpretty=expanded` call.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that turns on the comparison with a fresh `cargo expand`.
const ENV: &str = "NANOTORCH_CHECK_EXPANSION";
/// The test target whose expansion is the snapshot.
const SUBJECT: &str = "expansion_subject";
/// The cargo-expand release that wrote the committed snapshot. Another release may lay the
/// same code out differently (it pretty-prints with its own copy of prettyplease).
const CARGO_EXPAND_VERSION: &str = "1.0.127";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn snapshot_path() -> PathBuf {
    root().join("tests/expansion/regressor.expanded.rs")
}

fn committed() -> String {
    let path = snapshot_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nwrite it with: {ENV}=overwrite cargo test --test expansion_snapshot",
            path.display()
        )
    })
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo expand --version`, or `None` if cargo-expand is not installed.
fn cargo_expand_version() -> Option<String> {
    let out = cargo().args(["expand", "--version"]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The expansion of the subject, by cargo expand, built in its own target directory (the
/// outer `cargo test` may still hold the lock on the main one).
fn run_cargo_expand() -> String {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("expand");
    let out = cargo()
        .current_dir(root())
        .args(["expand", "--test", SUBJECT, "--target-dir"])
        .arg(&target)
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo expand: {e}"));
    assert!(
        out.status.success(),
        "cargo expand --test {SUBJECT} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo expand prints UTF-8")
}

/// A line diff of `old` → `new` (longest common subsequence), with two lines of context
/// around each change, `-` for removed and `+` for added lines; at most `limit` lines.
fn line_diff(old: &str, new: &str, limit: usize) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // lcs[i][j] = length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // (tag, line number in the old file, text), tag ' ' for common lines.
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|op| op.0 != ' ')
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (k, &(tag, line, text)) in ops.iter().enumerate() {
        if !near_change(k) {
            skipped = true;
            continue;
        }
        if skipped || out.is_empty() {
            out.push(format!("@@ committed line {} @@", line + 1));
            skipped = false;
        }
        out.push(format!("{tag} {text}"));
    }
    if out.len() > limit {
        let more = out.len() - limit;
        out.truncate(limit);
        out.push(format!("... {more} more diff lines"));
    }
    out.join("\n")
}

#[test]
fn committed_snapshot_has_the_stack_loops() {
    let text = committed();
    assert!(
        text.contains("for k in 0..self.blocks.len() {"),
        "the snapshot has no forward loop over `Stacked`'s blocks"
    );
    assert!(
        text.contains("for k in (0..self.blocks.len()).rev() {"),
        "the snapshot has no reversed backward loop over `Stacked`'s blocks"
    );
}

#[test]
fn committed_snapshot_has_the_scan_loops() {
    let text = committed();
    assert!(
        text.contains("for t in 0..4 {"),
        "the snapshot has no forward loop over `Rnn`'s time steps"
    );
    assert!(
        text.contains("for t in (0..4).rev() {"),
        "the snapshot has no reversed (BPTT) loop over `Rnn`'s time steps"
    );
}

#[test]
fn committed_snapshot_is_the_generated_regressor() {
    let text = committed();
    assert!(!text.trim().is_empty(), "the snapshot is empty");
    let file = syn::parse_file(&text)
        .unwrap_or_else(|e| panic!("{} does not parse as Rust: {e}", snapshot_path().display()));
    let strukt = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == "Regressor" => Some(s),
            _ => None,
        })
        .expect("the snapshot has no `struct Regressor`");
    let fields: Vec<String> = strukt
        .fields
        .iter()
        .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
        .collect();
    for layer in ["fc1", "fc2", "fc3"] {
        assert!(
            fields.iter().any(|f| f == layer),
            "no field {layer}: {fields:?}"
        );
    }
    let methods: Vec<String> = file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(i) if i.trait_.is_none() => Some(i),
            _ => None,
        })
        .flat_map(|i| &i.items)
        .filter_map(|item| match item {
            syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .collect();
    for method in [
        "forward",
        "backward",
        "backward_with_input",
        "backward_pass",
    ] {
        assert!(
            methods.iter().any(|m| m == method),
            "no inherent fn {method}: {methods:?}"
        );
    }
    assert!(text.contains("fn backward_pass"));
}

#[test]
fn snapshot_matches_cargo_expand() {
    let mode = std::env::var(ENV).unwrap_or_default();
    if mode != "1" && mode != "overwrite" {
        println!("skipped: set {ENV}=1 to compare with a fresh `cargo expand --test {SUBJECT}`");
        return;
    }
    let Some(version) = cargo_expand_version() else {
        panic!(
            "{ENV} is set but cargo-expand is not installed: \
             cargo install cargo-expand --version {CARGO_EXPAND_VERSION} --locked"
        );
    };
    let fresh = run_cargo_expand();
    if mode == "overwrite" {
        std::fs::write(snapshot_path(), &fresh).expect("write the snapshot");
        println!("wrote {} with {version}", snapshot_path().display());
        return;
    }
    let old = committed();
    if fresh != old {
        let note = if version.ends_with(CARGO_EXPAND_VERSION) {
            String::new()
        } else {
            format!(
                "\nnote: the snapshot was written by cargo-expand {CARGO_EXPAND_VERSION}, \
                 this is {version}; its layout may differ"
            )
        };
        panic!(
            "the code network! generates for Regressor changed \
             (- committed snapshot, + cargo expand now):\n{}\n{note}\n\
             if the change is intended: {ENV}=overwrite cargo test --test expansion_snapshot, \
             then review and commit {}",
            line_diff(&old, &fresh, 80),
            snapshot_path().display()
        );
    }
    println!("snapshot matches cargo expand ({version})");
}

/// The diff shown on a mismatch names the changed lines.
#[test]
fn diff_shows_the_changed_lines() {
    let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
    let new = "1\n2\nX\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n";
    assert_eq!(
        line_diff(old, new, 80),
        "@@ committed line 1 @@\n  1\n  2\n- 3\n+ X\n  4\n  5\n\
         @@ committed line 11 @@\n  11\n  12\n+ 13"
    );
    assert_eq!(
        line_diff(old, new, 4),
        "@@ committed line 1 @@\n  1\n  2\n- 3\n... 7 more diff lines"
    );
    assert_eq!(line_diff(old, old, 80), "");
}
