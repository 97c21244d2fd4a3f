//! A process killed with SIGKILL in the middle of saving checkpoints never damages the
//! previous one: the file on disk is always one complete checkpoint, byte for byte as saved,
//! and loads; the temporary files a killed save leaves behind do not stop the next save.
//!
//! The test re-runs its own binary as a child (`NANOTORCH_CRASH_CHILD` set) that saves two
//! models in turn, over and over, to one path; the parent kills it at staggered moments, then
//! checks the file. (The in-process fault tests — a write failing at every byte offset — are in
//! `nanotorch/src/checkpoint/fault_tests.rs`.)
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nanotorch::checkpoint;
use nanotorch::prelude::*;

network! {
    /// A small network with parameters and BatchNorm buffers.
    pub struct Net {
        fc1: Linear<16, 32>,
        bn: BatchNorm1d<32>,
        fc2: Linear<32, 4>,
    }
    fn forward(x: [B, 16]) -> [B, 4] {
        fc2(relu(bn(fc1(x))))
    }
}

const CHILD: &str = "NANOTORCH_CRASH_CHILD";
const KILLS: u64 = 24;

/// In the child: saves models 1 and 2 in turn to the path in `NANOTORCH_CRASH_CHILD` until
/// killed (or for at most 20 s). In the parent's own run, returns at once.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD) else {
        return;
    };
    let mut models = [Net::<f32>::new(1), Net::<f32>::new(2)];
    let start = Instant::now();
    for k in 0.. {
        checkpoint::save(&mut models[k % 2], &path).unwrap();
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
}

fn temporaries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp-")
        })
        .count()
}

#[test]
fn a_save_killed_at_any_moment_leaves_a_whole_loadable_checkpoint() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let one = checkpoint::to_bytes(&mut Net::<f32>::new(1)).unwrap();
    let two = checkpoint::to_bytes(&mut Net::<f32>::new(2)).unwrap();
    checkpoint::save(&mut Net::<f32>::new(1), &path).unwrap();
    let exe = std::env::current_exe().unwrap();
    let (mut seen_two, mut mid_save) = (false, 0);
    for k in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Staggered: from before the first save to well into the saving loop (the last one
        // late enough that some save has completed even on a slow disk).
        let wait = if k + 1 == KILLS {
            Duration::from_millis(500)
        } else {
            Duration::from_micros(2_000 + 2_000 * k)
        };
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "kill {k}: the child finished first");
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes == one || bytes == two,
            "kill {k}: the file is neither checkpoint ({} bytes)",
            bytes.len()
        );
        seen_two |= bytes == two;
        mid_save += usize::from(temporaries(dir.path()) > mid_save);
        let mut net = Net::<f32>::new(3);
        checkpoint::load(&mut net, &path).unwrap();
        assert_eq!(checkpoint::to_bytes(&mut net).unwrap(), bytes, "kill {k}");
    }
    assert!(
        seen_two,
        "no kill came after a completed save: the test proved nothing"
    );
    // Whatever temporaries the kills left, the next save and load work.
    println!("{mid_save} of {KILLS} kills landed mid-save (left a temporary file)");
    checkpoint::save(&mut Net::<f32>::new(2), &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), two);
}
