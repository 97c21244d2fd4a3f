//! GFLOP/s of the matrix products of the MNIST training step (784 → 256 → 128 → 10, batch 128),
//! NanoTorch's against PyTorch's `torch.mm` on the same shapes and layouts, at 1 and 2 threads,
//! in one run; then the steps of four benchmark models (mnist, lenet, gpt, lstm) split into
//! their products, convolutions, attention, normalisation and the rest.
//!
//! ```text
//! PYTHON=.venv/bin/python cargo run --release --example gflops
//! ```
//!
//! **What is measured.** Each product is timed on its own, as the step calls it: NanoTorch's
//! primitive (`linear_into` for the forward `x·Wᵀ`, which also adds the bias;
//! `linear_backward_params` for `dW += dyᵀ·x`, which also sums the bias gradient;
//! `linear_backward_input_into` for `dX = dy·W`) against `torch.mm` into a preallocated output
//! with the operands stored the same way (`scripts/mm_torch.py`). The bias work counts against
//! NanoTorch. FLOPs are `2·M·K·N` per product. Each figure is the best of samples of ~2 ms
//! after warm-up (interference only adds time), in a fresh process per side and thread count
//! (threads pinned through `NANOTORCH_NUM_THREADS` and `torch.set_num_threads`).
//!
//! The step table divides each step's time into parts that do not overlap, all measured in
//! the same steps by [`nanotorch::step_timer`]: the products (every product the step runs on
//! its thread — linear layers, attention's batched products, the convolutions' products and
//! the direct convolution's multiply-adds); the convolutions besides their products (im2col
//! and col2im, then padding, bias, gathers and sums over parts); attention besides its
//! products (scores, masked softmax, weighted sums); batch and layer normalisation; and the
//! rest (activations, pooling, the loss, the optimizer, copies), which is the step minus the
//! measured parts, so the row adds up to the step. (Timing the products apart from the step
//! did not: run alone, with their operands hot in cache, they once summed to 107 % of the
//! step.) At 2 threads, work that a convolution or a batch norm runs inside its own parallel
//! parts counts in that region's wall time, not as products.
//! FLOPs are those of `TrainStep::gemm_flops` (products and convolutions: forward, `dW`, `dX`).
//!
//! `PYTHON` defaults to `.venv/bin/python` if that exists, else `python3`.

use std::process::Command;
use std::time::{Duration, Instant};

use nanotorch::ops::{linear_backward_input_into, linear_backward_params, linear_into};
use nanotorch::{Dyn, Tensor, seeded_rng};
use nanotorch_suite::bench_models::by_name;
use nanotorch_suite::bench_processes::{python, run_worker as run};

type Matrix = Tensor<(Dyn, Dyn)>;

const BATCH: usize = 128;
const LAYERS: [(usize, usize); 3] = [(784, 256), (256, 128), (128, 10)];

fn rand(rows: usize, cols: usize, seed: u64) -> Matrix {
    Tensor::rand_uniform((Dyn(rows), Dyn(cols)), -1.0, 1.0, &mut seeded_rng(seed))
}

/// Best seconds per call of `f` over samples of about 2 ms each, taken for about `seconds`.
/// The best sample, not the median: interference from other processes only ever adds time,
/// so the minimum is the figure that the step and its products can be compared by.
fn best_secs(mut f: impl FnMut(), seconds: f64) -> f64 {
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < Duration::from_millis(200) || warm < 5 {
        f();
        warm += 1;
    }
    let per = start.elapsed().as_secs_f64() / f64::from(warm);
    let n = ((2e-3 / per) as usize).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds || samples.len() < 9 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        samples.push(t.elapsed().as_secs_f64() / n as f64);
    }
    samples.into_iter().fold(f64::INFINITY, f64::min)
}

/// One product of the step: its name, `M×K×N:layouts` spec (as `scripts/mm_torch.py` reads
/// it) and FLOPs.
struct Product {
    name: String,
    spec: String,
    flops: f64,
}

/// The step's eight products: per layer the forward `x·Wᵀ` and `dW = dyᵀ·x`, and `dX = dy·W`
/// for every layer but the first (the input needs no gradient).
fn products() -> Vec<Product> {
    let mut out = Vec::new();
    for (l, &(inp, outp)) in LAYERS.iter().enumerate() {
        let flops = 2.0 * (BATCH * inp * outp) as f64;
        let mut add = |name: &str, m, k, n, layout: &str| {
            out.push(Product {
                name: format!("fc{} {name}", l + 1),
                spec: format!("{m}x{k}x{n}:{layout}"),
                flops,
            });
        };
        add("forward x·Wᵀ", BATCH, inp, outp, "nt");
        add("dW = dyᵀ·x", outp, BATCH, inp, "tn");
        if l > 0 {
            add("dX = dy·W", BATCH, outp, inp, "nn");
        }
    }
    out
}

/// Worker: prints `spec seconds` for each product, then `step seconds`.
fn worker(seconds: f64) {
    for (l, &(inp, out)) in LAYERS.iter().enumerate() {
        let seed = 10 * l as u64;
        let x = rand(BATCH, inp, seed);
        let w = rand(out, inp, seed + 1);
        let bias: Tensor<(Dyn,)> =
            Tensor::rand_uniform((Dyn(out),), -1.0, 1.0, &mut seeded_rng(seed + 2));
        let dy = rand(BATCH, out, seed + 3);
        let mut y = rand(BATCH, out, seed + 4);
        let mut dw = rand(out, inp, seed + 5);
        let mut db: Tensor<(Dyn,)> = Tensor::zeros((Dyn(out),));
        let mut dx = rand(BATCH, inp, seed + 6);
        let fwd = best_secs(
            || linear_into(&x, &w, Some(&bias), &mut y).expect("sizes agree"),
            seconds,
        );
        println!("{BATCH}x{inp}x{out}:nt {fwd:.9}");
        let dws = best_secs(
            || linear_backward_params(&x, &dy, &mut dw, Some(&mut db)).expect("sizes agree"),
            seconds,
        );
        println!("{out}x{BATCH}x{inp}:tn {dws:.9}");
        if l > 0 {
            let dxs = best_secs(|| linear_backward_input_into(&w, &dy, &mut dx), seconds);
            println!("{BATCH}x{out}x{inp}:nn {dxs:.9}");
        }
    }
    for name in STEPS {
        let parts = step_parts(name, 2.0 * seconds);
        println!("step:{name} {:.9}", parts.step);
        for (key, value) in parts.named() {
            println!("{key}:{name} {value:.9}");
        }
    }
}

/// The models whose steps are split into their parts.
const STEPS: [&str; 4] = ["mnist", "lenet", "gpt", "lstm"];

/// One step's time, split into parts that do not overlap and add up to it (seconds per step).
#[derive(Default)]
struct StepParts {
    step: f64,
    /// Matrix products (and the direct convolution's multiply-adds), wherever they ran.
    products: f64,
    /// Convolutions, besides their products: im2col and col2im ...
    patches: f64,
    /// ... and the rest of the convolutions (padding, bias, copies, sums over parts).
    conv_other: f64,
    /// Attention, besides its products (scores, masked softmax, weighted sums, copies).
    attention: f64,
    /// Batch and layer normalisation.
    normalization: f64,
}

impl StepParts {
    /// The parts with the worker's keys.
    fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("products", self.products),
            ("patches", self.patches),
            ("conv_other", self.conv_other),
            ("attention", self.attention),
            ("normalization", self.normalization),
        ]
    }

    /// What no part covers: activations, pooling, the loss, the optimizer, copies.
    fn rest(&self) -> f64 {
        self.step - self.named().iter().map(|(_, v)| v).sum::<f64>()
    }
}

/// One model's step time and, inside it, where the time went: over samples of about 2 ms, the
/// sample with the least wall time (interference only adds), per step. The parts are timed by
/// [`nanotorch::step_timer`] during the same steps, so they add up: the rest is the step minus
/// the parts, never an estimate.
fn step_parts(name: &str, seconds: f64) -> StepParts {
    use nanotorch::step_timer::Part;
    let mut model = by_name(name).expect("a known model");
    let per = best_secs(
        || {
            model.step();
        },
        0.2,
    );
    let n = ((2e-3 / per) as usize).max(1);
    let mut best = StepParts {
        step: f64::INFINITY,
        ..StepParts::default()
    };
    let start = Instant::now();
    let mut samples = 0;
    while start.elapsed().as_secs_f64() < seconds || samples < 9 {
        nanotorch::step_timer::start();
        let t = Instant::now();
        for _ in 0..n {
            model.step();
        }
        let wall = t.elapsed().as_secs_f64();
        let timings = nanotorch::step_timer::stop();
        if wall < best.step * n as f64 {
            let per_step = |d: Duration| d.as_secs_f64() / n as f64;
            let conv = per_step(timings.part(Part::Convolution));
            let patches = per_step(timings.part(Part::Patches));
            best = StepParts {
                step: wall / n as f64,
                products: per_step(timings.products),
                patches,
                conv_other: conv - per_step(timings.products_in(Part::Convolution)) - patches,
                attention: per_step(timings.part(Part::Attention))
                    - per_step(timings.products_in(Part::Attention)),
                normalization: per_step(timings.part(Part::Normalization)),
            };
        }
        samples += 1;
    }
    best
}

fn lookup(results: &[(String, f64)], key: &str) -> f64 {
    results
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| panic!("no timing for {key}"), |r| r.1)
}

fn main() {
    let seconds = 0.5;
    if std::env::args().any(|a| a == "--worker") {
        worker(seconds);
        return;
    }
    let me = std::env::current_exe().expect("the path of this program");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mm_torch.py");
    let products = products();
    let specs: Vec<&str> = products.iter().map(|p| p.spec.as_str()).collect();
    for threads in ["1", "2"] {
        let ours = run(Command::new(&me)
            .arg("--worker")
            .env(nanotorch::NUM_THREADS_ENV, threads));
        let theirs = run(Command::new(python())
            .args([script, "--threads", threads])
            .args(&specs)
            .env("OMP_NUM_THREADS", threads)
            .env("MKL_NUM_THREADS", threads));
        println!("\n{threads} thread(s): GFLOP/s, NanoTorch against torch.mm on the same shape\n");
        println!("| product | M×K×N | NanoTorch | torch.mm | NanoTorch / torch |");
        println!("|---|---|---|---|---|");
        for p in &products {
            let (ours, theirs) = (lookup(&ours, &p.spec), lookup(&theirs, &p.spec));
            let (sizes, _) = p.spec.split_once(':').expect("M×K×N:layouts");
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.0} % |",
                p.name,
                sizes.replace('x', "×"),
                p.flops / ours / 1e9,
                p.flops / theirs / 1e9,
                100.0 * theirs / ours
            );
        }
        println!();
        println!(
            "| step | ms | products: ms (share, GFLOP/s) | im2col, col2im | rest of the \
             convolutions | attention besides products | normalisation | the rest |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for name in STEPS {
            let get = |key: &str| lookup(&ours, &format!("{key}:{name}"));
            let parts = StepParts {
                step: get("step"),
                products: get("products"),
                patches: get("patches"),
                conv_other: get("conv_other"),
                attention: get("attention"),
                normalization: get("normalization"),
            };
            let flops = by_name(name).expect("a known model").gemm_flops();
            let ms = |v: f64| format!("{:.3}", v * 1e3);
            println!(
                "| {name} | {} | {} ({:.0} %, {:.1}) | {} | {} | {} | {} | {} |",
                ms(parts.step),
                ms(parts.products),
                100.0 * parts.products / parts.step,
                flops / parts.products / 1e9,
                ms(parts.patches),
                ms(parts.conv_other),
                ms(parts.attention),
                ms(parts.normalization),
                ms(parts.rest()),
            );
        }
    }
}
