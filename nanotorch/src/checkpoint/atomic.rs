//! Replacing a file atomically: write a temporary file beside it, flush it to disk, rename it
//! over the target. A crash or an error at any point leaves either the old file or the new
//! one, never a mix or a truncated file.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::CheckpointError;

fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> CheckpointError + 'p {
    move |source| CheckpointError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A fresh temporary name in the target's directory: `.NAME.tmp-PID-N`.
fn temp_path(path: &Path) -> Result<PathBuf, CheckpointError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| CheckpointError::Io {
        action: "write",
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp))
}

/// Writes `path` through `write`, atomically:
///
/// 1. create a new temporary file in the same directory (same file system, so the rename is
///    atomic);
/// 2. `write` into it, then `fsync` it — the data is on disk before it gets the real name;
/// 3. rename it over `path` (atomic on POSIX: readers see the old file or the new one);
/// 4. `fsync` the directory so the rename itself survives a power loss (Unix).
///
/// If any step fails, the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), CheckpointError> {
    let tmp = temp_path(path)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    let written = write(&mut file)
        .map_err(io_err("write", &tmp))
        .and_then(|()| file.sync_all().map_err(io_err("flush to disk", &tmp)));
    drop(file);
    let renamed =
        written.and_then(|()| fs::rename(&tmp, path).map_err(io_err("rename onto", path)));
    if let Err(e) = renamed {
        // Best effort: the error to report is the one above, not a failed clean-up.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("flush to disk", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        fs::write(&path, b"old").unwrap();
        write_atomically(&path, |f| f.write_all(b"new contents")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        fs::write(&path, b"the good checkpoint").unwrap();
        let err = write_atomically(&path, |f| {
            // Half the data reaches the temporary file, then the "disk fills up".
            f.write_all(b"the ne")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"the good checkpoint");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn a_failed_rename_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the file should go: rename cannot replace it.
        let path = dir.path().join("occupied");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), b"x").unwrap();
        let err = write_atomically(&path, |f| f.write_all(b"data")).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::Io {
                    action: "rename onto",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(fs::read(path.join("keep")).unwrap(), b"x");
        assert!(leftovers(dir.path()).is_empty());
    }
}
