//! A typed GPT that learns to sort: minGPT's sorting problem, with the transformer declared in
//! `network!` and its backward derived at compile time.
//!
//! ```sh
//! cargo run --release --example sort                # train, then test on 1,000 held-out sequences
//! cargo run --release --example sort -- 2 0 1 1 0 2 # ... and sort these six digits: 0 0 1 1 2 2
//! ```
//!
//! The task: read 6 digits from {0, 1, 2}, then generate them in sorted order, one token at a
//! time. A training example is the 12-token sequence `input ++ sorted(input)`; the model reads
//! its first 11 tokens and predicts, at each position, the next one. Only the predictions of
//! the sorted half count in the loss (the first 5 targets are ignored): the input digits are
//! random, so predicting them teaches nothing. The 729 possible inputs are split once: about a
//! quarter are held out, and the test draws 1,000 sequences from those only.
//!
//! The model: a 2-layer, 4-head, 48-wide GPT (token and position embeddings, two pre-norm
//! transformer blocks, a final LayerNorm and a linear head), trained with AdamW (lr 5e-4,
//! betas 0.9/0.95) and gradient clipping at 1, batch 64, as minGPT's demo of this task.
//! It writes `runs/sort/model.safetensors`, `runs/sort/curves.svg` and `runs/sort/graph.svg` (the
//! graph `network!` differentiated).

use std::error::Error;
use std::time::Instant;

use nanotorch::checkpoint;
use nanotorch::prelude::*;
use nanotorch::rand::Rng;
use nanotorch::train::{EpochSummary, History, Progress};

/// Digits per sequence.
const LENGTH: usize = 6;
/// The vocabulary: the digits 0, 1 and 2.
const DIGITS: usize = 3;
/// Tokens the model reads: the input and all but the last sorted digit.
const CONTEXT: usize = 2 * LENGTH - 1;

network! {
    /// A transformer block: causal self-attention and an MLP, each after a LayerNorm and added
    /// back onto its input (pre-norm residuals, as GPT-2).
    pub struct Block {
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
    /// The GPT: 11 token ids in, logits over the 3 digits at every position out.
    pub struct Gpt {
        wte: Embedding<3, 48>,
        wpe: PositionEmbedding<11, 48>,
        h: [Block; 2],
        ln_f: LayerNorm<48>,
        head: Linear<48, 3>,
    }
    fn forward(idx: [B, 11] tokens<3>) -> [B, 11, 3] = wte -> wpe -> h -> ln_f -> head;
}

type Context = Tokens<U11, U3>;

const SEED: u64 = 0;
const STEPS: usize = 2000;
const STEPS_PER_EPOCH: usize = 100;
const BATCH: usize = 64;
const TEST_SEQUENCES: usize = 1000;

/// Whether an input belongs to the held-out quarter: a fixed hash of its digits, so the split
/// is the same on every run and no held-out input is ever trained on.
fn held_out(digits: &[usize]) -> bool {
    let code = digits.iter().fold(0u64, |acc, &d| acc * 3 + d as u64);
    // A multiplicative hash spreads neighbouring codes over both sides.
    (code.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) % 4 == 0
}

/// A random input from one side of the split. Half of the draws insist on few distinct digits
/// (many repeats), the case minGPT found the model struggles with late in training.
fn draw(rng: &mut impl Rng, test: bool) -> [usize; LENGTH] {
    loop {
        let mut digits = [0usize; LENGTH];
        digits
            .iter_mut()
            .for_each(|d| *d = rng.random_range(0..DIGITS));
        if rng.random_bool(0.5) {
            let mut seen = [false; DIGITS];
            digits.iter().for_each(|&d| seen[d] = true);
            if seen.iter().filter(|&&s| s).count() > LENGTH / 2 {
                continue;
            }
        }
        if held_out(&digits) == test {
            return digits;
        }
    }
}

/// One example: the 11 tokens the model reads and the 11 targets (`None` for the input half).
fn example(digits: &[usize; LENGTH]) -> ([usize; CONTEXT], [Option<usize>; CONTEXT]) {
    let mut sorted = *digits;
    sorted.sort_unstable();
    let sequence: Vec<usize> = digits.iter().chain(&sorted).copied().collect();
    let mut context = [0; CONTEXT];
    let mut targets = [None; CONTEXT];
    for t in 0..CONTEXT {
        context[t] = sequence[t];
        // Position t predicts token t + 1; only the sorted half is scored.
        targets[t] = (t + 1 >= LENGTH).then_some(sequence[t + 1]);
    }
    (context, targets)
}

/// Greedy generation: feed the 6 digits, then append the most likely next digit 6 times.
/// Attention is causal, so the tokens after the current position (still 0 here) do not affect
/// the prediction read at it.
fn sort_with(net: &Gpt, digits: &[usize; LENGTH]) -> Result<[usize; LENGTH], Box<dyn Error>> {
    let mut context = [0usize; CONTEXT];
    context[..LENGTH].copy_from_slice(digits);
    let mut out = [0usize; LENGTH];
    for (k, slot) in out.iter_mut().enumerate() {
        let position = LENGTH - 1 + k;
        let logits = net.predict(&Context::from_vec(1, context.to_vec())?);
        let row = &logits.as_slice()[position * DIGITS..(position + 1) * DIGITS];
        let next = (0..DIGITS)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .expect("3 digits");
        *slot = next;
        if position + 1 < CONTEXT {
            context[position + 1] = next;
        }
    }
    Ok(out)
}

fn parse_digits(args: &[String]) -> Result<[usize; LENGTH], String> {
    let digits: Vec<usize> = args
        .iter()
        .map(|a| match a.parse::<usize>() {
            Ok(d) if d < DIGITS => Ok(d),
            _ => Err(format!("expected digits 0, 1 or 2, found `{a}`")),
        })
        .collect::<Result<_, _>>()?;
    digits
        .try_into()
        .map_err(|d: Vec<usize>| format!("expected {LENGTH} digits, found {}", d.len()))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let query = if args.is_empty() {
        None
    } else {
        match parse_digits(&args) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("{e}\nusage: cargo run --release --example sort [-- d1 d2 d3 d4 d5 d6]");
                std::process::exit(2);
            }
        }
    };
    let start = Instant::now();
    let mut rng = seeded_rng(SEED);
    let mut net = Gpt::<f32>::new(SEED);
    println!(
        "sort: a {}-parameter GPT (2 layers, 4 heads, 48 wide) learns to sort {LENGTH} digits",
        net.num_params()
    );
    let mut optimizer = AdamW::new()
        .with_lr(5e-4)
        .betas(0.9, 0.95)
        .weight_decay(0.1);
    let mut batch = Context::default();
    let (mut ids, mut targets) = (Vec::new(), Vec::new());
    let mut d_logits = Tensor::default();
    let mut history = History::new();
    for epoch in 1..=STEPS / STEPS_PER_EPOCH {
        let epoch_start = Instant::now();
        let mut progress = Progress::new(epoch, STEPS / STEPS_PER_EPOCH, STEPS_PER_EPOCH);
        for _ in 0..STEPS_PER_EPOCH {
            ids.clear();
            targets.clear();
            for _ in 0..BATCH {
                let (context, target) = example(&draw(&mut rng, false));
                ids.extend_from_slice(&context);
                targets.extend_from_slice(&target);
            }
            batch.assign_from_slice(BATCH, &ids)?;
            net.zero_grad();
            let logits = net.forward(&batch);
            let loss = cross_entropy_seq_into(logits, &targets, &mut d_logits)?;
            net.backward(&d_logits)?;
            clip_grad_norm(&mut net, 1.0);
            optimizer.step(&mut net);
            progress.step(f64::from(loss), BATCH, None);
        }
        let meter = progress.finish();
        let summary = EpochSummary::new(
            epoch,
            STEPS / STEPS_PER_EPOCH,
            meter.loss(),
            epoch_start.elapsed(),
        );
        println!("{summary}");
        history.push(summary);
    }

    // Exact match on held-out sequences: all 6 generated digits must be right.
    let mut test_rng = seeded_rng(SEED + 1);
    let mut correct = 0;
    let mut distinct = std::collections::BTreeSet::new();
    for _ in 0..TEST_SEQUENCES {
        let digits = draw(&mut test_rng, true);
        distinct.insert(digits);
        let mut want = digits;
        want.sort_unstable();
        if sort_with(&net, &digits)? == want {
            correct += 1;
        }
    }
    println!(
        "held-out exact match: {correct}/{TEST_SEQUENCES} = {:.1}% ({} distinct held-out inputs, none seen in training) after {STEPS} steps in {:.2?}",
        100.0 * correct as f64 / TEST_SEQUENCES as f64,
        distinct.len(),
        start.elapsed()
    );

    std::fs::create_dir_all("runs/sort")?;
    checkpoint::save(&mut net, "runs/sort/model.safetensors")?;
    history.write_svg("runs/sort/curves.svg")?;
    // The graph network! differentiated, drawn at compile time.
    std::fs::write("runs/sort/graph.svg", Gpt::graph_svg())?;
    println!("saved runs/sort/model.safetensors, curves.svg and graph.svg");

    if let Some(digits) = query {
        let sorted = sort_with(&net, &digits)?;
        let text: Vec<String> = sorted.iter().map(|d| d.to_string()).collect();
        println!("{}", text.join(" "));
    }
    Ok(())
}
