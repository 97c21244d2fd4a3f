//! What the side-by-side benchmarks (`examples/speed_compare.rs`, `examples/gflops.rs`) share:
//! finding the Python that has PyTorch, and running a worker process — NanoTorch's or
//! PyTorch's — whose output is one `key value` line per measurement.

use std::process::Command;

/// The Python to run the PyTorch side with: `$PYTHON`, else `.venv/bin/python` if it exists,
/// else `python3`.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| {
        if std::path::Path::new(".venv/bin/python").exists() {
            ".venv/bin/python".into()
        } else {
            "python3".into()
        }
    })
}

/// Runs `cmd` and returns its `key value` lines (lines that do not parse are skipped).
///
/// # Panics
/// If the process cannot start or fails, with its standard error: a benchmark driver has
/// nothing sensible to print without its worker's numbers.
pub fn run_worker(cmd: &mut Command) -> Vec<(String, f64)> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let key = parts.next()?.to_string();
            let value = parts.next()?.parse().ok()?;
            Some((key, value))
        })
        .collect()
}
