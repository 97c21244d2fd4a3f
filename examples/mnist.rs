//! An MLP (784 → 256 → 128 → 10) on real MNIST digits, with no download:
//!
//! ```sh
//! cargo run --release --example mnist                # the 10 000 digits shipped in the library
//! cargo run --release --example mnist -- path/to/dir # the full MNIST from IDX files you have
//! ```
//!
//! With no argument it trains on the 10 000 MNIST digits embedded in NanoTorch
//! ([`datasets::mnist10k`]: the first 8 000 for training, the last 2 000 for testing) for
//! 10 epochs. With a directory it reads the full data set instead — `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
//! raw or `.gz` (MNIST or Fashion-MNIST: 60 000 training and 10 000 test images) — and
//! trains 5 epochs. Pixels are `byte / 255` either way; NanoTorch downloads nothing.
//!
//! It prints one summary line per epoch and the final test accuracy with the total time.

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use nanotorch::data::{Dataset, datasets, mnist};
use nanotorch::prelude::*;
use nanotorch::train::{EpochSummary, Progress, accuracy, argmax_rows};

network! {
    /// 784 pixels → 256 → 128 → 10 classes.
    pub struct MnistMlp {
        fc1: Linear<784, 256>,
        fc2: Linear<256, 128>,
        fc3: Linear<128, 10>,
    }
    fn forward(x: [B, 784]) -> [B, 10] = fc1 -> relu -> fc2 -> relu -> fc3;
}

const USAGE: &str = "\
usage: cargo run --release --example mnist [-- <dir>]

  no argument  train on the 10 000 MNIST digits shipped in NanoTorch
               (first 8 000 for training, last 2 000 for testing)
  <dir>        train on the full MNIST (or Fashion-MNIST) from IDX files, raw or .gz:
                 train-images-idx3-ubyte  train-labels-idx1-ubyte
                 t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = match args.as_slice() {
        [] => None,
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [dir] => Some(dir.as_str()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: Option<&str>) -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    // The shipped set has 8× fewer training images than the full one: more epochs.
    let (data, epochs, source) = match dir {
        None => (
            datasets::mnist10k::<f32>()?,
            10,
            "the shipped MNIST 10k".to_string(),
        ),
        Some(dir) => (mnist::load_dir::<f32>(dir)?, 5, dir.to_string()),
    };
    println!(
        "{source}: {} training images, {} test images (loaded in {:.2?})",
        data.train.len(),
        data.test.len(),
        start.elapsed()
    );
    let mut net = MnistMlp::<f32>::new(0);
    let mut optimizer = Sgd::new(0.05).momentum(0.9);
    let mut d_logits = Tensor::default();
    let mut loader = data.train.loader(128)?;
    let (mut x, mut y) = loader.batch_buffers();
    let mut test_acc = 0.0;
    for epoch in 1..=epochs {
        let epoch_start = Instant::now();
        loader = loader.shuffle(epoch as u64);
        let mut progress = Progress::new(epoch, epochs, loader.num_batches());
        while loader.next_batch_into(&mut x, &mut y) {
            net.zero_grad();
            let logits = net.forward(&x);
            let loss = cross_entropy_into(logits, &y, Reduction::Mean, &mut d_logits)?;
            net.backward(&d_logits)?;
            optimizer.step(&mut net);
            progress.step(f64::from(loss), y.len(), None);
        }
        let meter = progress.finish();
        let logits = net.predict(data.test.features());
        test_acc = accuracy(&argmax_rows(&logits), data.test.labels())?;
        let (test_loss, _) = cross_entropy(&logits, data.test.labels(), Reduction::Mean)?;
        println!(
            "{}",
            EpochSummary::new(epoch, epochs, meter.loss(), epoch_start.elapsed())
                .with_test(f64::from(test_loss), Some(test_acc))
        );
    }
    println!(
        "\ntest accuracy {:.2}% after {epochs} epochs in {:.2?}",
        100.0 * test_acc,
        start.elapsed()
    );
    Ok(())
}
