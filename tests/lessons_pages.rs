//! Keeps the lesson pages (`lessons/*.md`) true to the code they quote:
//!
//! - a block after `<!-- stderr: PATH -->` must be exactly the compile-error snapshot `PATH`
//!   (run `LESSONS=overwrite cargo test --test lessons_pages` to copy the snapshots in, after
//!   `TRYBUILD=overwrite cargo test --test lessons_ui` has refreshed them);
//! - a block after `<!-- source: PATH -->` must be lines of `PATH`, in order;
//! - every compile-fail case under `tests/ui/lessons/`, `tests/ui/network/` and
//!   `tests/ui/plain/` is quoted by some page;
//! - every `network!` that `src/lessons.rs` declares for a lesson appears, verbatim, in that
//!   lesson's page (so the generated docs are those of the network the page shows);
//! - there are at least 21 lessons, each with runnable code, linked from the index, and ending
//!   with its "Generated code" section;
//! - the index's table of compile errors has a row for every snapshot a lesson quotes.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The lesson pages, sorted by name.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(root().join("lessons"))
        .expect("lessons/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// A quoted block: the marker's kind and path, and the line range of the block's content.
struct Quote {
    kind: String,
    path: String,
    /// Index of the first content line (after the opening fence) and of the closing fence.
    content: (usize, usize),
}

/// Finds every `<!-- KIND: PATH -->` marker followed by a fenced block.
fn quotes(page: &Path, lines: &[&str]) -> Vec<Quote> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("<!-- ") else {
            continue;
        };
        let Some(rest) = rest.strip_suffix(" -->") else {
            continue;
        };
        let Some((kind, path)) = rest.split_once(": ") else {
            continue;
        };
        if kind != "stderr" && kind != "source" {
            continue;
        }
        let fence = lines.get(i + 1).copied().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "{}:{}: the marker must be followed by a fenced block, found {fence:?}",
            page.display(),
            i + 1
        );
        let close = (i + 2..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .unwrap_or_else(|| panic!("{}:{}: unclosed block", page.display(), i + 2));
        out.push(Quote {
            kind: kind.to_string(),
            path: path.to_string(),
            content: (i + 2, close),
        });
    }
    out
}

fn trimmed_lines(text: &str) -> Vec<String> {
    text.trim_end()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn quoted_errors_and_sources_match_the_files() {
    let overwrite = std::env::var("LESSONS").is_ok_and(|v| v == "overwrite");
    let mut problems = Vec::new();
    for page in pages() {
        let text = read(&page);
        let lines: Vec<&str> = text.lines().collect();
        let quotes = quotes(&page, &lines);
        let mut rewritten: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        // Replace from the end so earlier line numbers stay valid.
        for q in quotes.iter().rev() {
            let file = read(&root().join(&q.path));
            let quoted: Vec<String> = lines[q.content.0..q.content.1]
                .iter()
                .map(|l| l.trim_end().to_string())
                .collect();
            match q.kind.as_str() {
                "stderr" => {
                    let want = trimmed_lines(&file);
                    if quoted != want {
                        if overwrite {
                            rewritten.splice(q.content.0..q.content.1, want);
                        } else {
                            problems.push(format!(
                                "{}:{}: the quote of {} differs from the snapshot",
                                page.display(),
                                q.content.0 + 1,
                                q.path
                            ));
                        }
                    }
                }
                _ => {
                    // Every non-empty quoted line must occur in the file, in order.
                    let file_lines = trimmed_lines(&file);
                    let mut at = 0;
                    for line in quoted.iter().filter(|l| !l.trim().is_empty()) {
                        match file_lines[at..]
                            .iter()
                            .position(|f| f.trim() == line.trim())
                        {
                            Some(k) => at += k + 1,
                            None => problems.push(format!(
                                "{}: quoted line {line:?} is not in {} (in order)",
                                page.display(),
                                q.path
                            )),
                        }
                    }
                }
            }
        }
        if overwrite {
            let mut new_text = rewritten.join("\n");
            new_text.push('\n');
            if new_text != text {
                fs::write(&page, new_text).expect("page is writable");
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_compile_fail_case_is_quoted() {
    let all_pages: String = pages().iter().map(|p| read(p)).collect();
    for folder in ["tests/ui/lessons", "tests/ui/network", "tests/ui/plain"] {
        let dir = root().join(folder);
        let mut missing = Vec::new();
        let mut cases = 0;
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{folder}: {e}")) {
            let path = entry.expect("readable entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                cases += 1;
                let stderr = format!(
                    "<!-- stderr: {folder}/{}.stderr -->",
                    path.file_stem().unwrap().to_string_lossy()
                );
                if !all_pages.contains(&stderr) {
                    missing.push(stderr);
                }
            }
        }
        assert!(
            cases > 0,
            "no compile-fail cases found in {}",
            dir.display()
        );
        assert!(missing.is_empty(), "not quoted by any lesson: {missing:?}");
    }
}

/// The `network! { ... }` blocks of a piece of source, each as trimmed lines.
fn network_blocks(src: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = src.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "network! {" {
            let mut depth = 0i32;
            let mut block = Vec::new();
            for line in &lines[i..] {
                depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
                block.push(line.trim().to_string());
                i += 1;
                if depth == 0 {
                    break;
                }
            }
            blocks.push(block);
        } else {
            i += 1;
        }
    }
    blocks
}

#[test]
fn lesson_networks_are_the_ones_on_the_pages() {
    let src = read(&root().join("src/lessons.rs"));
    let mut checked = 0;
    // Each lesson module starts with its `include_str!` line; its networks follow until the next.
    let marker = "#![doc = include_str!(\"../lessons/";
    for section in src.split(marker).skip(1) {
        let file = section.split('"').next().expect("a file name");
        let page = read(&root().join("lessons").join(file));
        let page_lines: Vec<String> = page.lines().map(|l| l.trim().to_string()).collect();
        for block in network_blocks(section) {
            let found = page_lines
                .windows(block.len())
                .any(|w| w == block.as_slice());
            assert!(
                found,
                "src/lessons.rs declares a network for {file} that the page does not show:\n{}",
                block.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no lesson networks found in src/lessons.rs");
}

#[test]
fn every_lesson_has_math_code_and_ends_with_generated_code() {
    let lessons: Vec<PathBuf> = pages()
        .into_iter()
        .filter(|p| !p.ends_with("00-index.md"))
        .collect();
    assert!(
        lessons.len() >= 21,
        "expected at least 21 lessons, found {}",
        lessons.len()
    );
    let index = read(&root().join("lessons/00-index.md"));
    for page in &lessons {
        let text = read(page);
        let sections: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
        assert_eq!(
            sections.last().copied(),
            Some("## Generated code"),
            "{}: the last section must point at the generated code",
            page.display()
        );
        assert!(
            text.contains("```rust"),
            "{}: no runnable code block",
            page.display()
        );
        // The module name (`l07_fan_out`) is what the index links to.
        let file = page.file_name().unwrap().to_string_lossy().to_string();
        let module = format!("(l{}_", &file[..2]);
        assert!(
            index.contains(&module),
            "the index does not link lesson {file}"
        );
    }
}

#[test]
fn the_index_lists_every_quoted_case_under_its_lesson() {
    let index = read(&root().join("lessons/00-index.md"));
    for page in pages().iter().filter(|p| !p.ends_with("00-index.md")) {
        let text = read(page);
        let lines: Vec<&str> = text.lines().collect();
        let name = page.file_name().unwrap().to_string_lossy().to_string();
        let number: u32 = name[..2].parse().expect("pages are named NN-slug.md");
        for q in quotes(page, &lines).iter().filter(|q| q.kind == "stderr") {
            let case = q.path.replace(".stderr", ".rs");
            let row = format!("| {number} |");
            assert!(
                index
                    .lines()
                    .any(|l| l.starts_with(&row) && l.contains(&format!("`{case}`"))),
                "the index has no row `{row} ... {case}` for {name}"
            );
        }
    }
}
