//! NanoTorch's main example: an MLP declared with `network!`, trained on the 8×8 handwritten
//! digits that ship inside the library.
//!
//! ```sh
//! cargo run --release --example digits
//! ```
//!
//! It prints one summary line per epoch, the test confusion matrix, and writes
//! `runs/digits/model.safetensors` (PyTorch state-dict names: `fc1.weight`, ...),
//! `runs/digits/curves.svg` (loss and accuracy per epoch), and `runs/digits/graph.svg` (the graph
//! `network!` differentiated, `DigitsMlp::graph_svg()`).

use std::error::Error;
use std::time::Instant;

use nanotorch::checkpoint;
use nanotorch::data::{Dataset, Standardizer, datasets};
use nanotorch::prelude::*;
use nanotorch::train::{ConfusionMatrix, EpochSummary, History, Progress, accuracy, argmax_rows};

network! {
    /// A two-layer perceptron for 8×8 digits: 64 pixels → 128 hidden units → 10 classes.
    pub struct DigitsMlp {
        fc1: Linear<64, 128>,
        fc2: Linear<128, 10>,
    }
    fn forward(x: [B, 64]) -> [B, 10] = fc1 -> relu -> fc2;
}

const SEED: u64 = 0;
const EPOCHS: usize = 20;
const BATCH: usize = 32;

fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();

    // 1797 images, split 80/20 with every class in the same proportion on both sides.
    let digits = datasets::digits::<f32>()?;
    let (mut train, mut test) = digits.stratified_split(0.2, SEED)?;
    // Standardise with statistics of the training part only (no peeking at the test set).
    let scaler = Standardizer::fit(train.features())?;
    train.map_features(|x| scaler.transform(x));
    test.map_features(|x| scaler.transform(x));
    println!("digits: {} train / {} test images", train.len(), test.len());

    let mut net = DigitsMlp::<f32>::new(SEED);
    let mut optimizer = Sgd::new(0.05).momentum(0.9);
    let mut d_logits = Tensor::default(); // reused every step: ∂L/∂logits
    let mut history = History::new();

    let mut loader = train.loader(BATCH)?;
    let (mut x, mut y) = loader.batch_buffers();
    for epoch in 1..=EPOCHS {
        let epoch_start = Instant::now();
        net.train();
        loader = loader.shuffle(SEED + epoch as u64);
        let mut progress = Progress::new(epoch, EPOCHS, loader.num_batches());
        while loader.next_batch_into(&mut x, &mut y) {
            net.zero_grad();
            let logits = net.forward(&x);
            let correct = argmax_rows(logits)
                .iter()
                .zip(&y)
                .filter(|(p, t)| p == t)
                .count();
            let loss = cross_entropy_into(logits, &y, Reduction::Mean, &mut d_logits)?;
            net.backward(&d_logits)?;
            optimizer.step(&mut net);
            progress.step(f64::from(loss), y.len(), Some(correct));
        }
        let meter = progress.finish();

        net.eval();
        let logits = net.predict(test.features());
        let (test_loss, _) = cross_entropy(&logits, test.labels(), Reduction::Mean)?;
        let test_acc = accuracy(&argmax_rows(&logits), test.labels())?;
        let summary = EpochSummary::new(epoch, EPOCHS, meter.loss(), epoch_start.elapsed())
            .with_train_accuracy(meter.accuracy().unwrap_or(0.0))
            .with_test(f64::from(test_loss), Some(test_acc));
        println!("{summary}");
        history.push(summary);
    }

    let logits = net.predict(test.features());
    let predictions = argmax_rows(&logits);
    let mut confusion = ConfusionMatrix::with_class_names(test.class_names().to_vec());
    confusion.add_batch(test.labels(), &predictions)?;
    println!("\n{confusion}\n");
    println!(
        "test accuracy {:.2}% after {EPOCHS} epochs in {:.2?}",
        100.0 * accuracy(&predictions, test.labels())?,
        start.elapsed()
    );

    std::fs::create_dir_all("runs/digits")?;
    checkpoint::save(&mut net, "runs/digits/model.safetensors")?;
    history.write_svg("runs/digits/curves.svg")?;
    // The graph network! differentiated, drawn at compile time.
    std::fs::write("runs/digits/graph.svg", DigitsMlp::graph_svg())?;
    println!("saved runs/digits/model.safetensors, curves.svg and graph.svg");
    Ok(())
}
