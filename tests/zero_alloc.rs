//! A full training step — `zero_grad`, `forward`, the loss's `_into` variant, `backward`, the
//! optimizer's `step` — allocates nothing once warmed up at a batch size, and a batch of
//! another size (a last partial batch) and the return to the full size allocate nothing either.
//! This holds for the nine bench models (the LeNet's convolutions, pooling and batch norm
//! included; the GPTs' embeddings, layer norms, causal self-attention, sequence cross-entropy
//! with ignored positions, gradient clipping and AdamW — with weight decay on matrices only —
//! too), on one thread and with the matrix products split over two (the GEMM keeps its packing
//! buffers per thread, `nanotorch/src/gemm/`). Generating text one character at a time, as
//! `examples/char_gpt.rs` does (window of ids, forward at batch 1, `Sampler`, decoding into a
//! reserved string) or as `examples/char_lstm.rs` does (one character at a time through the
//! layers' `forward_into`, the state carried in kept buffers), allocates nothing per character
//! either, and neither does drawing a batch of text windows (`CharBatcher::fill`,
//! `CharStreams::fill`).
//!
//! Allocations are counted by a global allocator wrapping the system one (its own test binary,
//! since a global allocator applies to the whole binary). It counts on **every** thread, so
//! allocations made by the GEMM's worker threads count too. That is why this binary has no
//! test harness (`harness = false` in Cargo.toml): libtest's own threads allocate while other
//! tests run; here `main` runs the checks one after the other and nothing else runs. The
//! counter keeps the sizes of the first allocations it sees, so a failure says what was
//! allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nanotorch::data::{CharBatcher, CharCorpus, CharStreams, CharVocab};
use nanotorch::prelude::*;
use nanotorch::sample::Sampler;
use nanotorch::set_num_threads;
use nanotorch_suite::bench_models::LstmStep as CharLstmStep;
use nanotorch_suite::bench_models::{
    CharGpt, CharGptStep, CharLstm2, CharLstm2Step, DigitsStep, GptStep, LeNetStep, MnistStep,
    ResidualStep, TinyStep, TrainStep,
};

const KEPT: usize = 16;

/// Whether allocations are being counted (only inside [`allocations`]).
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static SIZES: [AtomicUsize; KEPT] = [const { AtomicUsize::new(0) }; KEPT];

fn count_one(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let n = ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if n < KEPT {
            SIZES[n].store(size, Ordering::Relaxed);
        }
    }
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only atomics, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made on any thread while running `f`, and the byte sizes of the first few.
fn allocations(f: impl FnOnce()) -> (usize, Vec<usize>) {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    let n = ALLOCATIONS.load(Ordering::Relaxed);
    let sizes = SIZES[..n.min(KEPT)]
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .collect();
    (n, sizes)
}

/// Warms `bench` up, then checks that `steps` more steps allocate nothing.
fn steady_state(name: &str, bench: &mut dyn TrainStep) {
    for _ in 0..3 {
        bench.step();
    }
    let mut losses = [0.0f32; 5];
    let (n, sizes) = allocations(|| {
        for loss in &mut losses {
            *loss = bench.step();
        }
    });
    println!("{name}: 5 steady-state steps made {n} allocations (sizes {sizes:?})");
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "{name}: the steps ran"
    );
    assert!(
        n == 0,
        "{name}: steady-state steps allocated {n} times (byte sizes {sizes:?})"
    );
}

/// Allocations of the first and of the second step after the batch size changes from `full`
/// to `partial` and back (the data itself is replaced outside the counted steps).
fn batch_change(name: &str, bench: &mut dyn TrainStep, full: usize, partial: usize) {
    for _ in 0..3 {
        bench.step();
    }
    let mut report = Vec::new();
    for (size, seed) in [(partial, 2), (full, 1)] {
        bench.set_batch(size, seed);
        let (first, _) = allocations(|| {
            bench.step();
        });
        let (second, sizes) = allocations(|| {
            bench.step();
        });
        report.push(format!("batch {size}: first step {first}, second {second}"));
        // Buffers keep their memory (`Tensor::resize_to`), so neither the smaller batch nor
        // the return to the full one allocates, not even on its first step.
        assert!(
            first == 0,
            "{name}: the first step at batch {size} allocated {first} times"
        );
        assert!(
            second == 0,
            "{name}: the second step at batch {size} allocated {second} times ({sizes:?})"
        );
    }
    println!(
        "{name}, batch {full} → {partial} → {full}: {}",
        report.join("; ")
    );
}

/// The generation loop of `examples/char_gpt.rs`: after a first character, each further one
/// (a window of the last ≤ 64 ids, a forward at batch 1, a top-k draw, decoding) allocates
/// nothing — while the prompt is shorter than the window and after the window slides.
fn generation() {
    let mut net = CharGpt::<f32>::new(0);
    let text: String = (0u8..73).map(|i| char::from(b'0' + i)).collect();
    let vocab = CharVocab::from_text(&text);
    let mut sampler = Sampler::new(0.8, Some(40)).expect("valid settings");
    let mut rng = seeded_rng(1);
    let tokens = 80;
    let mut ids: Vec<usize> = Vec::with_capacity(1 + tokens);
    ids.push(5);
    let mut window = [0usize; 64];
    let mut x = Tokens::<U64, U73>::default();
    let mut out = String::with_capacity(4 * tokens);
    let mut next_char = || {
        let n = ids.len().min(64);
        window[..n].copy_from_slice(&ids[ids.len() - n..]);
        x.assign_from_slice(1, &window).expect("ids below 73");
        let logits = net.forward(&x);
        let row = &logits.as_slice()[(n - 1) * 73..n * 73];
        let next = sampler.sample(row, &mut rng).expect("finite logits");
        ids.push(next);
        vocab
            .decode_into(&ids[ids.len() - 1..], &mut out)
            .expect("an id of the vocabulary");
    };
    next_char();
    let (n, sizes) = allocations(|| {
        for _ in 1..tokens {
            next_char();
        }
    });
    println!(
        "char_gpt generation: {} characters made {n} allocations",
        tokens - 1
    );
    assert!(
        n == 0,
        "generating allocated {n} times (byte sizes {sizes:?})"
    );
}

/// The generation loop of `examples/char_lstm.rs`: each character (a sequence of length 1 at
/// batch 1) goes through the embedding and both LSTM layers' `forward_into` from the carried
/// state into the next one, then the head; a top-k draw and decoding. After the first
/// character, nothing is allocated.
fn lstm_generation() {
    let mut net = CharLstm2::<f32>::new(0);
    let text: String = (0u8..73).map(|i| char::from(b'0' + i)).collect();
    let vocab = CharVocab::from_text(&text);
    let mut sampler = Sampler::new(0.8, Some(40)).expect("valid settings");
    let mut rng = seeded_rng(1);
    let tokens = 80;
    let mut ids: Vec<usize> = Vec::with_capacity(1 + tokens);
    ids.push(5);
    let mut x = Tokens::<U1, U73>::default();
    let mut emb = Tensor::<(Dyn, U1, U64)>::default();
    let (mut hs1, mut hs2) = (
        Tensor::<(Dyn, U1, U256)>::default(),
        Tensor::<(Dyn, U1, U256)>::default(),
    );
    let mut logits = Tensor::<(Dyn, U1, U73)>::default();
    let zero = || Tensor::<(Dyn, U256)>::zeros((Dyn(1), U256::default()));
    let (mut state, mut next) = (
        [zero(), zero(), zero(), zero()],
        [zero(), zero(), zero(), zero()],
    );
    let mut out = String::with_capacity(4 * tokens);
    let mut next_char = || {
        x.assign_from_slice(1, &ids[ids.len() - 1..])
            .expect("ids below 73");
        net.wte.forward_into(&x, &mut emb);
        let ([h1, c1, h2, c2], [n1, m1, n2, m2]) = (&state, &mut next);
        net.lstm1
            .forward_state_into(&emb, h1, c1, &mut hs1, n1, m1)
            .expect("one batch");
        net.lstm2
            .forward_state_into(&hs1, h2, c2, &mut hs2, n2, m2)
            .expect("one batch");
        std::mem::swap(&mut state, &mut next);
        net.head.forward_into(&hs2, &mut logits);
        let id = sampler
            .sample(logits.as_slice(), &mut rng)
            .expect("finite logits");
        ids.push(id);
        vocab
            .decode_into(&ids[ids.len() - 1..], &mut out)
            .expect("an id of the vocabulary");
    };
    next_char();
    let (n, sizes) = allocations(|| {
        for _ in 1..tokens {
            next_char();
        }
    });
    println!(
        "char_lstm generation: {} characters made {n} allocations",
        tokens - 1
    );
    assert!(
        n == 0,
        "generating allocated {n} times (byte sizes {sizes:?})"
    );
}

/// Drawing a batch of random text windows into warm buffers allocates nothing.
fn text_batches() {
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(40);
    let corpus = CharCorpus::new("text", &text).expect("a text");
    let mut batcher = CharBatcher::<U64, U73>::new(&corpus).expect("the text fits");
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    let mut x4 = Tokens::default();
    let mut rng = seeded_rng(0);
    batcher
        .fill(corpus.train(), 12, &mut rng, &mut x, &mut y)
        .expect("a batch");
    let (n, sizes) = allocations(|| {
        for _ in 0..20 {
            batcher
                .fill(corpus.train(), 12, &mut rng, &mut x, &mut y)
                .expect("a batch");
        }
    });
    println!("text batches: 20 batches of 12 windows made {n} allocations");
    assert!(n == 0, "drawing batches allocated {n} times ({sizes:?})");
    let ids = corpus.train();
    let mut streams =
        CharStreams::<U4, U73>::new("text", "training", ids.len(), 12).expect("the text fits");
    streams.fill(ids, 0, &mut x4, &mut y).expect("a window");
    let (n, sizes) = allocations(|| {
        for k in 0..streams.windows() {
            streams.fill(ids, k, &mut x4, &mut y).expect("a window");
        }
    });
    println!(
        "text streams: {} windows of 12 streams made {n} allocations",
        streams.windows()
    );
    assert!(
        n == 0,
        "filling stream windows allocated {n} times ({sizes:?})"
    );
}

/// Runs `check` at 1 thread and at 2.
fn on_one_and_two_threads(check: impl Fn()) {
    for threads in [1, 2] {
        set_num_threads(threads);
        println!("-- {threads} thread(s)");
        check();
    }
}

network! {
    /// Two inputs and two outputs (an LSTM-like cell), for the tuple calls' buffers.
    pub struct Cell {
        wx: Linear<16, 32>,
        wh: Linear<32, 32>,
        gate: Linear<32, 32>,
    }
    fn forward(x: [B, 16], h: [B, 32]) -> ([B, 32], [B, 32]) {
        let pre = wx(x) + wh(h);
        let c = tanh(pre) * sigmoid(gate(h));
        (sigmoid(pre) * tanh(c), c)
    }
}

network! {
    /// The cell as a field of another network with two inputs, then a stack of blocks.
    pub struct CellModel {
        cell: Cell,
        blocks: [CellBlock; 3],
        head: Linear<32, 4>,
    }
    fn forward(x: [B, 16], h0: [B, 32]) -> [B, 4] {
        let (h, c) = cell(x, h0);
        head(blocks(h + c))
    }
}

network! {
    /// A residual block for the stack.
    pub struct CellBlock {
        fc: Linear<32, 32>,
    }
    fn forward(x: [B, 32]) -> [B, 32] {
        x + relu(fc(x))
    }
}

/// A training step of [`CellModel`]: a two-input network calling a two-input, two-output
/// cell, then a stack; MSE and Adam.
struct CellStep {
    net: CellModel,
    opt: Adam,
    x: Tensor<(Dyn, U16)>,
    h: Tensor<(Dyn, U32)>,
    y: Tensor<(Dyn, U4)>,
    dy: Tensor<(Dyn, U4)>,
}

impl CellStep {
    fn new() -> Self {
        let mut s = Self {
            net: CellModel::new(0),
            opt: Adam::new(),
            x: Tensor::default(),
            h: Tensor::default(),
            y: Tensor::default(),
            dy: Tensor::default(),
        };
        s.set_batch(32, 1);
        s
    }
}

impl TrainStep for CellStep {
    fn step(&mut self) -> f32 {
        self.net.zero_grad();
        let out = self.net.forward(&self.x, &self.h).unwrap();
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
        self.x = Tensor::rand_uniform((Dyn(batch), U16::default()), -1.0, 1.0, &mut rng);
        self.h = Tensor::rand_uniform((Dyn(batch), U32::default()), -1.0, 1.0, &mut rng);
        self.y = Tensor::rand_uniform((Dyn(batch), U4::default()), -1.0, 1.0, &mut rng);
    }

    fn gemm_flops(&self) -> f64 {
        0.0
    }
}

network! {
    /// An LSTM cell from `Linear`s and gates, for the scan below.
    pub struct LstmCell {
        xi: Linear<16, 32>,
        hi: Linear<32, 32>,
        xf: Linear<16, 32>,
        hf: Linear<32, 32>,
        xg: Linear<16, 32>,
        hg: Linear<32, 32>,
        xo: Linear<16, 32>,
        ho: Linear<32, 32>,
    }
    fn forward(x: [B, 16], h: [B, 32], c: [B, 32]) -> ([B, 32], [B, 32]) {
        let i = sigmoid(xi(x) + hi(h));
        let f = sigmoid(xf(x) + hf(h));
        let g = tanh(xg(x) + hg(h));
        let o = sigmoid(xo(x) + ho(h));
        let c2 = f * c + i * g;
        (o * tanh(c2), c2)
    }
}

network! {
    /// The cell scanned over 12 time steps, a head on every state.
    pub struct LstmModel {
        cell: LstmCell,
        head: Linear<32, 4>,
    }
    fn forward(x: [B, 12, 16], h0: [B, 32], c0: [B, 32]) -> [B, 12, 4] {
        let (hs, _h, _c) = scan(cell, x, h0, c0);
        head(hs)
    }
}

/// A training step of [`LstmModel`]: backpropagation through 12 time steps, MSE and Adam.
struct LstmStep {
    net: LstmModel,
    opt: Adam,
    x: Tensor<(Dyn, U12, U16)>,
    h: Tensor<(Dyn, U32)>,
    y: Tensor<(Dyn, U12, U4)>,
    dy: Tensor<(Dyn, U12, U4)>,
}

impl LstmStep {
    fn new() -> Self {
        let mut s = Self {
            net: LstmModel::new(0),
            opt: Adam::new(),
            x: Tensor::default(),
            h: Tensor::default(),
            y: Tensor::default(),
            dy: Tensor::default(),
        };
        s.set_batch(32, 1);
        s
    }
}

impl TrainStep for LstmStep {
    fn step(&mut self) -> f32 {
        self.net.zero_grad();
        let out = self.net.forward(&self.x, &self.h, &self.h).unwrap();
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
        self.x = Tensor::rand_uniform(
            (Dyn(batch), U12::default(), U16::default()),
            -1.0,
            1.0,
            &mut rng,
        );
        self.h = Tensor::rand_uniform((Dyn(batch), U32::default()), -1.0, 1.0, &mut rng);
        self.y = Tensor::rand_uniform(
            (Dyn(batch), U12::default(), U4::default()),
            -1.0,
            1.0,
            &mut rng,
        );
    }

    fn gemm_flops(&self) -> f64 {
        0.0
    }
}

/// The counter itself: it sees an allocation on this thread and on another.
fn the_counter_sees_allocations() {
    let (n, sizes) = allocations(|| drop(std::hint::black_box(vec![0u8; 64])));
    assert_eq!((n, sizes), (1, vec![64]));
    let (n, _) = allocations(|| {
        std::thread::scope(|s| {
            s.spawn(|| drop(std::hint::black_box(vec![0u8; 32])));
        });
    });
    assert!(n >= 1, "an allocation on another thread is counted");
    println!("the counter sees allocations on this thread and on others");
}

fn main() {
    the_counter_sees_allocations();
    text_batches();
    on_one_and_two_threads(|| {
        steady_state("tiny", &mut TinyStep::new());
        steady_state("digits", &mut DigitsStep::new());
        steady_state("mnist", &mut MnistStep::new());
        steady_state("residual", &mut ResidualStep::new());
        steady_state("lenet", &mut LeNetStep::new());
        steady_state("gpt", &mut GptStep::new());
        steady_state(
            "cell (two inputs, two outputs, a stack)",
            &mut CellStep::new(),
        );
        steady_state("lstm scan (12 steps)", &mut LstmStep::new());
        steady_state("char_gpt", &mut CharGptStep::new());
        steady_state("lstm (Lstm<64, 256>, 64 steps)", &mut CharLstmStep::new());
        steady_state(
            "char_lstm (2 layers, state carried)",
            &mut CharLstm2Step::new(),
        );
        generation();
        lstm_generation();
        batch_change("tiny", &mut TinyStep::new(), 50, 30);
        batch_change("digits", &mut DigitsStep::new(), 32, 20);
        batch_change("mnist", &mut MnistStep::new(), 128, 72);
        batch_change("residual", &mut ResidualStep::new(), 64, 40);
        batch_change("lenet", &mut LeNetStep::new(), 64, 40);
        batch_change("gpt", &mut GptStep::new(), 64, 40);
        batch_change(
            "cell (two inputs, two outputs, a stack)",
            &mut CellStep::new(),
            32,
            20,
        );
        batch_change("lstm scan (12 steps)", &mut LstmStep::new(), 32, 20);
        batch_change("char_gpt", &mut CharGptStep::new(), 12, 7);
        batch_change(
            "lstm (Lstm<64, 256>, 64 steps)",
            &mut CharLstmStep::new(),
            32,
            20,
        );
        batch_change(
            "char_lstm (2 layers, state carried)",
            &mut CharLstm2Step::new(),
            32,
            20,
        );
    });
    println!("zero_alloc: every steady-state step allocated nothing");
}
