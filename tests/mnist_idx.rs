//! The IDX reader on small synthetic MNIST-format files: raw and gzipped, both naming
//! schemes, and each kind of broken file giving its own error.

use std::io::Write;
use std::path::Path;

use nanotorch::data::{DataError, Dataset, mnist};

const PIX: usize = 28 * 28;

fn images_bytes(n: usize, rows: u32, cols: u32, seed: u8) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x0803, n as u32, rows, cols] {
        b.extend_from_slice(&u32::to_be_bytes(v));
    }
    b.extend(
        (0..n * (rows * cols) as usize).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)),
    );
    b
}

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x0801, labels.len() as u32] {
        b.extend_from_slice(&u32::to_be_bytes(v));
    }
    b.extend_from_slice(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A directory with the four files; `gzip` compresses them (and adds `.gz`); `sep` is `-` or
/// `.` before `idx`.
fn write_set(dir: &Path, gzip: bool, sep: &str) {
    let files = [
        ("train-images", "idx3-ubyte", images_bytes(3, 28, 28, 1)),
        ("train-labels", "idx1-ubyte", labels_bytes(&[5, 0, 9])),
        ("t10k-images", "idx3-ubyte", images_bytes(2, 28, 28, 2)),
        ("t10k-labels", "idx1-ubyte", labels_bytes(&[7, 2])),
    ];
    for (prefix, kind, bytes) in files {
        let (name, data) = if gzip {
            (format!("{prefix}{sep}{kind}.gz"), gz(&bytes))
        } else {
            (format!("{prefix}{sep}{kind}"), bytes)
        };
        std::fs::write(dir.join(name), data).unwrap();
    }
}

fn check_loaded(m: &mnist::Mnist<f32>) {
    assert_eq!(m.train.features().dims(), &[3, PIX]);
    assert_eq!(m.test.features().dims(), &[2, PIX]);
    assert_eq!(m.train.labels(), [5, 0, 9]);
    assert_eq!(m.test.labels(), [7, 2]);
    let raw = images_bytes(3, 28, 28, 1);
    for (v, &b) in m.train.features().as_slice().iter().zip(&raw[16..]) {
        assert_eq!(*v, b as f32 / 255.0);
    }
    assert!(
        m.train
            .features()
            .as_slice()
            .iter()
            .all(|v| (0.0..=1.0).contains(v))
    );
    assert_eq!(m.train.class_names()[9], "9");
}

#[test]
fn loads_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), false, "-");
    check_loaded(&mnist::load_dir(dir.path()).unwrap());
}

#[test]
fn loads_gzipped_files_and_the_dotted_names() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), true, ".");
    let m = mnist::load_dir::<f32>(dir.path()).unwrap();
    check_loaded(&m);
    let fashion = m.with_class_names(&mnist::FASHION_CLASSES).unwrap();
    assert_eq!(fashion.train.class_names()[9], "Ankle boot");
    assert_eq!(fashion.train.loader(2).unwrap().num_batches(), 2);
}

#[test]
fn a_missing_file_names_the_directory_and_every_name_tried() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), false, "-");
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let err = mnist::load_dir::<f32>(dir.path()).unwrap_err();
    let DataError::MissingFile { tried, dir: d, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(d, dir.path());
    assert_eq!(
        tried,
        &[
            "t10k-labels-idx1-ubyte",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-labels.idx1-ubyte",
            "t10k-labels.idx1-ubyte.gz"
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("test labels") && text.contains("t10k-labels-idx1-ubyte.gz"),
        "{text}"
    );
}

#[test]
fn a_truncated_file_says_how_many_bytes_were_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgs");
    let bytes = images_bytes(3, 28, 28, 0);
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = mnist::read_images::<f32>(&path).unwrap_err();
    let expected = (16 + 3 * PIX) as u64;
    assert!(
        matches!(err, DataError::Truncated { expected: e, found: f, .. } if e == expected && f == expected - 100),
        "{err}"
    );
    assert!(err.to_string().contains(&format!(
        "expected {expected} bytes, found {}",
        expected - 100
    )));

    // Shorter than the header itself.
    std::fs::write(&path, &bytes[..10]).unwrap();
    let err = mnist::read_images::<f32>(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 16,
                found: 10,
                ..
            }
        ),
        "{err}"
    );

    // A cut gzip stream.
    let z = gz(&labels_bytes(&[1; 500]));
    std::fs::write(&path, &z[..z.len() / 2]).unwrap();
    let err = mnist::read_labels(&path).unwrap_err();
    assert!(matches!(err, DataError::Decompress { .. }), "{err}");
}

#[test]
fn extra_bytes_are_an_error_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels");
    let mut bytes = labels_bytes(&[1, 2]);
    bytes.push(3);
    std::fs::write(&path, bytes).unwrap();
    let err = mnist::read_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TrailingBytes {
                expected: 10,
                found: 11,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn swapped_files_have_a_bad_magic_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    std::fs::write(&path, labels_bytes(&[1, 2])).unwrap();
    let err = mnist::read_images::<f32>(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: 0x803,
                found: 0x801,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("0x00000801"), "{err}");
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), false, "-");
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        labels_bytes(&[1, 2]),
    )
    .unwrap();
    let err = mnist::load_dir::<f32>(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                features: 3,
                labels: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");
}

#[test]
fn labels_must_be_digits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels");
    std::fs::write(&path, labels_bytes(&[0, 9, 10, 3])).unwrap();
    let err = mnist::read_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 2,
                label: 10,
                classes: 10,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn images_must_be_28_by_28() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgs");
    std::fs::write(&path, images_bytes(2, 27, 28, 0)).unwrap();
    let err = mnist::read_images::<f32>(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::ImageSize {
                rows: 27,
                cols: 28,
                expected: 784,
                ..
            }
        ),
        "{err}"
    );
}
