//! NanoTorch against PyTorch on one full training step of the nine benchmark models
//! (`src/bench_models.rs`, `scripts/bench_torch.py`), at 1 and at 2 threads.
//!
//! ```text
//! PYTHON=/path/to/venv/bin/python cargo run --release --example speed_compare [-- --rounds 3]
//! cargo run --release --example speed_compare -- --rounds 3 --models char_gpt   # one model
//! ```
//!
//! The driver alternates the two sides — for each round and thread count it runs a NanoTorch
//! worker process, then a PyTorch one — so background load hits both alike. Threads are
//! pinned per process: NanoTorch's through `NANOTORCH_NUM_THREADS` (read by
//! [`nanotorch::num_threads`]), PyTorch's through `torch.set_num_threads` (and
//! `OMP_NUM_THREADS`/`MKL_NUM_THREADS`). Each worker warms up, then times samples of `n`
//! back-to-back steps (about 2 ms per sample) for about a second per model and reports the
//! median sample / `n`; the table shows, per cell, the median over rounds.
//!
//! **The FLOP limit.** Each model's step is also given as FLOPs — `2·m·k·n` over every matrix
//! product and convolution (as im2col products) of the step: forward, `dW`, and `dX` where the
//! step computes it (`TrainStep::gemm_flops`; elementwise work, norms, softmax and the
//! optimizer are not counted) — as the GFLOP/s NanoTorch achieved, and as a share of the
//! machine's limit: the best rate measured in the same run on a 1024 × 1024 × 1024 product at
//! that thread count, by NanoTorch's GEMM or `torch.mm`, whichever is faster. A step at 100 %
//! would be all products at the best product rate this machine showed.
//!
//! `PYTHON` defaults to `.venv/bin/python` if that exists, else `python3`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use nanotorch_suite::bench_models::{NAMES, by_name};
use nanotorch_suite::bench_processes::{python, run_worker};

/// Speed-up targets (PyTorch time / NanoTorch time) from the performance issue, per model and
/// thread count.
fn target(model: &str, threads: usize) -> f64 {
    match (model, threads) {
        ("tiny", _) => 100.0,
        ("digits", _) => 20.0,
        ("mnist", 1) => 2.0,
        ("mnist", _) => 1.5,
        ("residual", _) => 20.0,
        ("gpt", 1) => 2.0,
        ("char_gpt", _) => 1.4,
        ("lstm", _) => 1.1,
        ("char_lstm", _) => 1.1,
        ("lenet", 1) => 1.5,
        ("lenet", _) => 1.2,
        _ => f64::NAN,
    }
}

/// Median nanoseconds per step of `step`, timed as described in the module doc.
fn time_step(mut step: impl FnMut(), seconds: f64) -> (f64, usize) {
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < Duration::from_millis(200) || warm < 10 {
        step();
        warm += 1;
    }
    let per_step = start.elapsed().as_secs_f64() / f64::from(warm);
    let n = ((2e-3 / per_step) as usize).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds || samples.len() < 11 {
        let t0 = Instant::now();
        for _ in 0..n {
            step();
        }
        samples.push(t0.elapsed().as_nanos() as f64 / n as f64);
    }
    (median(&mut samples), samples.len())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The best GFLOP/s of NanoTorch's GEMM on a 1024 × 1024 × 1024 product at this process's
/// threads.
fn gemm_peak() -> f64 {
    use nanotorch::{Dyn, Tensor, ops::matmul_into, seeded_rng};
    let n = 1024;
    let mut rng = seeded_rng(0);
    let a = Tensor::<(Dyn, Dyn)>::rand_uniform((Dyn(n), Dyn(n)), -1.0, 1.0, &mut rng);
    let b = Tensor::<(Dyn, Dyn)>::rand_uniform((Dyn(n), Dyn(n)), -1.0, 1.0, &mut rng);
    let mut c = Tensor::default();
    let mut best = f64::INFINITY;
    for k in 0..15 {
        let t = Instant::now();
        matmul_into(&a, &b, &mut c).expect("square operands of one size");
        if k >= 3 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// Worker mode: time every model in this process and print `name ns_per_step samples`, then
/// `gemm_peak GFLOP/s`.
fn worker(seconds: f64, models: &str) {
    for name in NAMES
        .into_iter()
        .filter(|n| models.split(',').any(|m| m == *n))
    {
        let mut bench = by_name(name).expect("a known model");
        let (ns, count) = time_step(
            || {
                std::hint::black_box(bench.step());
            },
            seconds,
        );
        println!("{name} {ns:.1} {count}");
    }
    println!("gemm_peak {:.1}", gemm_peak());
}

/// Runs a worker and collects its `name ns_per_step` lines.
fn run(cmd: &mut Command) -> BTreeMap<String, f64> {
    run_worker(cmd).into_iter().collect()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = arg(&args, "--seconds").map_or(1.0, |s| s.parse().expect("--seconds N"));
    if args.iter().any(|a| a == "--worker") {
        let all = NAMES.join(",");
        worker(seconds, &arg(&args, "--models").unwrap_or(all));
        return;
    }
    let rounds: usize = arg(&args, "--rounds").map_or(3, |s| s.parse().expect("--rounds N"));
    let me = std::env::current_exe().expect("the path of this program");
    let py = python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/bench_torch.py");
    let seconds_arg = seconds.to_string();
    let models = arg(&args, "--models").unwrap_or_else(|| NAMES.join(","));
    let chosen: Vec<&str> = NAMES
        .into_iter()
        .filter(|n| models.split(',').any(|m| m == *n))
        .collect();
    // (threads, model) → per-round ns of each side.
    let mut nano: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
    let mut torch: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
    // (threads, side) → the best 1024³ product rate that side showed (GFLOP/s).
    let mut peaks: BTreeMap<(usize, &str), f64> = BTreeMap::new();
    for round in 1..=rounds {
        for threads in [1usize, 2] {
            eprintln!("round {round}/{rounds}, {threads} thread(s): NanoTorch, then PyTorch");
            let t = threads.to_string();
            let ours = run(Command::new(&me)
                .args(["--worker", "--seconds", &seconds_arg, "--models", &models])
                .env(nanotorch::NUM_THREADS_ENV, &t));
            let theirs = run(Command::new(&py)
                .args([
                    script,
                    "--threads",
                    &t,
                    "--seconds",
                    &seconds_arg,
                    "--models",
                    &models,
                ])
                .env("OMP_NUM_THREADS", &t)
                .env("MKL_NUM_THREADS", &t));
            for (side, label, times) in [
                (&mut nano, "NanoTorch", ours),
                (&mut torch, "torch.mm", theirs),
            ] {
                for (name, value) in times {
                    if name == "gemm_peak" {
                        let best = peaks.entry((threads, label)).or_insert(0.0);
                        *best = best.max(value);
                    } else {
                        side.entry((threads, name)).or_default().push(value);
                    }
                }
            }
        }
    }
    println!(
        "NanoTorch matrix products: its own GEMM ({}); {rounds} round(s), median per cell.\n",
        nanotorch::gemm_instruction_set()
    );
    println!(
        "Best 1024×1024×1024 product in this run (GFLOP/s): {}.",
        peaks
            .iter()
            .map(|((t, side), g)| format!("{side} {g:.1} at {t} thread(s)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut peak: BTreeMap<usize, f64> = BTreeMap::new();
    for (&(threads, _), &g) in &peaks {
        let best = peak.entry(threads).or_insert(0.0);
        *best = best.max(g);
    }
    println!("The FLOP limit per thread count is the better of the two.\n");
    let flops: BTreeMap<&str, f64> = chosen
        .iter()
        .map(|&name| (name, by_name(name).expect("a known model").gemm_flops()))
        .collect();
    println!(
        "| model | threads | GFLOP/step | NanoTorch µs/step | GFLOP/s | % of limit | PyTorch µs/step | PyTorch / NanoTorch | target | met |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for threads in [1usize, 2] {
        for &name in &chosen {
            let key = (threads, name.to_string());
            let ours = median(nano.get_mut(&key).expect("NanoTorch timed every model")) / 1e3;
            let theirs = median(torch.get_mut(&key).expect("PyTorch timed every model")) / 1e3;
            let ratio = theirs / ours;
            let goal = target(name, threads);
            // No target for this thread count (the GPT's is set at 1 thread only).
            let (goal_text, met) = if goal.is_nan() {
                ("—".to_string(), "—")
            } else {
                (
                    format!("≥ {goal}×"),
                    if ratio >= goal { "yes" } else { "no" },
                )
            };
            let gflop = flops[name] / 1e9;
            let rate = gflop / (ours * 1e-6);
            let share = 100.0 * rate / peak.get(&threads).copied().unwrap_or(f64::NAN);
            println!(
                "| {name} | {threads} | {gflop:.3} | {ours:.2} | {rate:.1} | {share:.0} % | {theirs:.1} | {ratio:.1}× | {goal_text} | {met} |"
            );
        }
    }
}
