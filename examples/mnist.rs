//! MNIST (or Fashion-MNIST) from IDX files you already have:
//!
//! ```sh
//! cargo run --release --example mnist -- path/to/dir
//! ```
//!
//! The directory must hold `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (each may also be `.gz`).
//! NanoTorch downloads nothing.

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use nanotorch::data::{Dataset, mnist};
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

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!(
            "usage: cargo run --release --example mnist -- <dir>\n\n\
             <dir> must hold the MNIST (or Fashion-MNIST) IDX files, raw or .gz:\n  \
             train-images-idx3-ubyte  train-labels-idx1-ubyte\n  \
             t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte"
        );
        return ExitCode::from(2);
    };
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str) -> Result<(), Box<dyn Error>> {
    let data = mnist::load_dir::<f32>(dir)?;
    println!(
        "{} training images, {} test images",
        data.train.len(),
        data.test.len()
    );
    let mut net = MnistMlp::<f32>::new(0);
    let mut optimizer = Sgd::new(0.05).momentum(0.9);
    let mut d_logits = Tensor::default();
    let epochs = 5;
    let mut loader = data.train.loader(128)?;
    let (mut x, mut y) = loader.batch_buffers();
    for epoch in 1..=epochs {
        let start = Instant::now();
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
        let acc = accuracy(&argmax_rows(&logits), data.test.labels())?;
        let (test_loss, _) = cross_entropy(&logits, data.test.labels(), Reduction::Mean)?;
        println!(
            "{}",
            EpochSummary::new(epoch, epochs, meter.loss(), start.elapsed())
                .with_test(f64::from(test_loss), Some(acc))
        );
    }
    Ok(())
}
