//! Finite-difference gradient checks (f64) of attention: the batched products `bmm`, `bmm_nt`,
//! `bmm_tn` (rank 3 and 4), `split_heads` / `merge_heads`, `causal_softmax`, the fused
//! `causal_attention`, and the layer `CausalSelfAttention` (the input gradient and all eight
//! parameter gradients). Each backward is compared with central differences of
//! `L = Σ g ⊙ f(·)` for a random `g`, with PyTorch gradcheck's tolerances (eps 1e-6,
//! atol 1e-5, rtol 1e-3).
//!
//! Also: causality (a later position's input changes no earlier output, and an earlier
//! output's gradient reaches no later input), masked weights and gradients exactly 0, the
//! fused attention equal to its composition from the primitives, the layer equal to its
//! composition, accumulation of parameter gradients, state-dict names, and no allocation in
//! `forward_into`/`backward_into`/`backward_params` once warmed up (counted per thread by this
//! binary's allocator).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use nanotorch::layers::{CausalSelfAttention, Linear};
use nanotorch::ops::*;
use nanotorch::shape::{StaticDim, U1, U2, U3, U4, U5, U6, U8, U12};
use nanotorch::{Dim, Dyn, Init, Layer, Module, SeededRng, Tensor};

type D3 = (Dyn, Dyn, Dyn);
type D4 = (Dyn, Dyn, Dyn, Dyn);

fn d3(a: usize, b: usize, c: usize) -> D3 {
    (Dyn(a), Dyn(b), Dyn(c))
}

fn d4(a: usize, b: usize, c: usize, d: usize) -> D4 {
    (Dyn(a), Dyn(b), Dyn(c), Dyn(d))
}

// ---- allocation counting (this thread only) ---------------------------------------------

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only const-initialised thread-locals without destructors, which neither allocate
// nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
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

/// The number of allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

// ---- batched products -------------------------------------------------------------------

/// `c[i] = op(a[i])·op(b[i])` by the definition, for `count` matrices of `[m, k]·[k, n]`.
#[allow(clippy::too_many_arguments)]
fn naive_bmm(
    a: &[f64],
    b: &[f64],
    count: usize,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    let mut c = vec![0.0; count * m * n];
    for p in 0..count {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..k {
                    let x = if ta {
                        a[p * m * k + l * m + i]
                    } else {
                        a[p * m * k + i * k + l]
                    };
                    let y = if tb {
                        b[p * k * n + j * k + l]
                    } else {
                        b[p * k * n + l * n + j]
                    };
                    s += x * y;
                }
                c[p * m * n + i * n + j] = s;
            }
        }
    }
    c
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn bmm_rank3_gradients() {
    let mut r = rng(201);
    for (n, m, k, p) in [(2, 3, 4, 5), (3, 1, 6, 2), (1, 5, 1, 4), (4, 11, 12, 11)] {
        let a = rand_tensor(d3(n, m, k), -1.0, 1.0, &mut r);
        let b = rand_tensor(d3(n, k, p), -1.0, 1.0, &mut r);
        let c: Tensor<D3, f64> = bmm(&a, &b).unwrap();
        assert_close(
            "bmm",
            c.as_slice(),
            &naive_bmm(a.as_slice(), b.as_slice(), n, m, k, p, false, false),
        );
        let g = rand_tensor(c.shape(), -1.0, 1.0, &mut r);
        let (da, db) = bmm_backward(&a, &b, &g).unwrap();
        let name = format!("bmm [{n},{m},{k}]·[{n},{k},{p}]");
        assert_grad(&format!("{name}.a"), &a, &da, |a| {
            dot(&g, &bmm(a, &b).unwrap())
        });
        assert_grad(&format!("{name}.b"), &b, &db, |b| {
            dot(&g, &bmm(&a, b).unwrap())
        });
        // The documented backward: da = dc·bᵀ, db = aᵀ·dc.
        assert_eq!(da, bmm_nt(&g, &b).unwrap(), "{name}: da = dc·bᵀ");
        assert_eq!(db, bmm_tn(&a, &g).unwrap(), "{name}: db = aᵀ·dc");
    }
}

#[test]
fn bmm_rank4_gradients() {
    let mut r = rng(202);
    for (z, n, m, k, p) in [(2, 3, 4, 5, 3), (1, 2, 5, 3, 5), (3, 2, 1, 4, 2)] {
        let a = rand_tensor(d4(z, n, m, k), -1.0, 1.0, &mut r);
        let b = rand_tensor(d4(z, n, k, p), -1.0, 1.0, &mut r);
        let c: Tensor<D4, f64> = bmm(&a, &b).unwrap();
        assert_close(
            "bmm rank 4",
            c.as_slice(),
            &naive_bmm(a.as_slice(), b.as_slice(), z * n, m, k, p, false, false),
        );
        let g = rand_tensor(c.shape(), -1.0, 1.0, &mut r);
        let (mut da, mut db) = (Tensor::zeros(d4(0, 0, 0, 0)), Tensor::zeros(d4(0, 0, 0, 0)));
        bmm_backward_into(&a, &b, &g, &mut da, &mut db).unwrap();
        let name = format!("bmm [{z},{n},{m},{k}]·[{z},{n},{k},{p}]");
        assert_grad(&format!("{name}.a"), &a, &da, |a| {
            dot(&g, &bmm(a, &b).unwrap())
        });
        assert_grad(&format!("{name}.b"), &b, &db, |b| {
            dot(&g, &bmm(&a, b).unwrap())
        });
    }
}

#[test]
fn bmm_transposed_forms_gradients() {
    let mut r = rng(203);
    // Rank 3: bmm_nt [N, M, K]·[N, P, K]ᵀ and bmm_tn [N, K, M]ᵀ·[N, K, P].
    let (n, m, k, p) = (2, 3, 4, 5);
    let a = rand_tensor(d3(n, m, k), -1.0, 1.0, &mut r);
    let b = rand_tensor(d3(n, p, k), -1.0, 1.0, &mut r);
    let c: Tensor<D3, f64> = bmm_nt(&a, &b).unwrap();
    assert_close(
        "bmm_nt",
        c.as_slice(),
        &naive_bmm(a.as_slice(), b.as_slice(), n, m, k, p, false, true),
    );
    let g = rand_tensor(c.shape(), -1.0, 1.0, &mut r);
    // The documented backward of bmm_nt: da = dc·b, db = dcᵀ·a.
    let da: Tensor<D3, f64> = bmm(&g, &b).unwrap();
    let db: Tensor<D3, f64> = bmm_tn(&g, &a).unwrap();
    assert_grad("bmm_nt.a", &a, &da, |a| dot(&g, &bmm_nt(a, &b).unwrap()));
    assert_grad("bmm_nt.b", &b, &db, |b| dot(&g, &bmm_nt(&a, b).unwrap()));

    let a = rand_tensor(d3(n, k, m), -1.0, 1.0, &mut r);
    let b = rand_tensor(d3(n, k, p), -1.0, 1.0, &mut r);
    let c: Tensor<D3, f64> = bmm_tn(&a, &b).unwrap();
    assert_close(
        "bmm_tn",
        c.as_slice(),
        &naive_bmm(a.as_slice(), b.as_slice(), n, m, k, p, true, false),
    );
    let g = rand_tensor(c.shape(), -1.0, 1.0, &mut r);
    // The documented backward of bmm_tn: da = b·dcᵀ, db = a·dc.
    let da: Tensor<D3, f64> = bmm_nt(&b, &g).unwrap();
    let db: Tensor<D3, f64> = bmm(&a, &g).unwrap();
    assert_grad("bmm_tn.a", &a, &da, |a| dot(&g, &bmm_tn(a, &b).unwrap()));
    assert_grad("bmm_tn.b", &b, &db, |b| dot(&g, &bmm_tn(&a, b).unwrap()));

    // Rank 4, typed: [2, 3, 5, 4]·[2, 3, 6, 4]ᵀ → [2, 3, 5, 6].
    let a = rand_tensor(
        (Dyn(2), U3::default(), U5::default(), U4::default()),
        -1.0,
        1.0,
        &mut r,
    );
    let b = rand_tensor(
        (Dyn(2), U3::default(), U6::default(), U4::default()),
        -1.0,
        1.0,
        &mut r,
    );
    let c = bmm_nt(&a, &b).unwrap();
    assert_eq!(c.dims(), [2, 3, 5, 6]);
    assert_close(
        "bmm_nt rank 4",
        c.as_slice(),
        &naive_bmm(a.as_slice(), b.as_slice(), 6, 5, 4, 6, false, true),
    );
    let g = rand_tensor(c.shape(), -1.0, 1.0, &mut r);
    let da = bmm(&g, &b).unwrap();
    assert_grad("bmm_nt rank 4 .a", &a, &da, |a| {
        dot(&g, &bmm_nt(a, &b).unwrap())
    });
    let c2 = bmm_tn(&bmm_nt(&a, &b).unwrap(), &a).unwrap(); // [2, 3, 6, 4]
    assert_eq!(c2.dims(), [2, 3, 6, 4]);
}

#[test]
fn bmm_runtime_mismatches_are_errors() {
    let a: Tensor<D3, f64> = Tensor::zeros(d3(2, 3, 4));
    let b: Tensor<D3, f64> = Tensor::zeros(d3(2, 5, 6));
    assert!(bmm(&a, &b).is_err(), "inner sizes 4 vs 5");
    let b: Tensor<D3, f64> = Tensor::zeros(d3(3, 4, 6));
    assert!(bmm(&a, &b).is_err(), "batch 2 vs 3");
    let b: Tensor<D3, f64> = Tensor::zeros(d3(2, 6, 5));
    assert!(bmm_nt(&a, &b).is_err(), "bmm_nt inner sizes 4 vs 5");
    let a4: Tensor<D4, f64> = Tensor::zeros(d4(2, 3, 4, 5));
    let b4: Tensor<D4, f64> = Tensor::zeros(d4(2, 2, 5, 5));
    assert!(bmm(&a4, &b4).is_err(), "second batch axis 3 vs 2");
    let b: Tensor<D3, f64> = Tensor::zeros(d3(2, 4, 6));
    let bad_dc: Tensor<D3, f64> = Tensor::zeros(d3(2, 3, 5));
    assert!(
        bmm_backward(&a, &b, &bad_dc).is_err(),
        "dc of the wrong size"
    );
}

// ---- heads ------------------------------------------------------------------------------

#[test]
fn split_and_merge_heads() {
    let mut r = rng(204);
    for (b, t, h, d) in [(2, 5, 2, 4), (1, 3, 1, 6), (3, 2, 3, 2)] {
        let x = rand_tensor(d3(b, t, h * d), -1.0, 1.0, &mut r);
        let y: Tensor<D4, f64> = split_heads(&x, h).unwrap();
        assert_eq!(y.dims(), [b, h, t, d]);
        for n in 0..b {
            for i in 0..t {
                for c in 0..h * d {
                    let want = x.as_slice()[(n * t + i) * h * d + c];
                    let got = y.as_slice()[((n * h + c / d) * t + i) * d + c % d];
                    assert_eq!(got, want, "y[b, h, t, d] = x[b, t, h·D + d]");
                }
            }
        }
        let back: Tensor<D3, f64> = merge_heads(&y).unwrap();
        assert_eq!(back, x, "merge_heads inverts split_heads");

        let g = rand_tensor(y.shape(), -1.0, 1.0, &mut r);
        let dx: Tensor<D3, f64> = merge_heads(&g).unwrap();
        assert_grad(&format!("split_heads H={h}"), &x, &dx, |x| {
            dot(&g, &split_heads::<_, _, _, Dyn, Dyn, _>(x, h).unwrap())
        });
        let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
        let dy: Tensor<D4, f64> = split_heads(&g, h).unwrap();
        assert_grad(&format!("merge_heads H={h}"), &y, &dy, |y| {
            dot(&g, &merge_heads::<_, _, _, _, Dyn, _>(y).unwrap())
        });
    }
    // Typed heads: [2, 5, 8] → [2, 2, 5, 4] with H = 2, D = 4 in the type.
    let x = rand_tensor((Dyn(2), U5::default(), U8::default()), -1.0, 1.0, &mut r);
    let y: Tensor<(Dyn, U2, U5, U4), f64> = split_heads(&x, 2).unwrap();
    let back: Tensor<(Dyn, U5, U8), f64> = merge_heads(&y).unwrap();
    assert_eq!(back, x);
    // Bad head counts and static sizes that disagree are errors.
    assert!(
        split_heads::<_, _, _, Dyn, Dyn, _>(&x, 3).is_err(),
        "8 features, 3 heads"
    );
    assert!(
        split_heads::<_, _, _, Dyn, Dyn, _>(&x, 0).is_err(),
        "0 heads"
    );
    assert!(
        split_heads::<_, _, _, U4, Dyn, _>(&x, 2).is_err(),
        "static H = 4, 2 heads"
    );
    assert!(
        merge_heads::<_, _, _, _, U6, _>(&y).is_err(),
        "static C = 6, H·D = 8"
    );
}

// ---- causal softmax ---------------------------------------------------------------------

#[test]
fn causal_softmax_gradients_and_mask() {
    let mut r = rng(205);
    for shape in [d4(2, 3, 5, 5), d4(1, 1, 1, 1), d4(1, 2, 7, 7)] {
        let x = rand_tensor(shape, -3.0, 3.0, &mut r);
        let y = causal_softmax(&x).unwrap();
        let t = shape.3.size();
        for (row, yr) in y.as_slice().chunks(t).enumerate() {
            let i = row % t;
            assert!(
                yr[i + 1..].iter().all(|&v| v == 0.0),
                "masked entries are 0"
            );
            assert!(
                (yr[..=i].iter().sum::<f64>() - 1.0).abs() < 1e-12,
                "rows sum to 1"
            );
            assert!(
                yr[..=i].iter().all(|&v| v > 0.0),
                "visible entries are positive"
            );
        }
        let g = rand_tensor(shape, -1.0, 1.0, &mut r);
        let dx = causal_softmax_backward(&y, &g).unwrap();
        assert_grad(&format!("causal_softmax T={t}"), &x, &dx, |x| {
            dot(&g, &causal_softmax(x).unwrap())
        });
        for (row, dr) in dx.as_slice().chunks(t).enumerate() {
            assert!(
                dr[row % t + 1..].iter().all(|&v| v == 0.0),
                "masked gradients are 0"
            );
        }
        // The masked scores are never read: changing them (even to NaN) changes nothing.
        let mut x2 = x.clone();
        for (row, xr) in x2.as_slice_mut().chunks_mut(t).enumerate() {
            for v in &mut xr[row % t + 1..] {
                *v = f64::NAN;
            }
        }
        assert_eq!(causal_softmax(&x2).unwrap(), y, "masked scores are ignored");
    }
    // Rank 3, typed.
    let x = rand_tensor((Dyn(3), U4::default(), U4::default()), -2.0, 2.0, &mut r);
    let y = causal_softmax(&x).unwrap();
    let g = rand_tensor(x.shape(), -1.0, 1.0, &mut r);
    let mut dx = Tensor::zeros(x.shape());
    causal_softmax_backward_into(&y, &g, &mut dx).unwrap();
    assert_grad("causal_softmax rank 3", &x, &dx, |x| {
        dot(&g, &causal_softmax(x).unwrap())
    });
    // Non-square matrices are an error.
    let bad: Tensor<D3, f64> = Tensor::zeros(d3(2, 3, 4));
    assert!(causal_softmax(&bad).is_err());
}

// ---- fused attention --------------------------------------------------------------------

/// Attention composed from the primitives: `bmm(causal_softmax(bmm_nt(q, k)/√D), v)`.
fn composed_attention(
    q: &Tensor<D4, f64>,
    k: &Tensor<D4, f64>,
    v: &Tensor<D4, f64>,
) -> (Tensor<D4, f64>, Tensor<D4, f64>) {
    let d = q.dims()[3] as f64;
    let s = scale(&bmm_nt(q, k).unwrap(), 1.0 / d.sqrt());
    let att = causal_softmax(&s).unwrap();
    (bmm(&att, v).unwrap(), att)
}

#[test]
fn causal_attention_gradients() {
    let mut r = rng(206);
    for (b, h, t, d) in [
        (2, 2, 5, 4),
        (1, 3, 4, 2),
        (2, 1, 1, 3),
        (1, 2, 11, 12),
        (1, 1, 19, 17),
    ] {
        let q = rand_tensor(d4(b, h, t, d), -1.5, 1.5, &mut r);
        let k = rand_tensor(d4(b, h, t, d), -1.5, 1.5, &mut r);
        let v = rand_tensor(d4(b, h, t, d), -1.5, 1.5, &mut r);
        let (y, att) = causal_attention(&q, &k, &v).unwrap();
        let (y2, att2) = composed_attention(&q, &k, &v);
        assert_close("fused y vs composed", y.as_slice(), y2.as_slice());
        assert_close("fused att vs composed", att.as_slice(), att2.as_slice());

        let g = rand_tensor(y.shape(), -1.0, 1.0, &mut r);
        let (dq, dk, dv) = causal_attention_backward(&q, &k, &v, &att, &g).unwrap();
        let name = format!("causal_attention [{b},{h},{t},{d}]");
        let f = |q: &Tensor<D4, f64>, k: &Tensor<D4, f64>, v: &Tensor<D4, f64>| {
            dot(&g, &causal_attention(q, k, v).unwrap().0)
        };
        assert_grad(&format!("{name}.q"), &q, &dq, |q| f(q, &k, &v));
        assert_grad(&format!("{name}.k"), &k, &dk, |k| f(&q, k, &v));
        assert_grad(&format!("{name}.v"), &v, &dv, |v| f(&q, &k, v));

        // The composition's backward gives the same gradients.
        let dd = (d as f64).sqrt();
        let (datt, dv2) = bmm_backward(&att, &v, &g).unwrap();
        let ds = scale(&causal_softmax_backward(&att, &datt).unwrap(), 1.0 / dd);
        let dq2: Tensor<D4, f64> = bmm(&ds, &k).unwrap();
        let dk2: Tensor<D4, f64> = bmm_tn(&ds, &q).unwrap();
        assert_close("dq vs composed", dq.as_slice(), dq2.as_slice());
        assert_close("dk vs composed", dk.as_slice(), dk2.as_slice());
        assert_close("dv vs composed", dv.as_slice(), dv2.as_slice());
    }
    // Empty sequences, batches and heads give empty results.
    for shape in [
        d4(2, 3, 0, 4),
        d4(0, 3, 5, 4),
        d4(2, 0, 5, 4),
        d4(1, 2, 3, 0),
    ] {
        let q: Tensor<D4, f64> = Tensor::zeros(shape);
        let (y, att) = causal_attention(&q, &q, &q).unwrap();
        assert_eq!((y.dims(), &att.dims()[..3]), (q.dims(), &q.dims()[..3]));
        let (dq, _, _) = causal_attention_backward(&q, &q, &q, &att, &q).unwrap();
        assert_eq!(dq.dims(), q.dims());
    }
    // Mismatched sizes are errors.
    let q: Tensor<D4, f64> = Tensor::zeros(d4(1, 2, 3, 4));
    let k: Tensor<D4, f64> = Tensor::zeros(d4(1, 2, 4, 4));
    assert!(causal_attention(&q, &k, &q).is_err());
    let att: Tensor<D4, f64> = Tensor::zeros(d4(1, 2, 3, 3));
    assert!(causal_attention_backward(&q, &q, &q, &att, &k).is_err());
    assert!(causal_attention_backward(&q, &q, &q, &q, &q).is_err());
}

// ---- the layer --------------------------------------------------------------------------

/// The layer's forward composed from `Linear` and the primitives, as minGPT writes it.
fn composed_layer<T: StaticDim, C: StaticDim, const H: usize>(
    layer: &CausalSelfAttention<C, H, f64>,
    x: &Tensor<(Dyn, T, C), f64>,
) -> Tensor<(Dyn, T, C), f64> {
    let (b, t, c) = (x.dims()[0], T::SIZE, C::SIZE);
    let rows: Tensor<(Dyn, C), f64> = Tensor::from_vec(&[b * t, c], x.to_vec()).unwrap();
    let project = |lin: &Linear<C, C, f64>, x: &Tensor<(Dyn, C), f64>| -> Tensor<D4, f64> {
        let y = lin.predict(x);
        let y: Tensor<D3, f64> = Tensor::from_vec(&[b, t, c], y.to_vec()).unwrap();
        split_heads(&y, H).unwrap()
    };
    let (q, k, v) = (
        project(&layer.query, &rows),
        project(&layer.key, &rows),
        project(&layer.value, &rows),
    );
    let (y, _) = composed_attention(&q, &k, &v);
    let merged: Tensor<D3, f64> = merge_heads(&y).unwrap();
    let merged: Tensor<(Dyn, C), f64> = Tensor::from_vec(&[b * t, c], merged.to_vec()).unwrap();
    let out = layer.proj.predict(&merged);
    Tensor::from_vec(&[b, t, c], out.to_vec()).unwrap()
}

fn check_layer<T: StaticDim, C: StaticDim, const H: usize>(batch: usize, r: &mut SeededRng) {
    let name = format!(
        "CausalSelfAttention B={batch} T={} C={} H={H}",
        T::SIZE,
        C::SIZE
    );
    let mut layer = CausalSelfAttention::<C, H, f64>::init(r);
    let shape = (Dyn(batch), T::default(), C::default());
    let x = rand_tensor(shape, -1.5, 1.5, r);
    let g = rand_tensor(shape, -1.0, 1.0, r);
    let snapshot = layer.clone();

    let y = layer.forward(&x);
    assert_eq!(y, layer.predict(&x), "{name}: predict equals forward");
    assert_close(
        &format!("{name}: vs composed"),
        y.as_slice(),
        composed_layer(&layer, &x).as_slice(),
    );
    let dx = layer.backward(&g);
    assert_grad(&format!("{name} dx"), &x, &dx, |x| {
        dot(&g, &snapshot.predict(x))
    });

    // Every parameter, by state-dict name (flat in visit order, then each one non-zero).
    let mut fresh = snapshot.clone();
    assert_model_grads(
        &name,
        &mut fresh,
        |m| {
            m.forward(&x);
            m.backward(&g);
        },
        |m| dot(&g, &m.predict(&x)),
    );
    let mut names = Vec::new();
    fresh.visit_named_params("attn.", &mut |n, dims, p| {
        if T::SIZE == 1 && (n.contains("key") || n.contains("query")) {
            // One position attends to itself with weight 1 whatever its scores: the keys and
            // queries get no gradient.
            assert!(
                p.grad.iter().all(|&v| v == 0.0),
                "{name}: {n} has no gradient"
            );
        } else {
            assert!(
                p.grad.iter().any(|&v| v != 0.0),
                "{name}: {n} has a gradient"
            );
        }
        assert_eq!(dims.iter().product::<usize>(), p.value.len(), "{n}: sizes");
        names.push(n.to_string());
    });
    assert_eq!(
        names,
        [
            "attn.key.weight",
            "attn.key.bias",
            "attn.query.weight",
            "attn.query.bias",
            "attn.value.weight",
            "attn.value.bias",
            "attn.proj.weight",
            "attn.proj.bias"
        ]
    );
    // The layer's gradients equal the flat check's.
    assert_eq!(flat_params(&mut fresh, true), flat_params(&mut layer, true));

    // A second forward/backward accumulates; backward_params gives the same parameter
    // gradients without dx.
    let once = flat_params(&mut layer, true);
    layer.forward(&x);
    Layer::<Tensor<(Dyn, T, C), f64>, f64>::backward_params(&mut layer, &g);
    for (a, b) in flat_params(&mut layer, true).iter().zip(&once) {
        assert!(
            (a - 2.0 * b).abs() <= 1e-12 * (1.0 + b.abs()),
            "{name}: gradients accumulate"
        );
    }
}

#[test]
fn layer_gradients() {
    let mut r = rng(207);
    check_layer::<U5, U8, 2>(2, &mut r);
    check_layer::<U5, U8, 1>(2, &mut r);
    check_layer::<U4, U12, 3>(3, &mut r);
    check_layer::<U5, U8, 8>(1, &mut r); // heads of 1 feature
    check_layer::<U1, U4, 2>(2, &mut r); // one position: attends to itself only
}

#[test]
fn layer_is_causal() {
    let mut r = rng(208);
    let mut layer = CausalSelfAttention::<U8, 2, f64>::init(&mut r);
    let shape = (Dyn(2), U6::default(), U8::default());
    let x = rand_tensor(shape, -1.5, 1.5, &mut r);
    let y = layer.forward(&x);
    let (t, c) = (6, 8);
    for t0 in 0..t {
        // Change position t0 of the second sequence: outputs before t0 do not move.
        let mut x2 = x.clone();
        for v in &mut x2.as_slice_mut()[(t + t0) * c..][..c] {
            *v += 0.75;
        }
        let y2 = layer.predict(&x2);
        let (a, b) = (y.as_slice(), y2.as_slice());
        assert_eq!(
            a[..(t + t0) * c],
            b[..(t + t0) * c],
            "outputs before {t0} unchanged"
        );
        assert!(
            a[(t + t0) * c..][..c] != b[(t + t0) * c..][..c],
            "output {t0} changes"
        );
    }
    // The weights are zero above the diagonal and every row sums to 1.
    for (row, w) in layer.attention_weights().chunks(t).enumerate() {
        let i = row % t;
        assert!(w[i + 1..].iter().all(|&v| v == 0.0), "masked weights are 0");
        assert!((w[..=i].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // A gradient only on positions < t0 reaches no input at positions ≥ t0.
    for t0 in 1..t {
        let mut g = rand_tensor(shape, -1.0, 1.0, &mut r);
        for n in 0..2 {
            for v in &mut g.as_slice_mut()[(n * t + t0) * c..(n + 1) * t * c] {
                *v = 0.0;
            }
        }
        layer.forward(&x);
        let dx = layer.backward(&g);
        for n in 0..2 {
            let future = &dx.as_slice()[(n * t + t0) * c..(n + 1) * t * c];
            assert!(
                future.iter().all(|&v| v == 0.0),
                "no gradient to the future ({t0})"
            );
            let past = &dx.as_slice()[n * t * c..(n * t + t0) * c];
            assert!(past.iter().any(|&v| v != 0.0));
        }
    }
}

#[test]
fn layer_allocates_nothing_once_warmed_up() {
    let mut r = rng(209);
    let mut layer = CausalSelfAttention::<U8, 2, f64>::init(&mut r);
    let full = (Dyn(6), U5::default(), U8::default());
    let part = (Dyn(3), U5::default(), U8::default());
    let (x, g) = (
        rand_tensor(full, -1.0, 1.0, &mut r),
        rand_tensor(full, -1.0, 1.0, &mut r),
    );
    let (xp, gp) = (
        rand_tensor(part, -1.0, 1.0, &mut r),
        rand_tensor(part, -1.0, 1.0, &mut r),
    );
    let (mut y, mut dx) = (Tensor::zeros(full), Tensor::zeros(full));
    let mut step = |layer: &mut CausalSelfAttention<U8, 2, f64>,
                    x: &Tensor<(Dyn, U5, U8), f64>,
                    g: &Tensor<(Dyn, U5, U8), f64>| {
        layer.forward_into(x, &mut y);
        layer.backward_into(g, &mut dx);
        layer.forward_into(x, &mut y);
        Layer::<Tensor<(Dyn, U5, U8), f64>, f64>::backward_params(layer, g);
    };
    // The counter counts.
    assert!(allocations(|| drop(std::hint::black_box(vec![0u8; 16]))) > 0);
    step(&mut layer, &x, &g); // warm-up at the largest batch
    assert_eq!(allocations(|| step(&mut layer, &x, &g)), 0, "a full batch");
    assert_eq!(
        allocations(|| step(&mut layer, &xp, &gp)),
        0,
        "a partial batch"
    );
    assert_eq!(
        allocations(|| step(&mut layer, &x, &g)),
        0,
        "back to the full batch"
    );
}

#[test]
fn layer_init_and_types() {
    // Each projection as nn.Linear(C, C): U(−1/√C, 1/√C), drawn key, query, value, proj.
    let mut r = rng(210);
    let layer = CausalSelfAttention::<U12, 3, f64>::init(&mut r);
    let mut r = rng(210);
    let key = Linear::<U12, U12, f64>::init(&mut r);
    let query = Linear::<U12, U12, f64>::init(&mut r);
    let value = Linear::<U12, U12, f64>::init(&mut r);
    let proj = Linear::<U12, U12, f64>::init(&mut r);
    assert_eq!(layer.key.weight.value, key.weight.value);
    assert_eq!(layer.query.bias.value, query.bias.value);
    assert_eq!(layer.value.weight.value, value.weight.value);
    assert_eq!(layer.proj.bias.value, proj.bias.value);
    let bound = 1.0 / 12f64.sqrt();
    assert!(
        layer
            .proj
            .weight
            .value
            .as_slice()
            .iter()
            .all(|v| v.abs() <= bound)
    );
    assert_eq!(CausalSelfAttention::<U12, 3, f64>::HEAD_DIM, 4);
    let mut layer = layer;
    assert_eq!(layer.num_params(), 4 * (12 * 12 + 12));
    // An empty batch gives an empty output and gradient.
    let empty = Tensor::zeros((Dyn(0), U4::default(), U12::default()));
    assert_eq!(layer.forward(&empty).dims(), [0, 4, 12]);
    assert_eq!(layer.backward(&empty).dims(), [0, 4, 12]);
    // A static batch works too.
    let x = rand_tensor(
        (U3::default(), U4::default(), U12::default()),
        -1.0,
        1.0,
        &mut r,
    );
    let y = layer.forward(&x);
    assert_eq!(y.dims(), [3, 4, 12]);
}
