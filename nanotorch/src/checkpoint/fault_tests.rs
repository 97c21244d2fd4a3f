//! Saving under faults: a write that fails at every byte offset of a checkpoint, and a save
//! that panics part-way, each leave the previous file byte for byte as it was and loadable,
//! and the next save works. (`tests/checkpoint_crash.rs` kills a saving process with
//! SIGKILL at staggered moments.)

use std::fs;
use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use super::{CheckpointError, from_bytes, load, save, save_through, to_bytes};
use crate::layer::{BufferMut, Init, Module};
use crate::layers::BatchNorm1d;
use crate::shape::U8;

type Model = BatchNorm1d<U8, f32>;

/// A batch-norm layer (parameters and buffers, the counter too) whose every value depends
/// on `seed`, so two seeds give two different files.
fn model(seed: u32) -> Model {
    let mut m = Model::init(&mut crate::seeded_rng(0));
    let mut k = 0.0;
    m.visit_named_params("", &mut |_, _, p| {
        for v in p.value.iter_mut() {
            k += 1.0;
            *v = seed as f32 * 100.0 + k;
        }
    });
    m.visit_named_buffers("", &mut |_, _, b| match b {
        BufferMut::Values(v) => v.iter_mut().for_each(|v| *v = seed as f32 + 0.5),
        BufferMut::Count(c) => *c = i64::from(seed),
    });
    m
}

/// A writer that accepts `left` bytes, then fails (a full disk, an I/O error).
struct FailAfter<'a> {
    inner: &'a mut fs::File,
    left: usize,
}

impl Write for FailAfter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("injected write failure"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        self.inner.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// The file at `path` is exactly `expected` and loads into a fresh model.
fn assert_intact(path: &Path, expected: &[u8], what: &str) {
    assert_eq!(
        fs::read(path).unwrap(),
        expected,
        "{what}: the file changed"
    );
    let mut fresh = model(99);
    load(&mut fresh, path).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(to_bytes(&mut fresh).unwrap(), expected, "{what}");
}

#[test]
fn a_write_failing_at_any_byte_leaves_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut old = model(1);
    let mut new = model(2);
    save(&mut old, &path).unwrap();
    let old_bytes = fs::read(&path).unwrap();
    let new_bytes = to_bytes(&mut new).unwrap();
    assert_ne!(old_bytes, new_bytes);
    for offset in 0..new_bytes.len() {
        let err = save_through(&mut new, &path, |f, bytes| {
            FailAfter {
                inner: f,
                left: offset,
            }
            .write_all(bytes)
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::Io {
                    action: "write",
                    ..
                }
            ),
            "offset {offset}: {err}"
        );
        assert!(err.to_string().contains("injected write failure"), "{err}");
        assert_intact(&path, &old_bytes, &format!("failure at byte {offset}"));
        assert!(
            temporaries(dir.path()).is_empty(),
            "offset {offset}: {:?}",
            temporaries(dir.path())
        );
    }
    // The next save goes through.
    save(&mut new, &path).unwrap();
    assert_intact(&path, &new_bytes, "the save after the failures");
}

#[test]
fn a_save_that_panics_part_way_leaves_the_previous_file_and_the_next_save_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut old = model(3);
    save(&mut old, &path).unwrap();
    let old_bytes = fs::read(&path).unwrap();
    let mut new = model(4);
    let new_bytes = to_bytes(&mut new).unwrap();
    // A panic mid-write unwinds past the clean-up, as a crash would: the temporary stays.
    for offset in [0, 1, new_bytes.len() / 2, new_bytes.len() - 1] {
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            save_through(&mut new, &path, |f, bytes| {
                f.write_all(&bytes[..offset])?;
                panic!("injected panic after {offset} bytes");
            })
        }));
        assert!(panicked.is_err());
        assert_intact(&path, &old_bytes, &format!("panic after byte {offset}"));
    }
    assert_eq!(temporaries(dir.path()).len(), 4);
    // Stray temporaries do not get in the way of the next save, nor of a load.
    save(&mut new, &path).unwrap();
    assert_intact(&path, &new_bytes, "the save after the panics");
    let mut back = model(0);
    from_bytes(&mut back, &fs::read(&path).unwrap(), Default::default()).unwrap();
    assert_eq!(to_bytes(&mut back).unwrap(), new_bytes);
}
