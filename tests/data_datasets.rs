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
