//! A small convolutional network on the 8×8 handwritten digits that ship inside the library —
//! the same data, split and training loop as the MLP of `examples/digits.rs`, with the 64
//! pixels seen as an image instead of a flat vector.
//!
//! ```sh
//! cargo run --release --example digits_cnn
//! ```
//!
//! Each batch's 64 features are copied into a `[B, 1, 8, 8]` image tensor. Two convolution
//! blocks (3×3 conv with padding 1 → BatchNorm → ReLU → 2×2 max-pool) take the image from
//! 8×8 to 4×4 to 2×2; `network!` computes those sizes at compile time and checks that
//! `flatten(h)` has the 32·2·2 = 128 features `fc1` expects. Pixels (0..16) are standardised
//! as in `examples/digits.rs`; training uses SGD with momentum and a cosine learning-rate
//! schedule. It prints one summary line per epoch, the test confusion matrix, and writes
//! `runs/digits_cnn/model.safetensors` (PyTorch state-dict names, BatchNorm running
//! statistics included), `runs/digits_cnn/curves.svg` and `runs/digits_cnn/graph.svg` (the graph
//! `network!` differentiated).

use std::error::Error;
use std::time::Instant;

use nanotorch::checkpoint;
use nanotorch::data::{Standardizer, datasets};
use nanotorch::prelude::*;
use nanotorch::train::{ConfusionMatrix, EpochSummary, History, Progress, accuracy, argmax_rows};

network! {
    /// Two convolution blocks and two linear layers:
    /// `[B, 1, 8, 8] → [B, 16, 4, 4] → [B, 32, 2, 2] → 128 → 64 → 10`.
    pub struct DigitsCnn {
        conv1: Conv2d<1, 16, 3, padding = 1>,
        bn1: BatchNorm2d<16>,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<16, 32, 3, padding = 1>,
        bn2: BatchNorm2d<32>,
        pool2: MaxPool2d<2>,
        fc1: Linear<128, 64>,
        fc2: Linear<64, 10>,
    }
    fn forward(x: [B, 1, 8, 8]) -> [B, 10] {
        let h = pool1(relu(bn1(conv1(x))));
        let h = pool2(relu(bn2(conv2(h))));
        fc2(relu(fc1(flatten(h))))
    }
}

const SEED: u64 = 0;
const EPOCHS: usize = 20;
const BATCH: usize = 32;

/// Images as the network takes them, `[B, 1, 8, 8]`.
type Images = Tensor<(Dyn, U1, U8, U8)>;

/// Copies a batch of flat 64-pixel rows into `[B, 1, 8, 8]` images (same row-major order).
fn as_images(rows: &Tensor<(Dyn, U64)>, images: &mut Images) {
    images.resize_to((
        Dyn(rows.dims()[0]),
        U1::default(),
        U8::default(),
        U8::default(),
    ));
    images.as_slice_mut().copy_from_slice(rows.as_slice());
}

fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();

    // 1797 images, split 80/20 with every class in the same proportion on both sides (the
    // split of examples/digits.rs).
    let digits = datasets::digits::<f32>()?;
    let (mut train, mut test) = digits.stratified_split(0.2, SEED)?;
    // Standardised pixel by pixel with statistics of the training part only, as the MLP does
    // (pixels that are 0 in every training image stay 0). Scaling to [0, 1] instead does as
    // well within the noise of a 360-image test set.
    let scaler = Standardizer::fit(train.features())?;
    train.map_features(|x| scaler.transform(x));
    test.map_features(|x| scaler.transform(x));
    println!(
        "digits_cnn: {} train / {} test images as [B, 1, 8, 8], {} threads",
        train.len(),
        test.len(),
        nanotorch::num_threads()
    );

    let mut net = DigitsCnn::<f32>::new(SEED);
    println!("{} parameters", net.num_params());
    let mut optimizer = Sgd::new(0.05).momentum(0.9).weight_decay(1e-4);
    let mut schedule = CosineAnnealingLr::new(&optimizer, EPOCHS, 0.0)?;
    let mut d_logits = Tensor::default(); // reused every step: ∂L/∂logits
    let mut images = Images::default();
    let mut test_images = Images::default();
    as_images(test.features(), &mut test_images);
    let mut history = History::new();

    let mut loader = train.loader(BATCH)?;
    let (mut x, mut y) = loader.batch_buffers();
    for epoch in 1..=EPOCHS {
        let epoch_start = Instant::now();
        net.train();
        loader = loader.shuffle(SEED + epoch as u64);
        let mut progress = Progress::new(epoch, EPOCHS, loader.num_batches());
        while loader.next_batch_into(&mut x, &mut y) {
            as_images(&x, &mut images);
            net.zero_grad();
            let logits = net.forward(&images);
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
        schedule.step(&mut optimizer);

        net.eval();
        let logits = net.predict(&test_images);
        let (test_loss, _) = cross_entropy(&logits, test.labels(), Reduction::Mean)?;
        let test_acc = accuracy(&argmax_rows(&logits), test.labels())?;
        let summary = EpochSummary::new(epoch, EPOCHS, meter.loss(), epoch_start.elapsed())
            .with_train_accuracy(meter.accuracy().unwrap_or(0.0))
            .with_test(f64::from(test_loss), Some(test_acc));
        println!("{summary}");
        history.push(summary);
    }

    let predictions = argmax_rows(&net.predict(&test_images));
    let mut confusion = ConfusionMatrix::with_class_names(test.class_names().to_vec());
    confusion.add_batch(test.labels(), &predictions)?;
    println!("\n{confusion}\n");
    println!(
        "test accuracy {:.2}% after {EPOCHS} epochs in {:.2?}",
        100.0 * accuracy(&predictions, test.labels())?,
        start.elapsed()
    );

    std::fs::create_dir_all("runs/digits_cnn")?;
    checkpoint::save(&mut net, "runs/digits_cnn/model.safetensors")?;
    history.write_svg("runs/digits_cnn/curves.svg")?;
    // The graph network! differentiated, drawn at compile time.
    std::fs::write("runs/digits_cnn/graph.svg", DigitsCnn::graph_svg())?;
    println!("saved runs/digits_cnn/model.safetensors, curves.svg and graph.svg");
    Ok(())
}
