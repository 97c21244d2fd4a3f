//! A character-level GPT on eight Shakespeare tragedies: nanoGPT's CPU configuration, with the
//! transformer declared in `network!` and its backward derived at compile time.
//!
//! ```sh
//! cargo run --release --example char_gpt                      # train 2,000 steps, then sample
//! cargo run --release --example char_gpt -- --resume          # continue from runs/char_gpt/train.safetensors
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

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nanotorch::checkpoint;
use nanotorch::data::{CharBatcher, CharCorpus, CharVocab, datasets};
use nanotorch::prelude::*;
use nanotorch::sample::Sampler;
use nanotorch::train::{EpochSummary, History, Progress};

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
const STEPS: u64 = 2000;
const BATCH: usize = 12;
const LR: f64 = 1e-3;
const MIN_LR: f64 = 1e-4;
const WARMUP: u64 = 100;
const EVAL_EVERY: u64 = 250;
const EVAL_BATCHES: usize = 20;
const RUN_DIR: &str = "runs/char_gpt";

/// nanoGPT's `get_lr`: linear warm-up over the first 100 steps, then a cosine from 1e-3 down
/// to 1e-4 at the last step.
fn lr_at(step: u64, steps: u64) -> f64 {
    if step < WARMUP {
        return LR * (step + 1) as f64 / (WARMUP + 1) as f64;
    }
    let ratio = (step - WARMUP) as f64 / (steps - WARMUP).max(1) as f64;
    let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio.min(1.0)).cos());
    MIN_LR + coeff * (LR - MIN_LR)
}

#[derive(Clone)]
struct Args {
    text: Option<String>,
    steps: u64,
    resume: bool,
    sample: Option<String>,
    tokens: usize,
    temperature: f64,
    top_k: Option<usize>,
    seed: u64,
}

const USAGE: &str = "usage: cargo run --release --example char_gpt -- [--text FILE] [--steps N] [--resume]
       cargo run --release --example char_gpt -- --sample PROMPT [--tokens N] [--temperature T] [--top-k K] [--seed S]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        text: None,
        steps: STEPS,
        resume: false,
        sample: None,
        tokens: 500,
        temperature: 0.8,
        top_k: Some(40),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: `{v}` is not a valid number"))
        }
        match flag.as_str() {
            "--text" => args.text = Some(value("--text")?),
            "--steps" => args.steps = num("--steps", value("--steps")?)?,
            "--resume" => args.resume = true,
            "--sample" => args.sample = Some(value("--sample")?),
            "--tokens" => args.tokens = num("--tokens", value("--tokens")?)?,
            "--temperature" => args.temperature = num("--temperature", value("--temperature")?)?,
            "--top-k" => {
                let k: usize = num("--top-k", value("--top-k")?)?;
                args.top_k = (k > 0).then_some(k);
            }
            "--seed" => args.seed = num("--seed", value("--seed")?)?,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if args.steps <= WARMUP {
        return Err(format!(
            "--steps must be more than the {WARMUP} warm-up steps"
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The vocabulary a model was trained with, saved beside its checkpoint (its characters in
/// order, as UTF-8), so sampling decodes with the ids training used.
fn vocab_path() -> String {
    format!("{RUN_DIR}/vocab.txt")
}

fn saved_vocab() -> Result<CharVocab, Box<dyn Error>> {
    let chars = std::fs::read_to_string(vocab_path()).map_err(|e| {
        format!(
            "cannot read {}: {e}\n(train first: cargo run --release --example char_gpt)",
            vocab_path()
        )
    })?;
    Ok(CharVocab::from_text(&chars))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let path = format!("{RUN_DIR}/model.safetensors");
    if let Some(prompt) = &args.sample {
        let vocab = saved_vocab()?;
        let mut net = CharGpt::<f32>::new(SEED);
        checkpoint::load(&mut net, &path)
            .map_err(|e| format!("{e}\n(train first: cargo run --release --example char_gpt)"))?;
        return generate(&mut net, &vocab, prompt, args);
    }
    let corpus = match &args.text {
        Some(path) => CharCorpus::from_file(path)?,
        None => datasets::shakespeare()?,
    };
    // A text of more than 73 distinct characters, or too short for a window, stops here.
    corpus.check_fits::<Ctx, Voc>()?;
    if args.resume && saved_vocab()? != *corpus.vocab() {
        return Err(format!(
            "{} has another vocabulary than the run being resumed ({}): resume with the text it \
             was trained on",
            corpus.origin(),
            vocab_path()
        )
        .into());
    }
    std::fs::create_dir_all(RUN_DIR)?;
    std::fs::write(
        vocab_path(),
        corpus.vocab().chars().iter().collect::<String>(),
    )?;
    let mut net = train(&corpus, args)?;
    let mut after = args.clone();
    after.tokens = 300;
    generate(&mut net, corpus.vocab(), "\n", &after)
}

/// 20 fixed validation batches: windows at evenly spaced starts over the validation part.
fn eval_starts(len: usize) -> Vec<usize> {
    let windows = EVAL_BATCHES * BATCH;
    let last = len - CONTEXT - 1;
    (0..windows).map(|k| k * last / (windows - 1)).collect()
}

/// Mean cross-entropy (nats per character) of the windows starting at `starts`, `BATCH` at a
/// time, every position counted.
fn loss_on(
    net: &mut CharGpt<f32>,
    ids: &[usize],
    starts: &[usize],
    x: &mut Window,
    y: &mut Vec<Option<usize>>,
    scratch: &mut Vec<usize>,
    d_logits: &mut Tensor<(Dyn, Ctx, Voc)>,
) -> Result<f64, Box<dyn Error>> {
    let (mut sum, mut count) = (0.0, 0usize);
    for chunk in starts.chunks(BATCH) {
        scratch.clear();
        y.clear();
        for &s in chunk {
            scratch.extend_from_slice(&ids[s..s + CONTEXT]);
            y.extend(ids[s + 1..s + CONTEXT + 1].iter().map(|&t| Some(t)));
        }
        x.assign_from_slice(chunk.len(), scratch)?;
        let logits = net.forward(x);
        let loss = cross_entropy_seq_into(logits, y, d_logits)?;
        sum += f64::from(loss) * (chunk.len() * CONTEXT) as f64;
        count += chunk.len() * CONTEXT;
    }
    Ok(sum / count as f64)
}

fn train(corpus: &CharCorpus, args: &Args) -> Result<CharGpt<f32>, Box<dyn Error>> {
    let start = Instant::now();
    let mut net = CharGpt::<f32>::new(SEED);
    let mut optimizer = AdamW::new()
        .with_lr(LR)
        .betas(0.9, 0.99)
        .weight_decay(0.1)
        .decay_on(DecayOn::Matrices)
        .validated()?;
    let resume_path = format!("{RUN_DIR}/train.safetensors");
    let mut first = 0;
    if args.resume {
        first = checkpoint::load_training(&mut net, &mut optimizer, &resume_path)?;
        println!("resumed from {resume_path} at step {first}");
    }
    let steps = args.steps;
    println!(
        "char_gpt: {} — {} characters, {} distinct; train {} / validation {}",
        corpus.origin(),
        corpus.len(),
        corpus.vocab().len(),
        corpus.train().len(),
        corpus.validation().len()
    );
    println!(
        "a {}-parameter GPT (4 layers, 4 heads, 128 wide, context {CONTEXT}), batch {BATCH}, \
         {steps} AdamW steps, {} thread(s)",
        net.num_params(),
        nanotorch::num_threads()
    );
    std::fs::create_dir_all(RUN_DIR)?;
    let mut batcher = CharBatcher::<Ctx, Voc>::new(corpus)?;
    let (mut x, mut y) = (Window::default(), Vec::new());
    let mut scratch = Vec::new();
    let mut d_logits = Tensor::default();
    let starts = eval_starts(corpus.validation().len());
    let mut history = History::new();
    let epochs = steps.div_ceil(EVAL_EVERY) as usize;
    let mut train_time = Duration::ZERO;
    let mut step = first;
    while step < steps {
        let epoch = (step / EVAL_EVERY) as usize + 1;
        let end = (epoch as u64 * EVAL_EVERY).min(steps);
        let epoch_start = Instant::now();
        let taken = end - step;
        let mut progress = Progress::new(epoch, epochs, (end - step) as usize);
        for s in step..end {
            batcher.fill(corpus.train(), BATCH, &mut seeded_rng(s), &mut x, &mut y)?;
            optimizer.set_lr(lr_at(s, steps));
            net.zero_grad();
            let logits = net.forward(&x);
            let loss = cross_entropy_seq_into(logits, &y, &mut d_logits)?;
            net.backward(&d_logits)?;
            clip_grad_norm(&mut net, 1.0);
            optimizer.step(&mut net);
            progress.step(f64::from(loss), BATCH, None);
        }
        let elapsed = epoch_start.elapsed();
        train_time += elapsed;
        let meter = progress.finish();
        step = end;
        let val = loss_on(
            &mut net,
            corpus.validation(),
            &starts,
            &mut x,
            &mut y,
            &mut scratch,
            &mut d_logits,
        )?;
        let summary = EpochSummary::new(epoch, epochs, meter.loss(), elapsed).with_test(val, None);
        println!(
            "step {step:>4}  train loss {:.4}  val loss {val:.4} nats = {:.4} bits/char  lr {:.2e}  {:.1} ms/step",
            meter.loss(),
            val / std::f64::consts::LN_2,
            lr_at(step - 1, steps),
            1e3 * elapsed.as_secs_f64() / taken as f64,
        );
        history.push(summary);
        checkpoint::save_training(&mut net, &mut optimizer, step, &resume_path)?;
    }
    let full = full_validation_starts(corpus.validation().len());
    let val = loss_on(
        &mut net,
        corpus.validation(),
        &full,
        &mut x,
        &mut y,
        &mut scratch,
        &mut d_logits,
    )?;
    let trained = steps - first;
    println!(
        "validation loss {val:.4} nats = {:.4} bits/char on all {} non-overlapping windows of the validation part, \
         after {steps} steps; {trained} steps in {:.1} s of training = {:.1} ms/step ({:.1} s in all)",
        val / std::f64::consts::LN_2,
        full.len(),
        train_time.as_secs_f64(),
        1e3 * train_time.as_secs_f64() / trained.max(1) as f64,
        start.elapsed().as_secs_f64()
    );
    checkpoint::save(&mut net, format!("{RUN_DIR}/model.safetensors"))?;
    std::fs::write(format!("{RUN_DIR}/graph.svg"), CharGpt::graph_svg())?;
    if first == steps {
        println!("saved {RUN_DIR}/model.safetensors (no step taken: curves.svg left as it was)");
    } else {
        history.write_svg(format!("{RUN_DIR}/curves.svg"))?;
        println!(
            "saved {RUN_DIR}/model.safetensors, {RUN_DIR}/train.safetensors and {RUN_DIR}/curves.svg"
        );
    }
    Ok(net)
}

/// Every non-overlapping window of the validation part: starts 0, 64, 128, …
fn full_validation_starts(len: usize) -> Vec<usize> {
    (0..(len - 1) / CONTEXT).map(|k| k * CONTEXT).collect()
}

/// Prints `prompt` and `args.tokens` generated characters. The model reads a fixed window of
/// 64: a shorter prompt sits at positions `0..n` (the rest is padding that a causal model's
/// position `n − 1` never sees) and the next character is drawn from the logits there; once
/// 64 characters are known the window slides, holding the last 64, as nanoGPT's `generate`
/// crops its context. The loop reuses its buffers: it allocates nothing per character.
fn generate(
    net: &mut CharGpt<f32>,
    vocab: &CharVocab,
    prompt: &str,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let prompt_ids = vocab.encode(prompt)?;
    if prompt_ids.is_empty() {
        return Err("the prompt is empty: give at least one character".into());
    }
    let mut sampler = Sampler::new(args.temperature, args.top_k)?;
    let mut rng = seeded_rng(args.seed);
    // The known characters: the prompt, then each one generated.
    let mut ids = Vec::with_capacity(prompt_ids.len() + args.tokens);
    ids.extend_from_slice(&prompt_ids);
    let mut window = [0usize; CONTEXT];
    let mut x = Window::default();
    let mut out = String::with_capacity(4 * args.tokens);
    let mut stdout = std::io::stdout().lock();
    println!(
        "--- sample: {} characters, temperature {}, top-k {}, seed {} ---",
        args.tokens,
        args.temperature,
        args.top_k.map_or("off".to_string(), |k| k.to_string()),
        args.seed
    );
    write!(stdout, "{prompt}")?;
    let start = Instant::now();
    for _ in 0..args.tokens {
        let n = ids.len().min(CONTEXT);
        window[..n].copy_from_slice(&ids[ids.len() - n..]);
        x.assign_from_slice(1, &window)?;
        let logits = net.forward(&x);
        let row = &logits.as_slice()[(n - 1) * VOCAB..n * VOCAB];
        let next = sampler.sample(row, &mut rng)?;
        ids.push(next);
        let before = out.len();
        vocab.decode_into(&ids[ids.len() - 1..], &mut out)?;
        write!(stdout, "{}", &out[before..])?;
    }
    let elapsed = start.elapsed();
    writeln!(stdout)?;
    writeln!(
        stdout,
        "--- {} characters in {:.2} s = {:.0} characters/s ---",
        args.tokens,
        elapsed.as_secs_f64(),
        args.tokens as f64 / elapsed.as_secs_f64()
    )?;
    Ok(())
}
