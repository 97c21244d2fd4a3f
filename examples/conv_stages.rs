//! Lesson 24's measurements: LeNet's two convolutions computed stage by stage, from seven
//! plain loops to NanoTorch's `conv2d_into`, each timed on this machine, in `f32`.
//!
//! ```text
//! cargo run --release --example conv_stages               # prints the tables, draws the plot
//! cargo run --release --example conv_stages -- --seconds 2   # longer per row (default 1)
//! ```
//!
//! It prints, as markdown (lesson 24 pastes it verbatim):
//!
//! - the machine's limits, measured in the same run at 1 and 2 threads, before and after the
//!   stages (the best of both is kept): the best GFLOP/s of NanoTorch's GEMM on a 1024 × 1024
//!   × 1024 product, and the bandwidth of a copy of 16 MiB into 16 MiB (bytes read + bytes
//!   written per second; both arrays are larger than a core's L2 cache, as are the patch
//!   matrices below), and the time of a dependent `f32` add;
//! - for each stage: ms per call, GFLOP/s (FLOPs `2·B·O·OH·OW·C·K·K` per forward, twice that for
//!   the backward), GB/s and FLOPs per byte, with the bytes each stage must move
//!   ([`Traffic`]: every array it reads or writes counted once), which roof bounds it at that
//!   intensity (`min(peak, bandwidth · FLOP/B)`), and its rate as a percentage of that roof.
//!
//! Each figure is the best of at least 5 samples of about 50 ms (or one call, if longer) after
//! a warm-up: interference from other processes only adds time. Before timing, every variant's
//! output is checked against the seven loops (and the backward against the definitions in
//! `f64`); the program stops if one differs.
//!
//! It then draws the roofline picture from the printed tables into
//! `lessons/plots/l24_roofline.svg` (`roofline_from_tables`, which `tests/lesson_plots.rs`
//! uses to check the committed picture against the tables on the page).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nanotorch::ops::{
    Conv2dSpec, conv2d_backward_input_into, conv2d_backward_params, conv2d_into, matmul_into,
};
use nanotorch::{Dyn, Tensor, gemm_instruction_set, seeded_rng, set_num_threads};
use nanotorch_suite::lessons::l24_fast_convolution::{
    ConvShape, LENET_CONV1, LENET_CONV2, LIMITS_HEADER, STAGES_HEADER, Traffic,
    roofline_from_tables,
};

type Images = Tensor<(Dyn, Dyn, Dyn, Dyn)>;
type Matrix = Tensor<(Dyn, Dyn)>;
type Vector = Tensor<(Dyn,)>;

/// `y[b, o, i, j] = bias[o] + Σ_{c, p, q} W[o, c, p, q] · x̃[b, c, i + p, j + q]`, as written:
/// seven loops, one multiply-add at a time.
fn conv_loops(s: &ConvShape, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let (c_in, o_out, k, pad) = (s.in_channels, s.out_channels, s.kernel, s.padding);
    let (h, wd, oh, ow) = (s.height, s.width, s.out_height(), s.out_width());
    for b in 0..s.batch {
        for o in 0..o_out {
            for i in 0..oh {
                for j in 0..ow {
                    let mut sum = bias[o];
                    for c in 0..c_in {
                        for p in 0..k {
                            for q in 0..k {
                                // Padded pixel (i + p, j + q) is x[b, c, i + p − P, j + q − P].
                                let (r, col) = (i + p, j + q);
                                if r >= pad && r - pad < h && col >= pad && col - pad < wd {
                                    let pixel = x[((b * c_in + c) * h + r - pad) * wd + col - pad];
                                    sum += w[((o * c_in + c) * k + p) * k + q] * pixel;
                                }
                            }
                        }
                    }
                    y[((b * o_out + o) * oh + i) * ow + j] = sum;
                }
            }
        }
    }
}

/// The output columns `j0..j1` of tap `q` whose input column `j + q − P` is inside the image.
fn inside(s: &ConvShape, q: usize) -> (usize, usize) {
    let j0 = s.padding.saturating_sub(q);
    let j1 = (s.width + s.padding).saturating_sub(q).min(s.out_width());
    (j0, j1.max(j0))
}

/// The same sums with the loops reordered: for every weight, add weight × (a row of the input)
/// to a row of the output. The inner loop walks both rows in memory order, and its steps do
/// not depend on each other, so the compiler turns it into vector instructions.
fn conv_rows(s: &ConvShape, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let (c_in, o_out, k, pad) = (s.in_channels, s.out_channels, s.kernel, s.padding);
    let (h, wd, oh, ow) = (s.height, s.width, s.out_height(), s.out_width());
    for b in 0..s.batch {
        for o in 0..o_out {
            let plane = &mut y[(b * o_out + o) * oh * ow..][..oh * ow];
            plane.fill(bias[o]);
            for c in 0..c_in {
                let image = &x[(b * c_in + c) * h * wd..][..h * wd];
                for p in 0..k {
                    for q in 0..k {
                        let weight = w[((o * c_in + c) * k + p) * k + q];
                        let (j0, j1) = inside(s, q);
                        for i in 0..oh {
                            let r = i + p;
                            if r < pad || r - pad >= h {
                                continue;
                            }
                            let out = &mut plane[i * ow + j0..i * ow + j1];
                            let row = &image[(r - pad) * wd + j0 + q - pad..];
                            for (yv, &xv) in out.iter_mut().zip(row) {
                                *yv += weight * xv;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// im2col of the whole batch: `U[(c, p, q), (b, i, j)] = x̃[b, c, i + p, j + q]`, `[C·K·K,
/// B·OH·OW]`. Each row is one kernel tap over every output pixel, filled by runs of `OW`
/// consecutive input pixels.
fn im2col(s: &ConvShape, x: &[f32], u: &mut [f32]) {
    let (c_in, k, pad) = (s.in_channels, s.kernel, s.padding);
    let (h, wd, oh, ow) = (s.height, s.width, s.out_height(), s.out_width());
    let columns = s.batch * oh * ow;
    for (row_index, row) in u.chunks_exact_mut(columns).enumerate() {
        let (c, p, q) = (row_index / (k * k), row_index / k % k, row_index % k);
        let (j0, j1) = inside(s, q);
        for (b, image_row) in row.chunks_exact_mut(oh * ow).enumerate() {
            let plane = &x[(b * c_in + c) * h * wd..][..h * wd];
            for (i, out) in image_row.chunks_exact_mut(ow).enumerate() {
                let r = i + p;
                if r < pad || r - pad >= h {
                    out.fill(0.0);
                    continue;
                }
                out[..j0].fill(0.0);
                out[j1..].fill(0.0);
                let start = (r - pad) * wd + j0 + q - pad;
                out[j0..j1].copy_from_slice(&plane[start..start + (j1 - j0)]);
            }
        }
    }
}

/// `c = a·b` for row-major `a: [m, k]`, `b: [k, n]`, as the textbook writes it: a dot product
/// of a row of `a` and a column of `b` per entry of `c`.
fn matmul_loops(a: &[f32], b: &[f32], c: &mut [f32], (m, k, n): (usize, usize, usize)) {
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0;
            for t in 0..k {
                sum += a[i * k + t] * b[t * n + j];
            }
            c[i * n + j] = sum;
        }
    }
}

/// `y[b, o, i, j] = Y[o, (b, i, j)] + bias[o]`: the product's columns moved into the NCHW
/// layout of the output, with the bias.
fn to_images(s: &ConvShape, product: &[f32], bias: &[f32], y: &mut [f32]) {
    let pixels = s.out_height() * s.out_width();
    let columns = s.batch * pixels;
    for (plane_index, plane) in y.chunks_exact_mut(pixels).enumerate() {
        let (b, o) = (plane_index / s.out_channels, plane_index % s.out_channels);
        let src = &product[o * columns + b * pixels..][..pixels];
        for (v, &p) in plane.iter_mut().zip(src) {
            *v = p + bias[o];
        }
    }
}

/// `(dW, dbias, dx)` by their definitions, in `f64`: the reference the backward is checked
/// against. `dW[o, c, p, q] = Σ dy[b, o, i, j]·x̃[b, c, i + p, j + q]`, `dbias[o] = Σ dy[b, o,
/// i, j]`, and `dx` gets `dy[b, o, i, j]·W[o, c, p, q]` on every pixel `(i + p − P, j + q − P)`.
fn backward_loops(
    s: &ConvShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (c_in, o_out, k, pad) = (s.in_channels, s.out_channels, s.kernel, s.padding);
    let (h, wd, oh, ow) = (s.height, s.width, s.out_height(), s.out_width());
    let (mut dw, mut db, mut dx) = (
        vec![0.0; s.weight_len()],
        vec![0.0; o_out],
        vec![0.0; s.input_len()],
    );
    for b in 0..s.batch {
        for o in 0..o_out {
            for i in 0..oh {
                for j in 0..ow {
                    let g = f64::from(dy[((b * o_out + o) * oh + i) * ow + j]);
                    db[o] += g;
                    for c in 0..c_in {
                        for p in 0..k {
                            for q in 0..k {
                                let (r, col) = (i + p, j + q);
                                if r >= pad && r - pad < h && col >= pad && col - pad < wd {
                                    let at = ((b * c_in + c) * h + r - pad) * wd + col - pad;
                                    let tap = ((o * c_in + c) * k + p) * k + q;
                                    dw[tap] += g * f64::from(x[at]);
                                    dx[at] += g * f64::from(w[tap]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dw, db, dx)
}

/// The largest `|a − b|`, after checking that both have the same length.
fn max_diff<A: Copy + Into<f64>, B: Copy + Into<f64>>(a: &[A], b: &[B]) -> f64 {
    assert_eq!(a.len(), b.len(), "outputs of different sizes");
    a.iter()
        .zip(b)
        .map(|(&p, &q)| (p.into() - q.into()).abs())
        .fold(0.0, f64::max)
}

/// Panics unless `got` is `want` up to `f32` rounding: within `1e-5` of `want`'s largest
/// magnitude (the rounding of these sums, of up to 50,176 terms, measured below `2e-6` of it;
/// a wrong index is wrong by the size of the values themselves).
fn check<A: Copy + Into<f64>, B: Copy + Into<f64>>(what: &str, got: &[A], want: &[B]) {
    let scale = want.iter().map(|&v| v.into().abs()).fold(0.0, f64::max);
    let diff = max_diff(got, want);
    assert!(
        diff <= 1e-5 * scale.max(1.0),
        "{what}: differs from the reference by {diff:e} (values up to {scale:.3})"
    );
}

/// Best seconds per call of `f`: after a warm-up of at least 100 ms, samples of about 50 ms
/// (at least one call each) for at least `seconds` and at least 5 samples; the fastest sample,
/// since interference from other processes only ever adds time.
fn best_secs(mut f: impl FnMut(), seconds: f64) -> f64 {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(100) || calls < 2 {
        f();
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / f64::from(calls);
    let per_sample = ((0.05 / per_call) as usize).max(1);
    let (start, mut samples, mut best) = (Instant::now(), 0, f64::INFINITY);
    while start.elapsed().as_secs_f64() < seconds || samples < 5 {
        let t = Instant::now();
        for _ in 0..per_sample {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / per_sample as f64);
        samples += 1;
    }
    best
}

/// The best GFLOP/s of NanoTorch's GEMM on a 1024 × 1024 × 1024 product, at the current thread
/// count.
fn gemm_peak(seconds: f64) -> f64 {
    let n = 1024;
    let mut rng = seeded_rng(0);
    let a = Matrix::rand_uniform((Dyn(n), Dyn(n)), -1.0, 1.0, &mut rng);
    let b = Matrix::rand_uniform((Dyn(n), Dyn(n)), -1.0, 1.0, &mut rng);
    let mut c = Matrix::zeros((Dyn(n), Dyn(n)));
    let secs = best_secs(
        || matmul_into(&a, &b, &mut c).expect("square operands of one size"),
        seconds,
    );
    2.0 * (n * n * n) as f64 / secs / 1e9
}

/// Copy bandwidth in GB/s (bytes read plus bytes written, per second) of `threads` threads each
/// copying its share of a 16 MiB array into another, repeatedly for samples of about 50 ms;
/// the best sample.
fn copy_bandwidth(threads: usize, seconds: f64) -> f64 {
    let n = (16 << 20) / 4;
    let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut dst = vec![0.0f32; n];
    let share = n.div_ceil(threads);
    // One copy, timed, to size the samples.
    let t = Instant::now();
    dst.copy_from_slice(&src);
    let copies = ((0.05 / t.elapsed().as_secs_f64()) as usize).max(1);
    let mut sample = || {
        let t = Instant::now();
        std::thread::scope(|scope| {
            for (d, s) in dst.chunks_mut(share).zip(src.chunks(share)) {
                scope.spawn(move || {
                    for _ in 0..copies {
                        d.copy_from_slice(black_box(s));
                        black_box(&mut *d);
                    }
                });
            }
        });
        t.elapsed().as_secs_f64() / copies as f64
    };
    sample(); // warm-up: the pages of `dst` are mapped by now
    let (start, mut samples, mut best) = (Instant::now(), 0, f64::INFINITY);
    while start.elapsed().as_secs_f64() < seconds || samples < 5 {
        best = best.min(sample());
        samples += 1;
    }
    2.0 * (4 * n) as f64 / best / 1e9
}

/// Nanoseconds per `f32` add when every add needs the previous one's result: the chain the
/// seven loops' `sum += …` forms (the compiler may not reorder it, since float addition is not
/// associative).
fn dependent_add_ns(seconds: f64) -> f64 {
    const ADDS: usize = 1 << 20;
    let secs = best_secs(
        || {
            let (mut sum, step) = (black_box(0.0f32), black_box(1e-3f32));
            for _ in 0..ADDS {
                sum += step;
            }
            black_box(sum);
        },
        seconds,
    );
    1e9 * secs / ADDS as f64
}

/// The limits at 1 and 2 threads (leaves the thread count at 2).
fn measure_limits(seconds: f64) -> Vec<Limits> {
    [1, 2]
        .into_iter()
        .map(|threads| {
            set_num_threads(threads);
            Limits {
                peak: gemm_peak(seconds),
                bandwidth: copy_bandwidth(threads, seconds),
            }
        })
        .collect()
}

/// A measured row of the table.
struct Row {
    conv: &'static str,
    stage: &'static str,
    threads: usize,
    secs: f64,
    flops: f64,
    bytes: f64,
}

/// The machine's limits at one thread count: GEMM GFLOP/s and copy GB/s.
#[derive(Clone, Copy)]
struct Limits {
    peak: f64,
    bandwidth: f64,
}

/// The operands of one convolution and the buffers of every variant.
struct Bench {
    shape: ConvShape,
    x: Images,
    w: Images,
    bias: Vector,
    dy: Images,
    /// The seven loops' output: the reference every forward is checked against.
    reference: Vec<f32>,
}

impl Bench {
    fn new(shape: ConvShape, seed: u64) -> Self {
        let s = shape;
        let mut rng = seeded_rng(seed);
        let dims = |a, b, c, d| (Dyn(a), Dyn(b), Dyn(c), Dyn(d));
        let x = Images::rand_uniform(
            dims(s.batch, s.in_channels, s.height, s.width),
            -1.0,
            1.0,
            &mut rng,
        );
        // PyTorch's initialisation: U(−1/√fan_in, 1/√fan_in), fan_in = C·K·K.
        let bound = 1.0 / ((s.in_channels * s.kernel * s.kernel) as f32).sqrt();
        let w = Images::rand_uniform(
            dims(s.out_channels, s.in_channels, s.kernel, s.kernel),
            -bound,
            bound,
            &mut rng,
        );
        let bias = Vector::rand_uniform((Dyn(s.out_channels),), -bound, bound, &mut rng);
        let dy = Images::rand_uniform(
            dims(s.batch, s.out_channels, s.out_height(), s.out_width()),
            -1.0,
            1.0,
            &mut rng,
        );
        let mut reference = vec![0.0; s.output_len()];
        conv_loops(
            &s,
            x.as_slice(),
            w.as_slice(),
            bias.as_slice(),
            &mut reference,
        );
        Bench {
            shape,
            x,
            w,
            bias,
            dy,
            reference,
        }
    }

    fn spec(&self) -> Conv2dSpec {
        Conv2dSpec::new(1, self.shape.padding, 1)
    }

    /// The patch matrix, the weight as an `[O, C·K·K]` matrix and the product `[O, B·OH·OW]`.
    fn matrices(&self) -> (Matrix, Matrix, Matrix) {
        let s = &self.shape;
        let patch = s.in_channels * s.kernel * s.kernel;
        let columns = s.batch * s.out_height() * s.out_width();
        let u = Matrix::zeros((Dyn(patch), Dyn(columns)));
        let w = Matrix::from_vec(&[s.out_channels, patch], self.w.to_vec()).expect("sizes");
        let product = Matrix::zeros((Dyn(s.out_channels), Dyn(columns)));
        (u, w, product)
    }

    /// Checks, then times, every stage at one thread; `conv2d_into` and the backward also at
    /// two.
    fn rows(&self, name: &'static str, seconds: f64) -> Vec<Row> {
        let s = self.shape;
        let (x, w, bias) = (self.x.as_slice(), self.w.as_slice(), self.bias.as_slice());
        let flops = s.flops();
        let mut rows = Vec::new();
        let mut row = |stage, threads, secs, flops, traffic| {
            rows.push(Row {
                conv: name,
                stage,
                threads,
                secs,
                flops,
                bytes: s.bytes_f32(traffic),
            })
        };
        let mut y = vec![0.0f32; s.output_len()];
        set_num_threads(1);

        // The seven loops (their output, computed once in `new`, is the reference).
        let secs = best_secs(|| conv_loops(&s, x, w, bias, black_box(&mut y)), seconds);
        row("seven loops", 1, secs, flops, Traffic::Direct);

        conv_rows(&s, x, w, bias, &mut y);
        check("loops reordered", &y, &self.reference);
        let secs = best_secs(|| conv_rows(&s, x, w, bias, black_box(&mut y)), seconds);
        row("loops reordered", 1, secs, flops, Traffic::Direct);

        let (mut u, w_mat, mut product) = self.matrices();
        let secs = best_secs(|| im2col(&s, x, black_box(u.as_slice_mut())), seconds);
        row("im2col alone (whole batch)", 1, secs, 0.0, Traffic::Im2col);

        let mut gemm = || matmul_into(&w_mat, &u, &mut product).expect("sizes agree");
        let secs = best_secs(&mut gemm, seconds);
        row("product W·U alone (GEMM)", 1, secs, flops, Traffic::Product);

        let sizes = (
            s.out_channels,
            s.in_channels * s.kernel * s.kernel,
            s.batch * s.out_height() * s.out_width(),
        );
        let mut unfolded_loops = |y: &mut [f32]| {
            im2col(&s, x, u.as_slice_mut());
            matmul_loops(w, u.as_slice(), product.as_slice_mut(), sizes);
            to_images(&s, product.as_slice(), bias, y);
        };
        unfolded_loops(&mut y);
        check("im2col + triple loop", &y, &self.reference);
        let secs = best_secs(|| unfolded_loops(black_box(&mut y)), seconds);
        row(
            "im2col + triple-loop product",
            1,
            secs,
            flops,
            Traffic::Unfolded,
        );

        let mut unfolded_gemm = |y: &mut [f32]| {
            im2col(&s, x, u.as_slice_mut());
            matmul_into(&w_mat, &u, &mut product).expect("sizes agree");
            to_images(&s, product.as_slice(), bias, y);
        };
        unfolded_gemm(&mut y);
        check("im2col + GEMM", &y, &self.reference);
        let secs = best_secs(|| unfolded_gemm(black_box(&mut y)), seconds);
        row(
            "im2col + GEMM (whole batch)",
            1,
            secs,
            flops,
            Traffic::Unfolded,
        );

        let (dw_ref, db_ref, dx_ref) = backward_loops(&s, x, w, self.dy.as_slice());
        for threads in [1, 2] {
            set_num_threads(threads);
            let (spec, mut cols) = (self.spec(), Vec::new());
            let mut out = Images::zeros((Dyn(0), Dyn(0), Dyn(0), Dyn(0)));
            let forward = |out: &mut Images, cols: &mut Vec<f32>| {
                conv2d_into(&self.x, &self.w, Some(&self.bias), spec, out, cols)
                    .expect("sizes agree")
            };
            forward(&mut out, &mut cols);
            check("conv2d_into", out.as_slice(), &self.reference);
            let secs = best_secs(|| forward(&mut out, &mut cols), seconds);
            row("conv2d_into", threads, secs, flops, Traffic::Direct);

            let mut dw = Images::zeros(self.w.shape());
            let mut db = Vector::zeros(self.bias.shape());
            let mut dx = Images::zeros(self.x.shape());
            let backward =
                |dw: &mut Images, db: &mut Vector, dx: &mut Images, cols: &mut Vec<f32>| {
                    dw.fill(0.0); // the gradients add up: start from zero, as after zero_grad
                    db.fill(0.0);
                    conv2d_backward_params(&self.x, &self.dy, spec, dw, Some(db), cols)
                        .expect("sizes agree");
                    conv2d_backward_input_into(&self.w, &self.dy, spec, self.x.shape(), dx, cols)
                        .expect("sizes agree");
                };
            backward(&mut dw, &mut db, &mut dx, &mut cols);
            check("backward dW", dw.as_slice(), &dw_ref);
            check("backward dbias", db.as_slice(), &db_ref);
            check("backward dx", dx.as_slice(), &dx_ref);
            let secs = best_secs(|| backward(&mut dw, &mut db, &mut dx, &mut cols), seconds);
            row(
                "backward (dW, dbias, dx)",
                threads,
                secs,
                2.0 * flops,
                Traffic::Backward,
            );
        }
        set_num_threads(1);
        rows
    }
}

/// A value with about three significant digits.
fn sig3(v: f64) -> String {
    match v {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v if v >= 1.0 => format!("{v:.2}"),
        v => format!("{v:.3}"),
    }
}

/// The CPU's name from `/proc/cpuinfo` (Linux), or a placeholder.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".to_string())
}

/// The 1-minute load average from `/proc/loadavg` (Linux), or "?".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// Now, in UTC, as `YYYY-MM-DD HH:MM` (the civil date from the days since 1970, by the
/// proleptic Gregorian calendar's 400-year cycles).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 0000-03-01, so that a year ends with February and its leap day.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map_or(1.0, |s| s.parse().expect("--seconds takes a number"));
    let mut command = "cargo run --release --example conv_stages".to_string();
    if args.len() > 1 {
        command = format!("{command} -- {}", args[1..].join(" "));
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build times unoptimised code; run with `cargo run --release`");
    }
    let (load_start, date) = (load_average(), utc_now());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // The limits are measured before the stages and again after them, and the best of the
    // two kept: a limit is the most the machine was seen to do in this run.
    let mut limits = measure_limits(seconds);
    set_num_threads(1);
    let add_ns = dependent_add_ns(seconds);
    let mut rows = Bench::new(LENET_CONV1, 1).rows("conv1", seconds);
    rows.extend(Bench::new(LENET_CONV2, 2).rows("conv2", seconds));
    for (l, again) in limits.iter_mut().zip(measure_limits(seconds)) {
        l.peak = l.peak.max(again.peak);
        l.bandwidth = l.bandwidth.max(again.bandwidth);
    }
    set_num_threads(1);

    let mut out = format!(
        "`{command}` on {} ({cores} cores, GEMM kernels {}), {date}; load average {load_start} \
         at the start, {} at the end (the run's own load included). Each figure is the best of \
         at least 5 samples of ~50 ms; the limits, measured before and after the stages, the \
         best of both.\n\n",
        cpu_model(),
        gemm_instruction_set(),
        load_average()
    );
    out += &format!("{LIMITS_HEADER} ridge (FLOP/B) |\n|---|---|---|---|\n");
    for (threads, l) in [1, 2].iter().zip(&limits) {
        out += &format!(
            "| {threads} | {:.1} | {:.1} | {:.1} |\n",
            l.peak,
            l.bandwidth,
            l.peak / l.bandwidth
        );
    }
    out += &format!(
        "\nA chain of dependent `f32` adds: {add_ns:.3} ns per add, so a loop that adds every \
         product into one sum does at most 2 FLOPs per {add_ns:.3} ns = {:.2} GFLOP/s.\n",
        2.0 / add_ns
    );
    out += &format!(
        "\n{STAGES_HEADER} ms | GFLOP/s | GB/s | FLOP/B | bound | % of limit |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for (n, r) in rows.iter().enumerate() {
        let l = limits[r.threads - 1];
        let (gflops, gbs) = (r.flops / r.secs / 1e9, r.bytes / r.secs / 1e9);
        let intensity = r.flops / r.bytes;
        let (rate, bound, percent) = if r.flops == 0.0 {
            ("—".to_string(), "memory (copy)", 100.0 * gbs / l.bandwidth)
        } else if intensity * l.bandwidth < l.peak {
            (
                format!("{gflops:.1}"),
                "memory",
                100.0 * gflops / (intensity * l.bandwidth),
            )
        } else {
            (format!("{gflops:.1}"), "compute", 100.0 * gflops / l.peak)
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {rate} | {gbs:.1} | {intensity:.2} | {bound} | {percent:.0} % |\n",
            n + 1,
            r.conv,
            r.stage,
            r.threads,
            sig3(1e3 * r.secs)
        );
    }
    print!("{out}");

    let svg = roofline_from_tables(&out).expect("the tables just printed");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lessons/plots/l24_roofline.svg");
    std::fs::write(&path, svg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("\n(picture: {})", path.display());
}
