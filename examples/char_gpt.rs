//! A character-level GPT on eight Shakespeare tragedies: nanoGPT's CPU configuration, with the
//! transformer declared in `network!` and its backward derived at compile time.
//!
//! ```sh
//! cargo run --release --example char_gpt                      # train 2,000 steps, then sample
//! cargo run --release --example char_gpt -- --resume          # continue from runs/char_gpt/train.safetensors
//! cargo run --release --example char_gpt -- --show-samples    # also a sample at step 0 and every 250 steps
//! cargo run --release --example char_gpt -- --sample "ROMEO:" --tokens 500 --temperature 0.8 --top-k 40 --seed 1
//! cargo run --release --example char_gpt -- --text my.txt     # any UTF-8 text of at most 73 distinct characters
//! ```
//!
//! The model (nanoGPT's `--n_layer=4 --n_head=4 --n_embd=128 --block_size=64`, dropout 0): a
//! token embedding over the 73 characters of the shipped text and a position embedding over
//! 64 positions, four pre-norm transformer blocks (4 heads, 128 wide, MLP 512), a final
//! LayerNorm and a linear head. Unlike nanoGPT, the layers have biases, the head is not tied
//! to the token embedding, and the initialisation is PyTorch's default (as
//! `scripts/char_gpt_torch.py`, the PyTorch twin, does too).
//!
//! Training (nanoGPT's `--batch_size=12 --max_iters=2000 --lr_decay_iters=2000`): batches of
//! 12 random windows of 64 characters from the first 90 % of the text, AdamW (lr 1e-3,
//! betas 0.9/0.99, weight decay 0.1 on the matrices only), 100 warm-up steps then a cosine
//! decay to 1e-4, gradient clipping at 1. Every 250 steps: the validation loss on 20 fixed
//! batches (windows evenly spaced over the last 10 %), in nats and bits per character; at the
//! end, on every non-overlapping window of the validation part. The batch of step `s` is drawn
//! from a generator seeded with `s`, so a resumed run sees the data an uninterrupted one would.
//!
//! Writes `runs/char_gpt/model.safetensors` (the model, PyTorch state-dict names),
//! `runs/char_gpt/vocab.txt` (the vocabulary, which `--sample` decodes with),
//! `runs/char_gpt/train.safetensors` (model, AdamW moments and step, for `--resume`; saved at
//! every evaluation) and `runs/char_gpt/curves.svg` (of a resumed run: the steps after the
//! resume). A run resumed from step 250 ends byte for byte where the uninterrupted run ends.
//! The command line, the training loop's bookkeeping and the sampling loop are shared with
//! `examples/char_lstm.rs` (`nanotorch_suite::char_lm`); this file holds the model, its step,
//! its validation and its sampler.

use nanotorch::checkpoint;
use nanotorch::data::{CharBatcher, CharCorpus};
use nanotorch::prelude::*;
use nanotorch_suite::char_lm::{NextChar, Result, Schedule, Spec, Trainer, generate};

network! {
    /// A transformer block: causal self-attention and an MLP, each after a LayerNorm and added
    /// back onto its input (pre-norm residuals, as GPT-2).
    pub struct Block {
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
    /// The GPT: 64 character ids in, logits over the 73 characters at every position out.
    pub struct CharGpt {
        wte: Embedding<73, 128>,
        wpe: PositionEmbedding<64, 128>,
        h: [Block; 4],
        ln_f: LayerNorm<128>,
        head: Linear<128, 73>,
    }
    fn forward(idx: [B, 64] tokens<73>) -> [B, 64, 73] =
        wte -> wpe -> h -> ln_f -> head;
}

/// Context: characters the model reads.
type Ctx = U64;
/// Vocabulary size the model is built for (the shipped text has exactly 73 characters).
type Voc = U73;
type Window = Tokens<Ctx, Voc>;
const CONTEXT: usize = 64;
const VOCAB: usize = 73;

const SEED: u64 = 0;
const BATCH: usize = 12;
const EVAL_BATCHES: usize = 20;

/// nanoGPT's schedule: linear warm-up over the first 100 steps, then a cosine from 1e-3 down
/// to 1e-4 at the last step; 2,000 steps, an evaluation every 250.
const SPEC: Spec = Spec {
    name: "char_gpt",
    steps: 2000,
    schedule: Schedule {
        lr: 1e-3,
        min_lr: 1e-4,
        warmup: 100,
    },
    eval_every: 250,
};

fn main() -> std::process::ExitCode {
    SPEC.main(|args| {
        SPEC.run::<Ctx, Voc, _, _>(
            args,
            || CharGpt::<f32>::new(SEED),
            |net, vocab, prompt, args| generate(&mut Sampling::new(net), vocab, prompt, args),
            GptRun::new,
        )
    })
}

/// A training run: the model, AdamW, the data and the reused buffers.
struct GptRun {
    corpus: CharCorpus,
    net: CharGpt<f32>,
    optimizer: AdamW,
    batcher: CharBatcher<Ctx, Voc>,
    x: Window,
    y: Vec<Option<usize>>,
    scratch: Vec<usize>,
    d_logits: Tensor<(Dyn, Ctx, Voc)>,
    /// The periodic evaluation's window starts.
    starts: Vec<usize>,
}

impl GptRun {
    fn new(corpus: CharCorpus) -> Result<Self> {
        Ok(Self {
            batcher: CharBatcher::new(&corpus)?,
            starts: eval_starts(corpus.validation().len()),
            corpus,
            net: CharGpt::<f32>::new(SEED),
            optimizer: AdamW::new()
                .with_lr(SPEC.schedule.lr)
                .betas(0.9, 0.99)
                .weight_decay(0.1)
                .decay_on(DecayOn::Matrices)
                .validated()?,
            x: Window::default(),
            y: Vec::new(),
            scratch: Vec::new(),
            d_logits: Tensor::default(),
        })
    }

    /// Mean cross-entropy (nats per character) of the validation windows starting at
    /// `starts`, `BATCH` at a time, every position counted.
    fn loss_on(&mut self, starts: &[usize]) -> Result<f64> {
        let ids = self.corpus.validation();
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in starts.chunks(BATCH) {
            self.scratch.clear();
            self.y.clear();
            for &s in chunk {
                self.scratch.extend_from_slice(&ids[s..s + CONTEXT]);
                self.y
                    .extend(ids[s + 1..s + CONTEXT + 1].iter().map(|&t| Some(t)));
            }
            self.x.assign_from_slice(chunk.len(), &self.scratch)?;
            let logits = self.net.forward(&self.x);
            let loss = cross_entropy_seq_into(logits, &self.y, &mut self.d_logits)?;
            sum += f64::from(loss) * (chunk.len() * CONTEXT) as f64;
            count += chunk.len() * CONTEXT;
        }
        Ok(sum / count as f64)
    }
}

impl Trainer for GptRun {
    type Generator<'a>
        = Sampling<'a>
    where
        Self: 'a;

    fn describe(&mut self) -> String {
        format!(
            "a {}-parameter GPT (4 layers, 4 heads, 128 wide, context {CONTEXT}), batch {BATCH}, AdamW",
            self.net.num_params()
        )
    }

    fn batch(&self) -> usize {
        BATCH
    }

    /// The batch of step `s` is drawn from a generator seeded with `s`, so a resumed run sees
    /// the data an uninterrupted one would.
    fn step(&mut self, step: u64, lr: f64) -> Result<f32> {
        let train = self.corpus.train();
        let mut rng = seeded_rng(step);
        self.batcher
            .fill(train, BATCH, &mut rng, &mut self.x, &mut self.y)?;
        self.optimizer.set_lr(lr);
        self.net.zero_grad();
        let logits = self.net.forward(&self.x);
        let loss = cross_entropy_seq_into(logits, &self.y, &mut self.d_logits)?;
        self.net.backward(&self.d_logits)?;
        clip_grad_norm(&mut self.net, 1.0);
        self.optimizer.step(&mut self.net);
        Ok(loss)
    }

    fn validation_loss(&mut self, full: bool) -> Result<(f64, String)> {
        if full {
            let starts = full_validation_starts(self.corpus.validation().len());
            let what = format!(
                "all {} non-overlapping windows of the validation part",
                starts.len()
            );
            Ok((self.loss_on(&starts)?, what))
        } else {
            let starts = std::mem::take(&mut self.starts);
            let loss = self.loss_on(&starts);
            self.starts = starts;
            Ok((loss?, String::new()))
        }
    }

    fn save_training(&mut self, step: u64, path: &str) -> Result<()> {
        Ok(checkpoint::save_training(
            &mut self.net,
            &mut self.optimizer,
            step,
            path,
        )?)
    }

    fn load_training(&mut self, path: &str) -> Result<u64> {
        Ok(checkpoint::load_training(
            &mut self.net,
            &mut self.optimizer,
            path,
        )?)
    }

    fn save_model(&mut self, path: &str) -> Result<()> {
        Ok(checkpoint::save(&mut self.net, path)?)
    }

    fn graph_svg(&self) -> &'static str {
        CharGpt::graph_svg()
    }

    fn generator(&mut self) -> Sampling<'_> {
        Sampling::new(&mut self.net)
    }
}

/// 20 fixed validation batches: windows at evenly spaced starts over the validation part.
fn eval_starts(len: usize) -> Vec<usize> {
    let windows = EVAL_BATCHES * BATCH;
    let last = len - CONTEXT - 1;
    (0..windows).map(|k| k * last / (windows - 1)).collect()
}

/// Every non-overlapping window of the validation part: starts 0, 64, 128, …
fn full_validation_starts(len: usize) -> Vec<usize> {
    (0..(len - 1) / CONTEXT).map(|k| k * CONTEXT).collect()
}

/// The GPT as the sampling loop sees it. The model reads a fixed window of 64: a shorter
/// prompt sits at positions `0..n` (the rest is padding that a causal model's position
/// `n − 1` never sees) and the next character is drawn from the logits there; once 64
/// characters are known the window slides, holding the last 64, as nanoGPT's `generate` crops
/// its context. It reuses its buffers: it allocates nothing per character.
struct Sampling<'n> {
    net: &'n mut CharGpt<f32>,
    window: [usize; CONTEXT],
    x: Window,
}

impl<'n> Sampling<'n> {
    fn new(net: &'n mut CharGpt<f32>) -> Self {
        Self {
            net,
            window: [0; CONTEXT],
            x: Window::default(),
        }
    }
}

impl NextChar for Sampling<'_> {
    fn next_logits(&mut self, ids: &[usize]) -> Result<&[f32]> {
        let n = ids.len().min(CONTEXT);
        self.window[..n].copy_from_slice(&ids[ids.len() - n..]);
        self.x.assign_from_slice(1, &self.window)?;
        let logits = self.net.forward(&self.x);
        Ok(&logits.as_slice()[(n - 1) * VOCAB..n * VOCAB])
    }
}
