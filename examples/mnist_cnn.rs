//! A LeNet-style convolutional network on the 10,000 real MNIST digits that ship inside the
//! library: trained on the first 8,000, tested on the last 2,000.
//!
//! ```sh
//! cargo run --release --example mnist_cnn
//! ```
//!
//! Every image size after a convolution or a pooling is computed by `network!` at compile
//! time: change `fc1` to `Linear<400, 128>` and the build fails with "`fc1` expects 400 input
//! features, but `flatten(h)` has 800 (32·5·5 = 800)". Training uses SGD with momentum, a
//! cosine learning-rate schedule, and random shifts of up to 2 pixels (data augmentation).
//! It prints one summary line per epoch,
//! the test confusion matrix, and writes `runs/mnist_cnn/model.safetensors` (PyTorch
//! state-dict names, BatchNorm running statistics included), `runs/mnist_cnn/curves.svg` and
//! `runs/mnist_cnn/graph.svg` (the graph `network!` differentiated).

use std::error::Error;
use std::time::Instant;

use nanotorch::checkpoint;
use nanotorch::data::datasets;
use nanotorch::prelude::*;
use nanotorch::rand::Rng;
use nanotorch::train::{ConfusionMatrix, EpochSummary, History, Progress, accuracy, argmax_rows};

network! {
    /// Two convolution blocks (conv → BatchNorm → ReLU → 2×2 max-pool) and two linear layers:
    /// `[B, 1, 28, 28] → [B, 16, 14, 14] → [B, 32, 5, 5] → 800 → 128 → 10`.
    pub struct LeNet {
        conv1: Conv2d<1, 16, 5, padding = 2>,
        bn1: BatchNorm2d<16>,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<16, 32, 5>,
        bn2: BatchNorm2d<32>,
        pool2: MaxPool2d<2>,
        fc1: Linear<800, 128>,
        fc2: Linear<128, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool1(relu(bn1(conv1(x))));
        let h = pool2(relu(bn2(conv2(h))));
        fc2(relu(fc1(flatten(h))))
    }
}

const SEED: u64 = 0;
const EPOCHS: usize = 15;
const BATCH: usize = 64;
/// MNIST's pixel mean and standard deviation (of the 60,000 training images, as PyTorch's
/// examples use them).
const MEAN: f32 = 0.1307;
const STD: f32 = 0.3081;

/// Images as the network takes them, `[B, 1, 28, 28]`.
type Images = Tensor<(Dyn, U1, U28, U28)>;

/// Copies a batch of flat 784-pixel rows into `[B, 1, 28, 28]` images (same row-major order).
fn as_images(rows: &Tensor<(Dyn, U784)>, images: &mut Images) {
    images.resize_to((
        Dyn(rows.dims()[0]),
        U1::default(),
        U28::default(),
        U28::default(),
    ));
    images.as_slice_mut().copy_from_slice(rows.as_slice());
}

/// Data augmentation: [`as_images`] with every image moved by a random shift of up to
/// `MAX_SHIFT` pixels in each direction (the uncovered border is background). A digit moved by
/// a pixel or two is the same digit, so the network sees a new variant of each image every
/// epoch instead of memorising the 8,000 it has.
fn shifted_images(rows: &Tensor<(Dyn, U784)>, images: &mut Images, rng: &mut impl Rng) {
    const SIDE: usize = 28;
    const MAX_SHIFT: i64 = 2;
    let background = -MEAN / STD; // a 0 pixel after normalisation
    as_images(rows, images);
    for (src, dst) in rows
        .as_slice()
        .chunks_exact(SIDE * SIDE)
        .zip(images.as_slice_mut().chunks_exact_mut(SIDE * SIDE))
    {
        let (dy, dx) = (
            rng.random_range(-MAX_SHIFT..=MAX_SHIFT),
            rng.random_range(-MAX_SHIFT..=MAX_SHIFT),
        );
        for (y, row) in dst.chunks_exact_mut(SIDE).enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                let (sy, sx) = (y as i64 - dy, x as i64 - dx);
                let inside = (0..SIDE as i64).contains(&sy) && (0..SIDE as i64).contains(&sx);
                *v = if inside {
                    src[sy as usize * SIDE + sx as usize]
                } else {
                    background
                };
            }
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    let mnist = datasets::mnist10k::<f32>()?;
    let (mut train, mut test) = (mnist.train, mnist.test);
    let normalize = |x: &mut Tensor<(Dyn, U784)>| {
        x.as_slice_mut()
            .iter_mut()
            .for_each(|v| *v = (*v - MEAN) / STD);
    };
    train.map_features(normalize);
    test.map_features(normalize);
    println!(
        "mnist_cnn: {} train / {} test images (the MNIST digits shipped in nanotorch), {} threads",
        train.len(),
        test.len(),
        nanotorch::num_threads()
    );

    let mut net = LeNet::<f32>::new(SEED);
    println!("{} parameters", net.num_params());
    let mut optimizer = Sgd::new(0.05).momentum(0.9).weight_decay(1e-4);
    let mut schedule = CosineAnnealingLr::new(&optimizer, EPOCHS, 0.0)?;
    let mut d_logits = Tensor::default(); // reused every step: ∂L/∂logits
    let mut images = Images::default();
    let mut test_images = Images::default();
    as_images(test.features(), &mut test_images);
    let mut history = History::new();
    let mut augment_rng = seeded_rng(SEED + 1000);

    let mut loader = train.loader(BATCH)?;
    let (mut x, mut y) = loader.batch_buffers();
    for epoch in 1..=EPOCHS {
        let epoch_start = Instant::now();
        net.train();
        loader = loader.shuffle(SEED + epoch as u64);
        let mut progress = Progress::new(epoch, EPOCHS, loader.num_batches());
        while loader.next_batch_into(&mut x, &mut y) {
            shifted_images(&x, &mut images, &mut augment_rng);
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
        "test accuracy {:.2}% on the 2000 held-out digits after {EPOCHS} epochs in {:.2?}",
        100.0 * accuracy(&predictions, test.labels())?,
        start.elapsed()
    );

    std::fs::create_dir_all("runs/mnist_cnn")?;
    checkpoint::save(&mut net, "runs/mnist_cnn/model.safetensors")?;
    history.write_svg("runs/mnist_cnn/curves.svg")?;
    // The graph network! differentiated, drawn at compile time.
    std::fs::write("runs/mnist_cnn/graph.svg", LeNet::graph_svg())?;
    println!("saved runs/mnist_cnn/model.safetensors, curves.svg and graph.svg");
    Ok(())
}
