//! DataLoader, stratified split and Standardizer.

use nanotorch::data::{
    Classification, DataError, DataLoader, Dataset, Regression, Standardizer, datasets,
    stratified_indices,
};
use nanotorch::shape::{U1, U2};
use nanotorch::{Dyn, Tensor};

/// n samples; sample i has features [i, -i] and label i % 3 — so a batch shows whether
/// features and labels stayed together.
fn toy(n: usize) -> Classification<U2, f64> {
    let x: Vec<f64> = (0..n).flat_map(|i| [i as f64, -(i as f64)]).collect();
    let x = Tensor::from_vec(&[n, 2], x).unwrap();
    Classification::new(
        x,
        (0..n).map(|i| i % 3).collect(),
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap()
}

/// The samples of one epoch, in order, checking every batch on the way.
fn epoch_ids(
    loader: &mut DataLoader<'_, Tensor<(Dyn, U2), f64>, Vec<usize>>,
) -> (Vec<usize>, Vec<usize>) {
    let (mut x, mut y) = loader.batch_buffers();
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    while loader.next_batch_into(&mut x, &mut y) {
        assert_eq!(x.dims()[0], y.len());
        for (r, &label) in x.as_slice().chunks(2).zip(&y) {
            let id = r[0] as usize;
            assert_eq!(r[1], -r[0]);
            assert_eq!(label, id % 3, "labels travel with their features");
            ids.push(id);
        }
        sizes.push(y.len());
    }
    (ids, sizes)
}

#[test]
fn in_order_batches_with_a_partial_last_batch() {
    let d = toy(10);
    let mut loader = d.loader(4).unwrap();
    assert_eq!(loader.num_batches(), 3);
    let (ids, sizes) = epoch_ids(&mut loader);
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    assert_eq!(sizes, [4, 4, 2]);
    // The next call starts a new epoch.
    let (ids2, _) = epoch_ids(&mut loader);
    assert_eq!(ids2, ids);
}

#[test]
fn drop_last_drops_the_partial_batch() {
    let d = toy(10);
    let mut loader = d.loader(4).unwrap().drop_last(true);
    assert_eq!(loader.num_batches(), 2);
    let (ids, sizes) = epoch_ids(&mut loader);
    assert_eq!(sizes, [4, 4]);
    assert_eq!(ids.len(), 8);
    let sizes: Vec<usize> = loader.epoch().map(|(_, y)| y.len()).collect();
    assert_eq!(sizes, [4, 4]);
}

#[test]
fn shuffling_is_a_seeded_permutation_that_changes_each_epoch() {
    let d = toy(50);
    let mut a = d.loader(8).unwrap().shuffle(7);
    let mut b = d.loader(8).unwrap().shuffle(7);
    let mut c = d.loader(8).unwrap().shuffle(8);
    let (a1, sizes) = epoch_ids(&mut a);
    assert_eq!(sizes, [8, 8, 8, 8, 8, 8, 2]);
    let mut sorted = a1.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..50).collect::<Vec<_>>(),
        "every sample exactly once"
    );
    assert_ne!(a1, sorted, "shuffled");
    let a2 = epoch_ids(&mut a).0;
    assert_ne!(a1, a2, "a new order each epoch");
    assert_eq!(epoch_ids(&mut b).0, a1, "same seed, same first epoch");
    assert_eq!(epoch_ids(&mut b).0, a2, "same seed, same second epoch");
    assert_ne!(epoch_ids(&mut c).0, a1, "another seed, another order");
}

#[test]
fn the_epoch_iterator_matches_the_buffer_api() {
    let d = toy(23);
    let mut a = d.loader(5).unwrap().shuffle(3);
    let mut b = d.loader(5).unwrap().shuffle(3);
    let from_iter: Vec<usize> = a
        .epoch()
        .flat_map(|(x, _)| {
            x.as_slice()
                .chunks(2)
                .map(|r| r[0] as usize)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(from_iter, epoch_ids(&mut b).0);
    // An iterator that is run out stays finished (it does not roll into the next epoch).
    let mut e = a.epoch();
    assert_eq!(e.by_ref().count(), 5);
    assert!(e.next().is_none());
}

#[test]
fn full_batches_reuse_the_buffers() {
    let d = toy(64);
    let mut loader = d.loader(16).unwrap().shuffle(1);
    let (mut x, mut y) = loader.batch_buffers();
    assert!(loader.next_batch_into(&mut x, &mut y));
    let (px, py) = (x.as_slice().as_ptr(), y.as_ptr());
    let mut n = 1;
    while loader.next_batch_into(&mut x, &mut y) {
        assert_eq!(x.as_slice().as_ptr(), px, "feature buffer reallocated");
        assert_eq!(y.as_ptr(), py, "label buffer reallocated");
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn loader_rejects_bad_settings() {
    let d = toy(5);
    assert!(matches!(d.loader(0), Err(DataError::Invalid { .. })));
    let x = Tensor::<(Dyn, U2), f32>::zeros((Dyn(3), U2::default()));
    let y = vec![0usize; 4];
    let err = DataLoader::new(&x, &y, 2).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                features: 3,
                labels: 4,
                ..
            }
        ),
        "{err}"
    );
    // An empty data set yields no batch.
    let empty = Tensor::<(Dyn, U2), f32>::zeros((Dyn(0), U2::default()));
    let none: Vec<usize> = Vec::new();
    let mut l = DataLoader::new(&empty, &none, 2).unwrap();
    assert_eq!(l.epoch().count(), 0);
}

#[test]
fn regression_batches_carry_their_targets() {
    let d = datasets::diabetes::<f32>().unwrap();
    let mut loader = d.loader(100).unwrap().shuffle(0);
    let (mut x, mut t) = loader.batch_buffers();
    let mut seen = 0;
    while loader.next_batch_into(&mut x, &mut t) {
        assert_eq!(t.dims(), &[x.dims()[0], 1]);
        seen += t.dims()[0];
    }
    assert_eq!(seen, 442);
}

#[test]
fn stratified_split_keeps_class_shares() {
    let d = datasets::breast_cancer::<f32>().unwrap();
    let (train, test) = d.stratified_split(0.25, 0).unwrap();
    // ⌈0.25 · 569⌉ = 143 test samples; 212 · 143 / 569 = 53.3 malignant, 89.7 benign.
    assert_eq!(test.len(), 143);
    assert_eq!(train.len(), 569 - 143);
    assert_eq!(test.class_counts(), [53, 90]);
    assert_eq!(train.class_counts(), [212 - 53, 357 - 90]);

    let iris = datasets::iris::<f32>().unwrap();
    let (tr, te) = iris.stratified_split(0.2, 1).unwrap();
    assert_eq!(te.class_counts(), [10, 10, 10]);
    assert_eq!(tr.class_counts(), [40, 40, 40]);
}

#[test]
fn stratified_indices_partition_and_depend_only_on_the_seed() {
    let labels: Vec<usize> = (0..101).map(|i| (i * 7) % 4).collect();
    let (train, test) = stratified_indices(&labels, 4, 0.3, 5).unwrap();
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..101).collect::<Vec<_>>(), "disjoint and complete");
    assert_eq!(test.len(), 31); // ⌈30.3⌉
    for c in 0..4 {
        let n_c = labels.iter().filter(|&&l| l == c).count() as f64;
        let t_c = test.iter().filter(|&&i| labels[i] == c).count() as f64;
        assert!(
            (t_c - n_c * 31.0 / 101.0).abs() < 1.0,
            "class {c}: {t_c} of {n_c}"
        );
    }
    assert_eq!(
        stratified_indices(&labels, 4, 0.3, 5).unwrap(),
        (train.clone(), test.clone())
    );
    assert_ne!(stratified_indices(&labels, 4, 0.3, 6).unwrap().1, test);
}

#[test]
fn split_rejects_bad_fractions_and_labels() {
    let d = toy(10);
    for f in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        assert!(
            matches!(d.stratified_split(f, 0), Err(DataError::Invalid { .. })),
            "{f}"
        );
    }
    assert!(matches!(
        stratified_indices(&[0, 1, 3], 3, 0.5, 0),
        Err(DataError::LabelOutOfRange {
            label: 3,
            index: 2,
            ..
        })
    ));
}

#[test]
fn regression_split_partitions_the_rows() {
    let x = Tensor::<(Dyn, U1), f64>::from_vec(&[20, 1], (0..20).map(f64::from).collect()).unwrap();
    let t = Tensor::<(Dyn, U1), f64>::from_vec(
        &[20, 1],
        (0..20).map(|i| f64::from(i) * 10.0).collect(),
    )
    .unwrap();
    let d = Regression::new(x, t).unwrap();
    let (train, test) = d.split(0.25, 9).unwrap();
    assert_eq!((train.len(), test.len()), (15, 5));
    let mut ids: Vec<f64> = train
        .features()
        .as_slice()
        .iter()
        .chain(test.features().as_slice())
        .copied()
        .collect();
    ids.sort_by(f64::total_cmp);
    assert_eq!(ids, (0..20).map(f64::from).collect::<Vec<_>>());
    for (x, t) in test
        .features()
        .as_slice()
        .iter()
        .zip(test.targets().as_slice())
    {
        assert_eq!(*t, x * 10.0, "targets stay with their rows");
    }
}

#[test]
fn standardizer_uses_training_statistics_only() {
    let d = datasets::wine::<f64>().unwrap();
    let (mut train, mut test) = d.stratified_split(0.3, 0).unwrap();
    let scaler = Standardizer::fit(train.features()).unwrap();

    // Mean and population std of column 0, computed independently.
    let col0: Vec<f64> = train
        .features()
        .as_slice()
        .chunks(13)
        .map(|r| r[0])
        .collect();
    let m = col0.iter().sum::<f64>() / col0.len() as f64;
    let s = (col0.iter().map(|v| (v - m).powi(2)).sum::<f64>() / col0.len() as f64).sqrt();
    assert!((scaler.mean().as_slice()[0] - m).abs() < 1e-12);
    assert!((scaler.std().as_slice()[0] - s).abs() < 1e-12);

    let raw_test = test.features().clone();
    train.map_features(|x| scaler.transform(x));
    test.map_features(|x| scaler.transform(x));
    let n = train.len() as f64;
    for j in 0..13 {
        let col: Vec<f64> = train
            .features()
            .as_slice()
            .chunks(13)
            .map(|r| r[j])
            .collect();
        let mean = col.iter().sum::<f64>() / n;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
            "feature {j}: {mean} {var}"
        );
    }
    // The test part used the training statistics, not its own.
    let t0 = test.features().as_slice()[0];
    assert!((t0 - (raw_test.as_slice()[0] - m) / s).abs() < 1e-12);
    let mut back = test.features().clone();
    scaler.inverse_transform(&mut back);
    for (a, b) in back.as_slice().iter().zip(raw_test.as_slice()) {
        assert!((a - b).abs() < 1e-9 * b.abs().max(1.0));
    }
}

#[test]
fn standardizer_leaves_constant_features_unscaled() {
    let d = datasets::digits::<f32>().unwrap();
    let scaler = Standardizer::fit(d.features()).unwrap();
    // Pixel 0 (top-left corner) is 0 in every image.
    assert_eq!(scaler.std().as_slice()[0], 1.0);
    let x = scaler.transformed(d.features());
    assert!(!x.has_non_finite());
    assert!(x.as_slice().chunks(64).all(|r| r[0] == 0.0));
    assert!(Standardizer::fit(&Tensor::<(Dyn, U2), f32>::zeros((Dyn(0), U2::default()))).is_err());
}
