//! The embedded data sets load with the sizes, classes and values of the files they came from.

use nanotorch::data::{Dataset, datasets};

fn row<E: Copy>(x: &[E], f: usize, i: usize) -> &[E] {
    &x[i * f..(i + 1) * f]
}

#[test]
fn iris_has_150_flowers_in_3_classes() {
    let d = datasets::iris::<f32>().unwrap();
    assert_eq!(d.features().dims(), &[150, 4]);
    assert_eq!(d.class_names(), ["setosa", "versicolor", "virginica"]);
    assert_eq!(d.class_counts(), [50, 50, 50]);
    // First and last lines of iris.csv.
    assert_eq!(row(d.features().as_slice(), 4, 0), [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(row(d.features().as_slice(), 4, 149), [5.9, 3.0, 5.1, 1.8]);
    assert_eq!((d.labels()[0], d.labels()[149]), (0, 2));
}

#[test]
fn digits_has_1797_images_of_64_pixels() {
    let d = datasets::digits::<f64>().unwrap();
    assert_eq!(d.features().dims(), &[1797, 64]);
    assert_eq!(d.num_classes(), 10);
    assert_eq!(
        d.class_counts(),
        [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
    assert!(
        d.features()
            .as_slice()
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
    );
    assert_eq!(
        &row(d.features().as_slice(), 64, 0)[..8],
        [0., 0., 5., 13., 9., 1., 0., 0.]
    );
    assert_eq!(&d.labels()[..3], [0, 1, 2]);
}

#[test]
fn breast_cancer_and_wine() {
    let b = datasets::breast_cancer::<f32>().unwrap();
    assert_eq!(b.features().dims(), &[569, 30]);
    assert_eq!(b.class_names(), ["malignant", "benign"]);
    assert_eq!(b.class_counts(), [212, 357]);
    assert_eq!(row(b.features().as_slice(), 30, 0)[0], 17.99);

    let w = datasets::wine::<f32>().unwrap();
    assert_eq!(w.features().dims(), &[178, 13]);
    assert_eq!(w.class_counts(), [59, 71, 48]);
    assert_eq!(row(w.features().as_slice(), 13, 0)[12], 1065.0);
}

#[test]
fn diabetes_is_a_regression_with_a_column_target() {
    let d = datasets::diabetes::<f64>().unwrap();
    assert_eq!(d.features().dims(), &[442, 10]);
    assert_eq!(d.targets().dims(), &[442, 1]);
    assert_eq!(
        row(d.features().as_slice(), 10, 0),
        [59., 2., 32.1, 101., 157., 93.2, 38., 4., 4.8598, 87.]
    );
    assert_eq!(&d.targets().as_slice()[..3], [151., 75., 141.]);
    assert_eq!(Dataset::len(&d), 442);
}

#[test]
fn mnist10k_splits_8000_train_and_2000_test_of_784_pixels() {
    let m = datasets::mnist10k::<f32>().unwrap();
    assert_eq!(m.train.features().dims(), &[8000, 784]);
    assert_eq!(m.test.features().dims(), &[2000, 784]);
    assert_eq!((m.train.len(), m.test.len()), (8000, 2000));
    assert_eq!(m.train.class_names(), nanotorch::data::mnist::DIGIT_CLASSES);
    assert_eq!(m.test.num_classes(), 10);
    // Class counts of the whole file (labels file, counted with Python), and of each part.
    let (train, test) = (m.train.class_counts(), m.test.class_counts());
    let all: Vec<usize> = train.iter().zip(&test).map(|(a, b)| a + b).collect();
    assert_eq!(all, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    assert_eq!(train, [793, 907, 805, 817, 774, 690, 797, 854, 753, 810]);
    assert_eq!(test, [208, 220, 186, 215, 206, 173, 217, 216, 191, 168]);
}

#[test]
fn mnist10k_pixels_are_bytes_over_255_in_0_1() {
    let m = datasets::mnist10k::<f64>().unwrap();
    for part in [&m.train, &m.test] {
        let x = part.features().as_slice();
        assert!(x.iter().all(|&v| {
            let b = v * 255.0;
            (0.0..=1.0).contains(&v) && (b - b.round()).abs() < 1e-9
        }));
        // Both ends of the range occur: black background, saturated strokes.
        assert!(x.contains(&0.0) && x.contains(&1.0));
    }
}

#[test]
fn mnist10k_first_and_last_images_match_the_raw_file() {
    // Read from the gzipped IDX files with Python (gzip + struct). Image 0 (train row 0) is a
    // 7 whose first non-zero pixels are bytes 20, 148, 254 at 215..218 (row 7); image 9999
    // (test row 1999) is a 2 whose first non-zero pixel is byte 15 at 98, with byte 187 at
    // 125; image 8000 (test row 0) is a 9 with byte 140 at 237. Their byte sums: 21257 and
    // 21087.
    let m = datasets::mnist10k::<f64>().unwrap();
    let first = row(m.train.features().as_slice(), 784, 0);
    assert!(first[..215].iter().all(|&v| v == 0.0));
    assert_eq!(
        first[215..218],
        [20.0 / 255.0, 148.0 / 255.0, 254.0 / 255.0]
    );
    assert_eq!(m.train.labels()[0], 7);

    let last = row(m.test.features().as_slice(), 784, 1999);
    assert!(last[..98].iter().all(|&v| v == 0.0));
    assert_eq!((last[98], last[125]), (15.0 / 255.0, 187.0 / 255.0));
    assert_eq!(m.test.labels()[1999], 2);

    assert_eq!(
        row(m.test.features().as_slice(), 784, 0)[237],
        140.0 / 255.0
    );
    assert_eq!(m.test.labels()[0], 9);

    let byte_sum = |r: &[f64]| r.iter().map(|v| (v * 255.0).round()).sum::<f64>();
    assert_eq!((byte_sum(first), byte_sum(last)), (21257.0, 21087.0));
}

#[test]
fn mnist10k_gives_the_values_of_mnist_load_dir_on_the_same_files() {
    // The shipped files, under the names `mnist::load_dir` looks for (all 10 000 images as
    // the "training" files, and again as the "test" files), read by the IDX reader.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nanotorch/data/mnist10k");
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        (
            "mnist10k-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
        ),
        (
            "mnist10k-labels-idx1-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
        ),
        ("mnist10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"),
        ("mnist10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    ] {
        std::fs::copy(src.join(from), dir.path().join(to)).unwrap();
    }
    let files = nanotorch::data::mnist::load_dir::<f32>(dir.path())
        .unwrap()
        .train;
    let shipped = datasets::mnist10k::<f32>().unwrap();
    let (x, n) = (files.features().as_slice(), 8000 * 784);
    assert_eq!(files.len(), 10_000);
    assert_eq!(shipped.train.features().as_slice(), &x[..n]);
    assert_eq!(shipped.test.features().as_slice(), &x[n..]);
    assert_eq!(shipped.train.labels(), &files.labels()[..8000]);
    assert_eq!(shipped.test.labels(), &files.labels()[8000..]);
    let first = row(shipped.train.features().as_slice(), 784, 0);
    assert_eq!(first[216], (148.0f64 / 255.0) as f32);
}
