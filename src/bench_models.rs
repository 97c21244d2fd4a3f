//! The nine training steps the speed benchmarks time (`benches/train_step.rs`,
//! `examples/speed_compare.rs`, `tests/zero_alloc.rs`), declared once so all of them run the
//! same code. `scripts/bench_torch.py` builds the same nine in PyTorch.
//!
//! | name | network | batch | loss | optimizer |
//! |---|---|---|---|---|
//! | `tiny` | 3 → 3 → 5 → 1, sigmoid | 50 | MSE | SGD |
//! | `digits` | 64 → 128 → 10, ReLU | 32 | cross-entropy | SGD |
//! | `mnist` | 784 → 256 → 128 → 10, ReLU | 128 | cross-entropy | SGD |
//! | `residual` | 64 → 32, 32 → 32 (+ skip), 32 → 10, ReLU | 64 | cross-entropy | Adam |
//! | `gpt` | the GPT of `examples/sort.rs` (2 blocks, 4 heads, 48 wide, 11 tokens over 3) | 64 | cross-entropy on the last 6 positions | AdamW, gradient clipping |
//! | `char_gpt` | the GPT of `examples/char_gpt.rs` (4 blocks, 4 heads, 128 wide, 64 characters over 73) | 12 | cross-entropy on every position | AdamW (decay on matrices only), gradient clipping |
//! | `lstm` | embedding 73 → 64, `Lstm<64, 256>` (PyTorch's LSTM layer) over 64 steps, 256 → 73 | 32 | cross-entropy at every step | Adam |
//! | `char_lstm` | the LSTM of `examples/char_lstm.rs`: embedding 73 → 64, `Lstm<64, 256>`, `Lstm<256, 256>`, 256 → 73, the final state carried into the next step | 32 | cross-entropy at every step | Adam, gradient clipping |
//! | `lenet` | conv 1→16 k5 p2, BN, ReLU, pool 2, conv 16→32 k5, BN, ReLU, pool 2, 800 → 128 → 10 on `[B, 1, 28, 28]` | 64 | cross-entropy | SGD, momentum 0.9 |
//!
//! One step is what a training loop does per batch: `zero_grad`, `forward`, the loss with its
//! gradient (`_into`, into a kept buffer), `backward`, the optimizer's `step`.
//!
//! The classifiers cycle through [`LABEL_SETS`] random labellings of their one input batch.
//! With a single fixed batch and fixed labels, a network memorises it within a few thousand
//! steps, its loss gradient underflows into subnormal floats, and every product slows down
//! several-fold — a benchmark artefact, not training. Contradictory labels keep the
//! gradients at their ordinary size.

use nanotorch::SeededRng;
use nanotorch::prelude::*;
use nanotorch::rand::Rng;

network! {
    /// The Python NanoTorch's README model, 3 → 3 → 5 → 1 with sigmoids.
    pub struct Tiny {
        fc1: Linear<3, 3>,
        fc2: Linear<3, 5>,
        fc3: Linear<5, 1>,
    }
    fn forward(x: [B, 3]) -> [B, 1] {
        let h = sigmoid(fc1(x));
        fc3(sigmoid(fc2(h)))
    }
}

network! {
    /// An 8×8-digits classifier, 64 → 128 → 10 with a ReLU.
    pub struct Digits {
        fc1: Linear<64, 128>,
        fc2: Linear<128, 10>,
    }
    fn forward(x: [B, 64]) -> [B, 10] = fc1 -> relu -> fc2;
}

network! {
    /// An MNIST-sized classifier, 784 → 256 → 128 → 10 with ReLUs.
    pub struct Mnist {
        fc1: Linear<784, 256>,
        fc2: Linear<256, 128>,
        fc3: Linear<128, 10>,
    }
    fn forward(x: [B, 784]) -> [B, 10] = fc1 -> relu -> fc2 -> relu -> fc3;
}

network! {
    /// A residual block between an input layer and a head.
    pub struct Residual {
        inp: Linear<64, 32>,
        block: Linear<32, 32>,
        head: Linear<32, 10>,
    }
    fn forward(x: [B, 64]) -> [B, 10] {
        let h = relu(inp(x));
        let r = h + relu(block(h));
        head(r)
    }
}

network! {
    /// The LeNet of `examples/mnist_cnn.rs`: two conv blocks with BatchNorm and max-pooling,
    /// then 800 → 128 → 10.
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

/// The names of the nine benchmarks, in table order.
pub const NAMES: [&str; 9] = [
    "tiny",
    "digits",
    "mnist",
    "residual",
    "lenet",
    "gpt",
    "char_gpt",
    "lstm",
    "char_lstm",
];

/// One benchmark: a model, its optimizer, one batch of data and the loss-gradient buffer.
pub trait TrainStep {
    /// Runs one full training step on the batch and returns the loss.
    fn step(&mut self) -> f32;

    /// Replaces the batch with `batch` new random samples (e.g. a smaller last batch).
    fn set_batch(&mut self, batch: usize, seed: u64);

    /// Multiply-adds ×2 of the step's matrix products at the current batch size: forward,
    /// `dW` of every layer, `dX` of every layer but the first.
    fn gemm_flops(&self) -> f64;
}

/// Uniform random inputs in `[-1, 1)`: `batch` samples of the shape `S` gives them.
fn features<S: BatchFirst<Batch = Dyn>>(batch: usize, rng: &mut SeededRng) -> Tensor<S> {
    Tensor::rand_uniform(S::with_batch(Dyn(batch)), -1.0, 1.0, rng)
}

/// How many labellings of its input batch a classifier benchmark cycles through.
pub const LABEL_SETS: usize = 16;

/// [`LABEL_SETS`] lists of `batch` random class indices below `classes`.
fn label_sets(batch: usize, classes: usize, rng: &mut SeededRng) -> Vec<Vec<usize>> {
    (0..LABEL_SETS)
        .map(|_| (0..batch).map(|_| rng.random_range(0..classes)).collect())
        .collect()
}

/// `2·m·n·k` summed over the products of a chain of linear layers of the given sizes.
fn chain_flops(batch: usize, sizes: &[(usize, usize)]) -> f64 {
    let mut flops = 0.0;
    for (i, &(inp, out)) in sizes.iter().enumerate() {
        let one = 2.0 * (batch * inp * out) as f64;
        // forward, dW, and dX except for the first layer
        flops += if i == 0 { 2.0 * one } else { 3.0 * one };
    }
    flops
}

/// The README model on `y = x·[1, 2, 3]`: MSE and SGD (lr 0.1).
pub struct TinyStep {
    net: Tiny,
    opt: Sgd,
    x: Tensor<(Dyn, U3)>,
    y: Tensor<(Dyn, U1)>,
    dy: Tensor<(Dyn, U1)>,
}

impl TinyStep {
    /// The model, optimizer and a batch of 50.
    pub fn new() -> Self {
        let mut s = Self {
            net: Tiny::new(0),
            opt: Sgd::new(0.1),
            x: Tensor::default(),
            y: Tensor::default(),
            dy: Tensor::default(),
        };
        s.set_batch(50, 1);
        s
    }
}

impl Default for TinyStep {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainStep for TinyStep {
    fn step(&mut self) -> f32 {
        self.net.zero_grad();
        let out = self.net.forward(&self.x);
        let loss = mse_loss_into(out, &self.y, Reduction::Mean, &mut self.dy)
            .expect("targets have the batch size");
        self.net
            .backward(&self.dy)
            .expect("the loss gradient has the output's sizes");
        self.opt.step(&mut self.net);
        loss
    }

    fn set_batch(&mut self, batch: usize, seed: u64) {
        let mut rng = seeded_rng(seed);
        self.x = features(batch, &mut rng);
        let targets: Vec<f32> = self
            .x
            .as_slice()
            .chunks_exact(3)
            .map(|r| r[0] + 2.0 * r[1] + 3.0 * r[2])
            .collect();
        self.y = Tensor::from_shape_vec((Dyn(batch), U1::default()), targets)
            .expect("one target per row");
    }

    fn gemm_flops(&self) -> f64 {
        chain_flops(self.x.dims()[0], &[(3, 3), (3, 5), (5, 1)])
    }
}

/// A classifier benchmark: cross-entropy over `C` classes, any optimizer.
macro_rules! classifier_step {
    ($(#[$doc:meta])* $name:ident, $net:ident, $in:ty, $classes:ty, $opt:ty, $make_opt:expr,
     $batch:expr, $flops:expr) => {
        $(#[$doc])*
        pub struct $name {
            net: $net,
            opt: $opt,
            x: Tensor<$in>,
            labels: Vec<Vec<usize>>,
            next: usize,
            dy: Tensor<(Dyn, $classes)>,
        }

        impl $name {
            /// The model, optimizer and a batch of the benchmark's size.
            pub fn new() -> Self {
                let mut s = Self {
                    net: $net::new(0),
                    opt: $make_opt,
                    x: Tensor::default(),
                    labels: Vec::new(),
                    next: 0,
                    dy: Tensor::default(),
                };
                s.set_batch($batch, 1);
                s
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl TrainStep for $name {
            fn step(&mut self) -> f32 {
                self.net.zero_grad();
                let out = self.net.forward(&self.x);
                let labels = &self.labels[self.next];
                self.next = (self.next + 1) % LABEL_SETS;
                let loss = cross_entropy_into(out, labels, Reduction::Mean, &mut self.dy)
                    .expect("one label per row, each below the number of classes");
                self.net
                    .backward(&self.dy)
                    .expect("the loss gradient has the output's sizes");
                self.opt.step(&mut self.net);
                loss
            }

            fn set_batch(&mut self, batch: usize, seed: u64) {
                let mut rng = seeded_rng(seed);
                self.x = features(batch, &mut rng);
                let classes = <$classes as nanotorch::shape::StaticDim>::SIZE;
                self.labels = label_sets(batch, classes, &mut rng);
            }

            fn gemm_flops(&self) -> f64 {
                $flops(self.x.dims()[0])
            }
        }
    };
}

classifier_step!(
    /// 64 → 128 → 10 at batch 32, cross-entropy, SGD (lr 0.1).
    DigitsStep, Digits, (Dyn, U64), U10, Sgd, Sgd::new(0.1), 32,
    |b| chain_flops(b, &[(64, 128), (128, 10)])
);
classifier_step!(
    /// 784 → 256 → 128 → 10 at batch 128, cross-entropy, SGD (lr 0.1).
    MnistStep, Mnist, (Dyn, U784), U10, Sgd, Sgd::new(0.1), 128,
    |b| chain_flops(b, &[(784, 256), (256, 128), (128, 10)])
);
classifier_step!(
    /// The residual network at batch 64, cross-entropy, Adam (PyTorch defaults).
    ResidualStep, Residual, (Dyn, U64), U10, Adam, Adam::new(), 64,
    |b| chain_flops(b, &[(64, 32), (32, 32), (32, 10)])
);
classifier_step!(
    /// The LeNet at batch 64, cross-entropy, SGD (lr 0.05, momentum 0.9).
    LeNetStep, LeNet, (Dyn, U1, U28, U28), U10, Sgd, Sgd::new(0.05).momentum(0.9), 64,
    lenet_flops
);

/// `2·m·n·k` over the LeNet step's products: each convolution's `[O, C·K·K]·[C·K·K, B·OH·OW]`
/// (forward, `dW`, and `dX` for the second), and the two linear layers (forward, `dW`, `dX`).
fn lenet_flops(batch: usize) -> f64 {
    let conv1 = 2.0 * (batch * 16 * 28 * 28 * 25) as f64;
    let conv2 = 2.0 * (batch * 32 * 10 * 10 * 400) as f64;
    let linear = 2.0 * (batch * (800 * 128 + 128 * 10)) as f64;
    2.0 * conv1 + 3.0 * conv2 + 3.0 * linear
}

/// The benchmark called `name` (one of [`NAMES`]).
pub fn by_name(name: &str) -> Option<Box<dyn TrainStep>> {
    Some(match name {
        "tiny" => Box::new(TinyStep::new()),
        "digits" => Box::new(DigitsStep::new()),
        "mnist" => Box::new(MnistStep::new()),
        "residual" => Box::new(ResidualStep::new()),
        "lenet" => Box::new(LeNetStep::new()),
        "gpt" => Box::new(GptStep::new()),
        "char_gpt" => Box::new(CharGptStep::new()),
        "lstm" => Box::new(LstmStep::new()),
        "char_lstm" => Box::new(CharLstm2Step::new()),
        _ => return None,
    })
}

network! {
    /// The transformer block of `examples/sort.rs`: pre-norm causal self-attention and MLP,
    /// each added back onto its input.
    pub struct GptBlock {
        ln1: LayerNorm<48>,
        attn: CausalSelfAttention<48, 4>,
        ln2: LayerNorm<48>,
        fc: Linear<48, 192>,
        proj: Linear<192, 48>,
    }
    fn forward(x: [B, 11, 48]) -> [B, 11, 48] {
        let h = x + attn(ln1(x));
        h + proj(gelu_tanh(fc(ln2(h))))
    }
}

network! {
    /// The GPT of `examples/sort.rs`: 2 layers, 4 heads, 48 wide, 11 tokens over 3 digits.
    pub struct Gpt {
        wte: Embedding<3, 48>,
        wpe: PositionEmbedding<11, 48>,
        h: [GptBlock; 2],
        ln_f: LayerNorm<48>,
        head: Linear<48, 3>,
    }
    fn forward(idx: [B, 11] tokens<3>) -> [B, 11, 3] = wte -> wpe -> h -> ln_f -> head;
}

/// The GPT's training step at batch 64: random 11-token sequences over 3 digits, targets on
/// the last 6 positions (the sorting task's loss mask), cross-entropy, gradient clipping at 1,
/// AdamW (lr 5e-4, betas 0.9/0.95, weight decay 0.1).
pub struct GptStep {
    net: Gpt,
    opt: AdamW,
    batches: Vec<(Tokens<U11, U3>, Vec<Option<usize>>)>,
    next: usize,
    dy: Tensor<(Dyn, U11, U3)>,
}

impl GptStep {
    /// The model, optimizer and batches of 64.
    pub fn new() -> Self {
        let mut s = Self {
            net: Gpt::new(0),
            opt: AdamW::new()
                .with_lr(5e-4)
                .betas(0.9, 0.95)
                .weight_decay(0.1),
            batches: Vec::new(),
            next: 0,
            dy: Tensor::default(),
        };
        s.set_batch(64, 1);
        s
    }
}

impl Default for GptStep {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainStep for GptStep {
    fn step(&mut self) -> f32 {
        let (tokens, targets) = &self.batches[self.next];
        self.next = (self.next + 1) % self.batches.len();
        self.net.zero_grad();
        let out = self.net.forward(tokens);
        let loss = cross_entropy_seq_into(out, targets, &mut self.dy)
            .expect("one target per position, each below the vocabulary");
        self.net
            .backward(&self.dy)
            .expect("the loss gradient has the output's sizes");
        clip_grad_norm(&mut self.net, 1.0);
        self.opt.step(&mut self.net);
        loss
    }

    fn set_batch(&mut self, batch: usize, seed: u64) {
        let mut rng = seeded_rng(seed);
        self.batches = (0..LABEL_SETS)
            .map(|_| {
                let ids: Vec<usize> = (0..batch * 11).map(|_| rng.random_range(0..3)).collect();
                let targets = (0..batch * 11)
                    .map(|i| (i % 11 >= 5).then(|| rng.random_range(0..3)))
                    .collect();
                (
                    Tokens::from_vec(batch, ids).expect("ids below 3, 11 per sequence"),
                    targets,
                )
            })
            .collect();
    }

    fn gemm_flops(&self) -> f64 {
        // The linear layers' products (forward, dW, dX): per block q, k, v, proj (48 → 48),
        // fc (48 → 192), proj (192 → 48), and the head (48 → 3); attention's own products
        // (q·kᵀ and att·v, 2·B·H·T·T·D each way) are counted too.
        let rows = (self.batches[0].0.batch() * 11) as f64;
        let block = 4.0 * 48.0 * 48.0 + 2.0 * 48.0 * 192.0;
        let linear = 2.0 * rows * (2.0 * block + 48.0 * 3.0) * 3.0;
        let attention = 2.0 * 2.0 * rows * 11.0 * 48.0 * 3.0;
        linear + attention
    }
}

network! {
    /// The transformer block of `examples/char_gpt.rs`: 128 wide, 4 heads, an MLP of 512.
    pub struct CharBlock {
        ln1: LayerNorm<128>,
        attn: CausalSelfAttention<128, 4>,
        ln2: LayerNorm<128>,
        fc: Linear<128, 512>,
        proj: Linear<512, 128>,
    }
    fn forward(x: [B, 64, 128]) -> [B, 64, 128] {
        let h = x + attn(ln1(x));
        h + proj(gelu_tanh(fc(ln2(h))))
    }
}

network! {
    /// The GPT of `examples/char_gpt.rs`: 4 blocks, 64 characters over a vocabulary of 73.
    pub struct CharGpt {
        wte: Embedding<73, 128>,
        wpe: PositionEmbedding<64, 128>,
        h: [CharBlock; 4],
        ln_f: LayerNorm<128>,
        head: Linear<128, 73>,
    }
    fn forward(idx: [B, 64] tokens<73>) -> [B, 64, 73] =
        wte -> wpe -> h -> ln_f -> head;
}

/// [`LABEL_SETS`] batches of `batch` random 64-character windows over 73 ids, each with a
/// random target at every position (the character models' benchmark data).
fn char_batches(batch: usize, rng: &mut SeededRng) -> Vec<(Tokens<U64, U73>, Vec<Option<usize>>)> {
    (0..LABEL_SETS)
        .map(|_| {
            let ids: Vec<usize> = (0..batch * 64).map(|_| rng.random_range(0..73)).collect();
            let targets = (0..batch * 64)
                .map(|_| Some(rng.random_range(0..73)))
                .collect();
            (
                Tokens::from_vec(batch, ids).expect("ids below 73, 64 per sequence"),
                targets,
            )
        })
        .collect()
}

/// The character GPT's training step at batch 12: random 64-character windows over 73 ids
/// with a target at every position, cross-entropy, gradient clipping at 1, AdamW (lr 1e-3,
/// betas 0.9/0.99, weight decay 0.1 on the matrices only), as `examples/char_gpt.rs`.
pub struct CharGptStep {
    net: CharGpt,
    opt: AdamW,
    batches: Vec<(Tokens<U64, U73>, Vec<Option<usize>>)>,
    next: usize,
    dy: Tensor<(Dyn, U64, U73)>,
}

impl CharGptStep {
    /// The model, optimizer and batches of 12.
    pub fn new() -> Self {
        let mut s = Self {
            net: CharGpt::new(0),
            opt: AdamW::new()
                .with_lr(1e-3)
                .betas(0.9, 0.99)
                .weight_decay(0.1)
                .decay_on(DecayOn::Matrices),
            batches: Vec::new(),
            next: 0,
            dy: Tensor::default(),
        };
        s.set_batch(12, 1);
        s
    }
}

impl Default for CharGptStep {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainStep for CharGptStep {
    fn step(&mut self) -> f32 {
        let (tokens, targets) = &self.batches[self.next];
        self.next = (self.next + 1) % self.batches.len();
        self.net.zero_grad();
        let out = self.net.forward(tokens);
        let loss = cross_entropy_seq_into(out, targets, &mut self.dy)
            .expect("one target per position, each below the vocabulary");
        self.net
            .backward(&self.dy)
            .expect("the loss gradient has the output's sizes");
        clip_grad_norm(&mut self.net, 1.0);
        self.opt.step(&mut self.net);
        loss
    }

    fn set_batch(&mut self, batch: usize, seed: u64) {
        let mut rng = seeded_rng(seed);
        self.batches = char_batches(batch, &mut rng);
    }

    fn gemm_flops(&self) -> f64 {
        // As the GPT's: per block q, k, v, proj (128 → 128), fc (128 → 512), proj (512 → 128),
        // and the head (128 → 73), forward, dW and dX; attention's products counted as there.
        let rows = (self.batches[0].0.batch() * 64) as f64;
        let block = 4.0 * 128.0 * 128.0 + 2.0 * 128.0 * 512.0;
        let linear = 2.0 * rows * (4.0 * block + 128.0 * 73.0) * 3.0;
        let attention = 4.0 * 2.0 * rows * 64.0 * 128.0 * 3.0;
        linear + attention
    }
}

network! {
    /// A character LSTM: an embedding of 73 characters into 64, PyTorch's LSTM layer
    /// (`nanotorch::layers::Lstm`, fused gates) over 64 steps from the given state, and a head
    /// back to the 73 characters at every step.
    pub struct CharLstm {
        wte: Embedding<73, 64>,
        lstm: Lstm<64, 256>,
        head: Linear<256, 73>,
    }
    fn forward(idx: [B, 64] tokens<73>, h0: [B, 256], c0: [B, 256]) -> [B, 64, 73] {
        let (hs, _h, _c) = lstm(wte(idx), h0, c0);
        head(hs)
    }
}

/// The `lstm` benchmark (the recurrence issue's): [`CharLstm`] at batch 32 over 64 steps from
/// a zero state, cross-entropy at every step, Adam.
pub struct LstmStep {
    net: CharLstm,
    opt: Adam,
    batches: Vec<(Tokens<U64, U73>, Vec<Option<usize>>)>,
    next: usize,
    zeros: Tensor<(Dyn, U256)>,
    dy: Tensor<(Dyn, U64, U73)>,
}

impl LstmStep {
    /// The model, optimizer and batches of 32.
    pub fn new() -> Self {
        let mut s = Self {
            net: CharLstm::new(0),
            opt: Adam::new(),
            batches: Vec::new(),
            next: 0,
            zeros: Tensor::default(),
            dy: Tensor::default(),
        };
        s.set_batch(32, 1);
        s
    }
}

impl Default for LstmStep {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainStep for LstmStep {
    fn step(&mut self) -> f32 {
        let (tokens, targets) = &self.batches[self.next];
        self.next = (self.next + 1) % self.batches.len();
        self.net.zero_grad();
        let out = self
            .net
            .forward(tokens, &self.zeros, &self.zeros)
            .expect("the state has the batch's size");
        let loss = cross_entropy_seq_into(out, targets, &mut self.dy)
            .expect("one target per position, each below the vocabulary");
        self.net
            .backward(&self.dy)
            .expect("the loss gradient has the output's sizes");
        self.opt.step(&mut self.net);
        loss
    }

    fn set_batch(&mut self, batch: usize, seed: u64) {
        let mut rng = seeded_rng(seed);
        self.zeros = Tensor::zeros((Dyn(batch), U256::default()));
        self.batches = char_batches(batch, &mut rng);
    }

    fn gemm_flops(&self) -> f64 {
        // Per step and sequence: 4 gates of 64 → 256 and 256 → 256; the head 256 → 73 at every
        // step; forward, dW and dX (3 products each).
        let rows = (self.batches[0].0.batch() * 64) as f64;
        2.0 * rows * (4.0 * (64.0 * 256.0 + 256.0 * 256.0) + 256.0 * 73.0) * 3.0
    }
}

network! {
    /// The two-layer LSTM of `examples/char_lstm.rs` (char-rnn's model): each layer's initial
    /// state in, its final state out.
    pub struct CharLstm2 {
        wte: Embedding<73, 64>,
        lstm1: Lstm<64, 256>,
        lstm2: Lstm<256, 256>,
        head: Linear<256, 73>,
    }
    fn forward(
        idx: [B, 64] tokens<73>,
        h1: [B, 256],
        c1: [B, 256],
        h2: [B, 256],
        c2: [B, 256],
    ) -> ([B, 64, 73], [B, 256], [B, 256], [B, 256], [B, 256]) {
        let (hs1, h1n, c1n) = lstm1(wte(idx), h1, c1);
        let (hs2, h2n, c2n) = lstm2(hs1, h2, c2);
        (head(hs2), h1n, c1n, h2n, c2n)
    }
}

/// The `char_lstm` benchmark: [`CharLstm2`] at batch 32 over 64 steps, each layer's final
/// state copied into the next step's initial state (truncated BPTT, as the example trains),
/// cross-entropy at every step, gradient clipping at 1, Adam (lr 2e-3).
pub struct CharLstm2Step {
    net: CharLstm2,
    opt: Adam,
    batches: Vec<(Tokens<U64, U73>, Vec<Option<usize>>)>,
    next: usize,
    /// `h1, c1, h2, c2`.
    state: [Tensor<(Dyn, U256)>; 4],
    zeros: Tensor<(Dyn, U256)>,
    dy: Tensor<(Dyn, U64, U73)>,
}

impl CharLstm2Step {
    /// The model, optimizer and batches of 32.
    pub fn new() -> Self {
        let mut s = Self {
            net: CharLstm2::new(0),
            opt: Adam::new().with_lr(2e-3),
            batches: Vec::new(),
            next: 0,
            state: Default::default(),
            zeros: Tensor::default(),
            dy: Tensor::default(),
        };
        s.set_batch(32, 1);
        s
    }
}

impl Default for CharLstm2Step {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainStep for CharLstm2Step {
    fn step(&mut self) -> f32 {
        let (tokens, targets) = &self.batches[self.next];
        self.next = (self.next + 1) % self.batches.len();
        self.net.zero_grad();
        let [h1, c1, h2, c2] = &mut self.state;
        let (out, h1n, c1n, h2n, c2n) = self
            .net
            .forward(tokens, h1, c1, h2, c2)
            .expect("the carried states have the batch's size");
        let loss = cross_entropy_seq_into(out, targets, &mut self.dy)
            .expect("one target per position, each below the vocabulary");
        for (carried, last) in [h1, c1, h2, c2].into_iter().zip([h1n, c1n, h2n, c2n]) {
            carried.assign(last);
        }
        let z = &self.zeros;
        self.net
            .backward(&self.dy, z, z, z, z)
            .expect("the loss gradient has the output's sizes");
        clip_grad_norm(&mut self.net, 1.0);
        self.opt.step(&mut self.net);
        loss
    }

    fn set_batch(&mut self, batch: usize, seed: u64) {
        let mut rng = seeded_rng(seed);
        self.zeros = Tensor::zeros((Dyn(batch), U256::default()));
        self.state = std::array::from_fn(|_| self.zeros.clone());
        self.batches = char_batches(batch, &mut rng);
    }

    fn gemm_flops(&self) -> f64 {
        // Per step and sequence: 4 gates of 64 → 256 and 256 → 256 (first layer), 256 → 256
        // twice (second), the head 256 → 73; forward, dW and dX (3 products each).
        let rows = (self.batches[0].0.batch() * 64) as f64;
        let gates = 4.0 * (64.0 * 256.0 + 3.0 * 256.0 * 256.0);
        2.0 * rows * (gates + 256.0 * 73.0) * 3.0
    }
}
