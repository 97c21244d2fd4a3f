//! A tour of `nanotorch::data` and `nanotorch::train` without any training: classify the
//! embedded handwritten digits by their nearest class centroid and print the confusion matrix.
//!
//! ```sh
//! cargo run --release --example digits_centroids
//! ```

use nanotorch::data::{Dataset, Standardizer, datasets};
use nanotorch::shape::U10;
use nanotorch::train::{ConfusionMatrix, accuracy, argmax_rows};
use nanotorch::{Dyn, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1797 images of 8×8 pixels, embedded in the library: no file, no download.
    let digits = datasets::digits::<f32>()?;
    let (mut train, mut test) = digits.stratified_split(0.25, 0)?;
    println!("train {} images, test {} images", train.len(), test.len());

    // Standardize with the training part's statistics only.
    let scaler = Standardizer::fit(train.features())?;
    train.map_features(|x| scaler.transform(x));
    test.map_features(|x| scaler.transform(x));

    // Class centroids, accumulated batch by batch with reused buffers.
    let mut sums = vec![[0.0f32; 64]; 10];
    let mut counts = [0usize; 10];
    let mut loader = train.loader(128)?.shuffle(1);
    let (mut x, mut y) = loader.batch_buffers();
    while loader.next_batch_into(&mut x, &mut y) {
        for (row, &label) in x.as_slice().chunks(64).zip(&y) {
            sums[label].iter_mut().zip(row).for_each(|(s, v)| *s += v);
            counts[label] += 1;
        }
    }

    // Score = −‖x − centroid‖², one column per class; the prediction is the best score.
    let n = test.len();
    let mut scores = Vec::with_capacity(n * 10);
    for row in test.features().as_slice().chunks(64) {
        for (sum, &count) in sums.iter().zip(&counts) {
            let d2: f32 = row
                .iter()
                .zip(sum)
                .map(|(v, s)| (v - s / count as f32).powi(2))
                .sum();
            scores.push(-d2);
        }
    }
    let scores = Tensor::<(Dyn, U10)>::from_vec(&[n, 10], scores)?;
    let predictions = argmax_rows(&scores);

    let mut confusion = ConfusionMatrix::with_class_names(test.class_names().to_vec());
    confusion.add_batch(test.labels(), &predictions)?;
    println!("\n{confusion}\n");
    println!(
        "nearest-centroid test accuracy: {:.2}%",
        100.0 * accuracy(&predictions, test.labels())?
    );
    Ok(())
}
