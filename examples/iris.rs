//! A tabular classifier: the iris flowers (4 measurements, 3 species), with dropout and Adam.
//!
//! ```sh
//! cargo run --release --example iris
//! ```

use std::error::Error;
use std::time::Instant;

use nanotorch::data::{Dataset, Standardizer, datasets};
use nanotorch::prelude::*;
use nanotorch::train::{ConfusionMatrix, EpochSummary, Progress, accuracy, argmax_rows};

network! {
    /// 4 measurements → 16 hidden units (with dropout) → 3 species.
    pub struct IrisNet {
        hidden: Linear<4, 16>,
        out: Linear<16, 3>,
    }
    fn forward(x: [B, 4]) -> [B, 3] {
        let h = dropout(tanh(hidden(x)), 0.1);
        out(h)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let iris = datasets::iris::<f32>()?;
    let (mut train, mut test) = iris.stratified_split(0.3, 7)?;
    let scaler = Standardizer::fit(train.features())?;
    train.map_features(|x| scaler.transform(x));
    test.map_features(|x| scaler.transform(x));

    let mut net = IrisNet::<f32>::new(7);
    let mut optimizer = Adam::new().with_lr(0.01);
    let mut d_logits = Tensor::default();
    let epochs = 60;
    let mut loader = train.loader(16)?;
    let (mut x, mut y) = loader.batch_buffers();
    for epoch in 1..=epochs {
        let start = Instant::now();
        net.train();
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
        if epoch % 10 == 0 {
            net.eval();
            let logits = net.predict(test.features());
            let acc = accuracy(&argmax_rows(&logits), test.labels())?;
            let (test_loss, _) = cross_entropy(&logits, test.labels(), Reduction::Mean)?;
            let summary = EpochSummary::new(epoch, epochs, meter.loss(), start.elapsed())
                .with_test(f64::from(test_loss), Some(acc));
            println!("{summary}");
        }
    }
    let predictions = argmax_rows(&net.predict(test.features()));
    let mut confusion = ConfusionMatrix::with_class_names(test.class_names().to_vec());
    confusion.add_batch(test.labels(), &predictions)?;
    println!("\n{confusion}");
    Ok(())
}
