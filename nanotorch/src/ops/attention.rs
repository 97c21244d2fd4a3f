//! The primitives of causal self-attention: batched matrix products ([`bmm`], and the forms
//! with a transposed operand [`bmm_nt`] and [`bmm_tn`]) over stacks of rank 3 or 4, the head
//! split and merge ([`split_heads`], [`merge_heads`]), the causal softmax
//! ([`causal_softmax`]), and the scaled dot-product attention fused from them
//! ([`causal_attention`]), which the layer [`crate::layers::CausalSelfAttention`] runs.
//!
//! Attention for one head of one sequence, with `Q`, `K`, `V` its `[T, D]` queries, keys and
//! values:
//!
//! ```text
//! S = Q·Kᵀ/√D                 [T, T]  scores: how well query i matches key j
//! S[i, j] = −∞ for j > i              the causal mask: position i sees positions 0..=i only
//! A = softmax over each row of S      the attention weights; A[i, j] = 0 for j > i
//! Y = A·V                     [T, D]  each output row is a weighted mean of the value rows
//! ```
//!
//! Composed from the primitives: `bmm_nt(q, k)`, [`scale`](crate::ops::scale()) by `1/√D`,
//! `causal_softmax`, `bmm(att, v)`; [`causal_attention`] computes the same in one pass per
//! head and is the reference for its derivation.

use crate::gemm::timer::{Part, timed_part};
use pulp::{Arch, Simd, WithSimd};

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::threads::num_threads;
use crate::gemm::{MatMut, MatRef, gemm};
use crate::parallel::{for_each_payload, payload_slots};
use crate::shape::{Dim, HasLastAxis, Shape, fmt_dims, fmt_pattern};
use crate::tensor::Tensor;

// ---- batched matrix products ------------------------------------------------------------

/// Which operands of a batched product are read transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `a·b`: `[.., M, K]·[.., K, P]`.
    Nn,
    /// `a·bᵀ`: `[.., M, K]·[.., P, K]ᵀ`.
    Nt,
    /// `aᵀ·b`: `[.., K, M]ᵀ·[.., K, P]`.
    Tn,
}

/// The sizes of a checked batched product: `count` products `[m, k]·[k, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BmmSizes {
    count: usize,
    m: usize,
    k: usize,
    n: usize,
}

/// Stacks of matrices that multiply as `c = a·b` ([`bmm`]): `[N, M, K]·[N, K, P] → [N, M, P]`
/// or `[A, N, M, K]·[A, N, K, P] → [A, N, M, P]` — the same leading (batch) axes, and the
/// inner sizes (`K`) of the same type. Runtime (`Dyn`) sizes are compared when the data
/// arrives.
#[diagnostic::on_unimplemented(
    message = "cannot multiply the matrices of `{Self}` by those of `{Rhs}` (`bmm`: [.., M, K]·[.., K, P])",
    label = "the batch axes must be the same dims and the inner sizes must agree",
    note = "`bmm` multiplies [N, M, K] by [N, K, P], or [A, N, M, K] by [A, N, K, P]"
)]
pub trait BatchMatmul<Rhs: Shape>: Shape {
    /// The shape of the products, `[.., M, P]`.
    type Output: Shape;
    /// The output shape for these operand shapes (runtime sizes taken from them).
    fn product_shape(&self, rhs: &Rhs) -> Self::Output;
}

/// Stacks of matrices that multiply as `c = a·bᵀ` ([`bmm_nt`]): `[N, M, K]·[N, P, K]ᵀ →
/// [N, M, P]`, or the rank-4 form with leading axes `[A, N]`.
#[diagnostic::on_unimplemented(
    message = "cannot multiply the matrices of `{Self}` by the transposes of those of `{Rhs}` (`bmm_nt`: [.., M, K]·[.., P, K]ᵀ)",
    label = "the batch axes must be the same dims and both last axes must agree",
    note = "`bmm_nt` multiplies [N, M, K] by the transpose of [N, P, K] (rank 4: [A, N, ..])"
)]
pub trait BatchMatmulNt<Rhs: Shape>: Shape {
    /// The shape of the products, `[.., M, P]`.
    type Output: Shape;
    /// The output shape for these operand shapes.
    fn product_shape(&self, rhs: &Rhs) -> Self::Output;
}

/// Stacks of matrices that multiply as `c = aᵀ·b` ([`bmm_tn`]): `[N, K, M]ᵀ·[N, K, P] →
/// [N, M, P]`, or the rank-4 form with leading axes `[A, N]`.
#[diagnostic::on_unimplemented(
    message = "cannot multiply the transposed matrices of `{Self}` by those of `{Rhs}` (`bmm_tn`: [.., K, M]ᵀ·[.., K, P])",
    label = "the batch axes must be the same dims and the second-to-last axes must agree",
    note = "`bmm_tn` multiplies the transpose of [N, K, M] by [N, K, P] (rank 4: [A, N, ..])"
)]
pub trait BatchMatmulTn<Rhs: Shape>: Shape {
    /// The shape of the products, `[.., M, P]`.
    type Output: Shape;
    /// The output shape for these operand shapes.
    fn product_shape(&self, rhs: &Rhs) -> Self::Output;
}

impl<N: Dim, M: Dim, K: Dim, P: Dim> BatchMatmul<(N, K, P)> for (N, M, K) {
    type Output = (N, M, P);
    fn product_shape(&self, rhs: &(N, K, P)) -> (N, M, P) {
        (self.0, self.1, rhs.2)
    }
}
impl<A: Dim, N: Dim, M: Dim, K: Dim, P: Dim> BatchMatmul<(A, N, K, P)> for (A, N, M, K) {
    type Output = (A, N, M, P);
    fn product_shape(&self, rhs: &(A, N, K, P)) -> (A, N, M, P) {
        (self.0, self.1, self.2, rhs.3)
    }
}
impl<N: Dim, M: Dim, K: Dim, P: Dim> BatchMatmulNt<(N, P, K)> for (N, M, K) {
    type Output = (N, M, P);
    fn product_shape(&self, rhs: &(N, P, K)) -> (N, M, P) {
        (self.0, self.1, rhs.1)
    }
}
impl<A: Dim, N: Dim, M: Dim, K: Dim, P: Dim> BatchMatmulNt<(A, N, P, K)> for (A, N, M, K) {
    type Output = (A, N, M, P);
    fn product_shape(&self, rhs: &(A, N, P, K)) -> (A, N, M, P) {
        (self.0, self.1, self.2, rhs.2)
    }
}
impl<N: Dim, K: Dim, M: Dim, P: Dim> BatchMatmulTn<(N, K, P)> for (N, K, M) {
    type Output = (N, M, P);
    fn product_shape(&self, rhs: &(N, K, P)) -> (N, M, P) {
        (self.0, self.2, rhs.2)
    }
}
impl<A: Dim, N: Dim, K: Dim, M: Dim, P: Dim> BatchMatmulTn<(A, N, K, P)> for (A, N, K, M) {
    type Output = (A, N, M, P);
    fn product_shape(&self, rhs: &(A, N, K, P)) -> (A, N, M, P) {
        (self.0, self.1, self.3, rhs.3)
    }
}

fn runtime(what: &'static str, left: usize, right: usize) -> Result<(), ShapeError> {
    if left == right {
        Ok(())
    } else {
        Err(ShapeError::RuntimeDim { what, left, right })
    }
}

/// Checks two operand shapes of the same rank (3 or 4, guaranteed by the traits) for `form`.
fn bmm_sizes(a: &[usize], b: &[usize], form: Form) -> Result<BmmSizes, ShapeError> {
    let r = a.len();
    let lead = &a[..r - 2];
    if lead != &b[..r - 2] {
        return Err(ShapeError::Shape {
            expected: format!("batch axes {} (those of the left operand)", fmt_dims(lead)),
            found: fmt_dims(&b[..r - 2]),
        });
    }
    let count = lead.iter().product();
    let (a0, a1, b0, b1) = (a[r - 2], a[r - 1], b[r - 2], b[r - 1]);
    let (m, k, k2, n) = match form {
        Form::Nn => (a0, a1, b0, b1),
        Form::Nt => (a0, a1, b1, b0),
        Form::Tn => (a1, a0, b0, b1),
    };
    let what = match form {
        Form::Nn => "bmm inner dims (last of a, second-to-last of b)",
        Form::Nt => "bmm_nt inner dims (last axes of a and b)",
        Form::Tn => "bmm_tn inner dims (second-to-last axes of a and b)",
    };
    runtime(what, k, k2)?;
    Ok(BmmSizes { count, m, k, n })
}

/// `count` products on row-major buffers: `c[i] (+)= op(a[i])·op(b[i])`, `op` the transpose
/// where `form` says so. One GEMM call per matrix of the stack.
fn bmm_slices<E: Element>(
    s: BmmSizes,
    form: Form,
    a: &[E],
    b: &[E],
    c: &mut [E],
    accumulate: bool,
) {
    let BmmSizes { count, m, k, n } = s;
    if count == 0 || m == 0 || n == 0 {
        return;
    }
    for i in 0..count {
        let a_i = &a[i * m * k..][..m * k];
        let b_i = &b[i * k * n..][..k * n];
        let c_i = &mut c[i * m * n..][..m * n];
        let (a_i, b_i) = match form {
            Form::Nn => (MatRef::row_major(a_i, m, k), MatRef::row_major(b_i, k, n)),
            Form::Nt => (
                MatRef::row_major(a_i, m, k),
                MatRef::row_major(b_i, n, k).t(),
            ),
            Form::Tn => (
                MatRef::row_major(a_i, k, m).t(),
                MatRef::row_major(b_i, k, n),
            ),
        };
        gemm(a_i, b_i, MatMut::row_major(c_i, m, n), accumulate);
    }
}

/// Batched matrix product, as PyTorch's `torch.bmm` (rank 3) and `torch.matmul` on rank-4
/// stacks: one product per matrix of the stack.
///
/// - **Forward:** `c[.., i, j] = Σₖ a[.., i, k]·b[.., k, j]`, for every index `..` of the
///   batch axes.
/// - **Backward** ([`bmm_backward_into`]): per matrix, as [`crate::ops::matmul()`]:
///   `da = dc·bᵀ` ([`bmm_nt`]) and `db = aᵀ·dc` ([`bmm_tn`]).
/// - **Saves:** both inputs.
/// - **Shapes:** `a: [N, M, K]`, `b: [N, K, P]` → `c: [N, M, P]`, or with two batch axes
///   `[A, N, ..]` ([`BatchMatmul`]). Batch axes or inner sizes that disagree at run time are a
///   [`ShapeError`].
pub fn bmm<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
) -> Result<Tensor<SA::Output, E>, ShapeError>
where
    SA: BatchMatmul<SB>,
    SB: Shape,
    E: Element,
{
    let mut c = Tensor::zeros(a.shape().product_shape(&b.shape()));
    bmm_into(a, b, &mut c)?;
    Ok(c)
}

/// [`bmm`] writing into `c` (resized if needed).
pub fn bmm_into<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
    c: &mut Tensor<SA::Output, E>,
) -> Result<(), ShapeError>
where
    SA: BatchMatmul<SB>,
    SB: Shape,
    E: Element,
{
    let s = bmm_sizes(a.dims(), b.dims(), Form::Nn)?;
    c.resize_to(a.shape().product_shape(&b.shape()));
    bmm_slices(
        s,
        Form::Nn,
        a.as_slice(),
        b.as_slice(),
        c.as_slice_mut(),
        false,
    );
    Ok(())
}

/// Batched product with the second operand transposed, `c = a·bᵀ` per matrix (`q·kᵀ` in
/// attention), without copying the transpose.
///
/// - **Forward:** `c[.., i, j] = Σₖ a[.., i, k]·b[.., j, k]`.
/// - **Backward:** `da = dc·b` ([`bmm`]), `db = dcᵀ·a` ([`bmm_tn`]`(dc, a)`).
/// - **Saves:** both inputs.
/// - **Shapes:** `a: [N, M, K]`, `b: [N, P, K]` → `c: [N, M, P]` (or rank 4, [`BatchMatmulNt`]).
pub fn bmm_nt<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
) -> Result<Tensor<SA::Output, E>, ShapeError>
where
    SA: BatchMatmulNt<SB>,
    SB: Shape,
    E: Element,
{
    let mut c = Tensor::zeros(a.shape().product_shape(&b.shape()));
    bmm_nt_into(a, b, &mut c)?;
    Ok(c)
}

/// [`bmm_nt`] writing into `c` (resized if needed).
pub fn bmm_nt_into<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
    c: &mut Tensor<SA::Output, E>,
) -> Result<(), ShapeError>
where
    SA: BatchMatmulNt<SB>,
    SB: Shape,
    E: Element,
{
    let s = bmm_sizes(a.dims(), b.dims(), Form::Nt)?;
    c.resize_to(a.shape().product_shape(&b.shape()));
    bmm_slices(
        s,
        Form::Nt,
        a.as_slice(),
        b.as_slice(),
        c.as_slice_mut(),
        false,
    );
    Ok(())
}

/// Batched product with the first operand transposed, `c = aᵀ·b` per matrix (`attᵀ·dy` in
/// attention's backward), without copying the transpose.
///
/// - **Forward:** `c[.., i, j] = Σₖ a[.., k, i]·b[.., k, j]`.
/// - **Backward:** `da = b·dcᵀ` ([`bmm_nt`]`(b, dc)`), `db = a·dc` ([`bmm`]).
/// - **Saves:** both inputs.
/// - **Shapes:** `a: [N, K, M]`, `b: [N, K, P]` → `c: [N, M, P]` (or rank 4, [`BatchMatmulTn`]).
pub fn bmm_tn<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
) -> Result<Tensor<SA::Output, E>, ShapeError>
where
    SA: BatchMatmulTn<SB>,
    SB: Shape,
    E: Element,
{
    let mut c = Tensor::zeros(a.shape().product_shape(&b.shape()));
    bmm_tn_into(a, b, &mut c)?;
    Ok(c)
}

/// [`bmm_tn`] writing into `c` (resized if needed).
pub fn bmm_tn_into<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
    c: &mut Tensor<SA::Output, E>,
) -> Result<(), ShapeError>
where
    SA: BatchMatmulTn<SB>,
    SB: Shape,
    E: Element,
{
    let s = bmm_sizes(a.dims(), b.dims(), Form::Tn)?;
    c.resize_to(a.shape().product_shape(&b.shape()));
    bmm_slices(
        s,
        Form::Tn,
        a.as_slice(),
        b.as_slice(),
        c.as_slice_mut(),
        false,
    );
    Ok(())
}

/// Backward of [`bmm`], allocating: `(da, db) = (dc·bᵀ, aᵀ·dc)` per matrix.
pub fn bmm_backward<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
    dc: &Tensor<SA::Output, E>,
) -> Result<(Tensor<SA, E>, Tensor<SB, E>), ShapeError>
where
    SA: BatchMatmul<SB>,
    SB: Shape,
    E: Element,
{
    let mut da = Tensor::zeros(a.shape());
    let mut db = Tensor::zeros(b.shape());
    bmm_backward_into(a, b, dc, &mut da, &mut db)?;
    Ok((da, db))
}

/// Backward of [`bmm`] into `da` and `db` (resized if needed, overwritten — they are input
/// gradients): `da = dc·bᵀ`, `db = aᵀ·dc` per matrix. `dc` must have the output's sizes.
pub fn bmm_backward_into<SA, SB, E>(
    a: &Tensor<SA, E>,
    b: &Tensor<SB, E>,
    dc: &Tensor<SA::Output, E>,
    da: &mut Tensor<SA, E>,
    db: &mut Tensor<SB, E>,
) -> Result<(), ShapeError>
where
    SA: BatchMatmul<SB>,
    SB: Shape,
    E: Element,
{
    let s = bmm_sizes(a.dims(), b.dims(), Form::Nn)?;
    let want = a.shape().product_shape(&b.shape());
    if dc.dims() != want.dims().as_slice() {
        return Err(ShapeError::Shape {
            expected: format!("{} (the output of bmm)", fmt_dims(&want.dims())),
            found: fmt_dims(dc.dims()),
        });
    }
    da.resize_to(a.shape());
    db.resize_to(b.shape());
    let BmmSizes { count, m, k, n } = s;
    // da [m, k] = dc [m, n] · bᵀ, b being [k, n]: the `Nt` form with inner size n.
    let nt = BmmSizes {
        count,
        m,
        k: n,
        n: k,
    };
    bmm_slices(
        nt,
        Form::Nt,
        dc.as_slice(),
        b.as_slice(),
        da.as_slice_mut(),
        false,
    );
    // db [k, n] = aᵀ · dc, a being [m, k]: the `Tn` form with inner size m.
    let tn = BmmSizes {
        count,
        m: k,
        k: m,
        n,
    };
    bmm_slices(
        tn,
        Form::Tn,
        a.as_slice(),
        dc.as_slice(),
        db.as_slice_mut(),
        false,
    );
    Ok(())
}

// ---- heads ------------------------------------------------------------------------------

/// The head count checked against the width: `(heads, C / heads)`.
fn head_sizes(width: usize, heads: usize) -> Result<(usize, usize), ShapeError> {
    if heads == 0 || !width.is_multiple_of(heads) {
        return Err(ShapeError::Invalid {
            what: "the head count must be at least 1 and divide the feature count",
            found: format!("{width} features into {heads} heads"),
        });
    }
    Ok((heads, width / heads))
}

/// Splits the features of every position into heads: `[B, T, C]` → `[B, H, T, D]` with
/// `D = C / H`, as PyTorch's `x.view(B, T, H, D).transpose(1, 2)` (made contiguous).
///
/// - **Forward:** `y[b, h, t, d] = x[b, t, h·D + d]` — head `h` is the `h`-th block of `D`
///   consecutive features.
/// - **Backward:** the inverse permutation, [`merge_heads`] of `dy`: every value is copied,
///   so its gradient is copied back.
/// - **Saves:** nothing.
/// - **Shapes:** `x: [B, T, C]` → `y: [B, H, T, D]`. `H` and `D` may be static or `Dyn`;
///   `heads` must be at least 1 and divide `C`, and static `H`, `D` must be `heads` and
///   `C / heads`, else a [`ShapeError`].
pub fn split_heads<B, T, C, H, D, E>(
    x: &Tensor<(B, T, C), E>,
    heads: usize,
) -> Result<Tensor<(B, H, T, D), E>, ShapeError>
where
    B: Dim,
    T: Dim,
    C: Dim,
    H: Dim,
    D: Dim,
    E: Element,
{
    let mut y = Tensor::zeros(split_shape(x.shape(), heads)?);
    split_heads_into(x, heads, &mut y)?;
    Ok(y)
}

fn split_shape<B: Dim, T: Dim, C: Dim, H: Dim, D: Dim>(
    (b, t, c): (B, T, C),
    heads: usize,
) -> Result<(B, H, T, D), ShapeError> {
    let (h, d) = head_sizes(c.size(), heads)?;
    let mismatch = || ShapeError::Shape {
        expected: fmt_pattern(&<(B, H, T, D)>::pattern()),
        found: fmt_dims(&[b.size(), h, t.size(), d]),
    };
    Ok((
        b,
        H::from_size(h).ok_or_else(mismatch)?,
        t,
        D::from_size(d).ok_or_else(mismatch)?,
    ))
}

/// [`split_heads`] writing into `y` (resized if needed).
pub fn split_heads_into<B, T, C, H, D, E>(
    x: &Tensor<(B, T, C), E>,
    heads: usize,
    y: &mut Tensor<(B, H, T, D), E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    T: Dim,
    C: Dim,
    H: Dim,
    D: Dim,
    E: Element,
{
    let shape = split_shape(x.shape(), heads)?;
    y.resize_to(shape);
    let (b, h, t, d) = (
        shape.0.size(),
        shape.1.size(),
        shape.2.size(),
        shape.3.size(),
    );
    let (x, y) = (x.as_slice(), y.as_slice_mut());
    for n in 0..b {
        for head in 0..h {
            for i in 0..t {
                let dst = &mut y[((n * h + head) * t + i) * d..][..d];
                dst.copy_from_slice(&x[(n * t + i) * h * d + head * d..][..d]);
            }
        }
    }
    Ok(())
}

/// Merges the heads back into the features of every position: `[B, H, T, D]` → `[B, T, C]`
/// with `C = H·D`, as PyTorch's `y.transpose(1, 2).contiguous().view(B, T, C)`.
///
/// - **Forward:** `y[b, t, h·D + d] = x[b, h, t, d]`.
/// - **Backward:** [`split_heads`] of `dy` with `H` heads (the inverse permutation).
/// - **Saves:** nothing.
/// - **Shapes:** `x: [B, H, T, D]` → `y: [B, T, C]`; a static `C` must be `H·D`, else a
///   [`ShapeError`].
pub fn merge_heads<B, H, T, D, C, E>(
    x: &Tensor<(B, H, T, D), E>,
) -> Result<Tensor<(B, T, C), E>, ShapeError>
where
    B: Dim,
    H: Dim,
    T: Dim,
    D: Dim,
    C: Dim,
    E: Element,
{
    let mut y = Tensor::zeros(merge_shape(x.shape())?);
    merge_heads_into(x, &mut y)?;
    Ok(y)
}

fn merge_shape<B: Dim, H: Dim, T: Dim, D: Dim, C: Dim>(
    (b, h, t, d): (B, H, T, D),
) -> Result<(B, T, C), ShapeError> {
    let width = h.size() * d.size();
    let c = C::from_size(width).ok_or_else(|| ShapeError::Shape {
        expected: fmt_pattern(&<(B, T, C)>::pattern()),
        found: fmt_dims(&[b.size(), t.size(), width]),
    })?;
    Ok((b, t, c))
}

/// [`merge_heads`] writing into `y` (resized if needed).
pub fn merge_heads_into<B, H, T, D, C, E>(
    x: &Tensor<(B, H, T, D), E>,
    y: &mut Tensor<(B, T, C), E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    H: Dim,
    T: Dim,
    D: Dim,
    C: Dim,
    E: Element,
{
    y.resize_to(merge_shape(x.shape())?);
    let [b, h, t, d] = [0, 1, 2, 3].map(|i| x.dims()[i]);
    let (x, y) = (x.as_slice(), y.as_slice_mut());
    for n in 0..b {
        for head in 0..h {
            for i in 0..t {
                let dst = &mut y[(n * t + i) * h * d + head * d..][..d];
                dst.copy_from_slice(&x[((n * h + head) * t + i) * d..][..d]);
            }
        }
    }
    Ok(())
}

// ---- causal softmax ---------------------------------------------------------------------

/// The size `T` of the last two axes of a causal score stack, checked square.
fn square_last(dims: &[usize]) -> Result<usize, ShapeError> {
    let r = dims.len();
    if r < 2 || dims[r - 2] != dims[r - 1] {
        return Err(ShapeError::Shape {
            expected: "[.., T, T] (square matrices of scores, rank 2 or more)".to_string(),
            found: fmt_dims(dims),
        });
    }
    Ok(dims[r - 1])
}

/// `max` over floats letting a NaN through (a NaN row gives NaN, as in PyTorch).
#[inline(always)]
fn max_nan<E: Element>(m: E, v: E) -> E {
    if v.is_nan() || m.is_nan() {
        E::nan()
    } else {
        m.max(v)
    }
}

/// Softmax of the visible part of a row in place: `row = e^(row − max) / Σ e^(row − max)`.
#[inline(always)]
fn softmax_in_place<E: Element>(row: &mut [E]) {
    let m = row.iter().fold(E::neg_infinity(), |m, &v| max_nan(m, v));
    let mut total = E::zero();
    for v in row.iter_mut() {
        // `v − m ≤ 0` (or NaN): the vectorisable exponential of `Element`.
        *v = (*v - m).exp_nonpositive();
        total += *v;
    }
    // One division per row, then products (as PyTorch's CPU kernel does).
    let inv = E::one() / total;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Softmax over the last axis with the causal mask: in each `[T, T]` matrix of scores, row
/// `i` keeps the entries `j ≤ i` and the entries `j > i` (the future) become `−∞` before the
/// softmax — PyTorch's `s.masked_fill(mask == 0, float("-inf")).softmax(-1)` with
/// `mask = torch.tril(torch.ones(T, T))`.
///
/// - **Forward:** `y[.., i, j] = e^(s[.., i, j] − mᵢ) / Σ_{j' ≤ i} e^(s[.., i, j'] − mᵢ)` for
///   `j ≤ i` (`mᵢ` the maximum of the visible entries), and `y[.., i, j] = 0` for `j > i`.
///   The masked entries' values are never read, so even NaN or ∞ there gives probability 0.
///   Row `i` always sees its diagonal, so no row is fully masked.
/// - **Backward** ([`causal_softmax_backward_into`]): the softmax Jacobian on the visible
///   entries, `dx = y ⊙ (dy − Σ_{j ≤ i} dy ⊙ y)`, and `dx = 0` on the masked entries (the mask
///   replaces them by a constant, so no gradient reaches them).
/// - **Saves:** the output `y`.
/// - **Shapes:** any rank ≥ 2 whose last two axes have the same size `T` (`[B, H, T, T]`
///   for attention); otherwise a [`ShapeError`]. `y` has the shape of `x`.
pub fn causal_softmax<S: HasLastAxis, E: Element>(
    x: &Tensor<S, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let mut y = Tensor::zeros(x.shape());
    causal_softmax_into(x, &mut y)?;
    Ok(y)
}

/// [`causal_softmax`] writing into `y` (resized if needed).
pub fn causal_softmax_into<S: HasLastAxis, E: Element>(
    x: &Tensor<S, E>,
    y: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    let t = square_last(x.dims())?;
    y.resize_to(x.shape());
    if t == 0 {
        return Ok(());
    }
    for (r, (xr, yr)) in x
        .as_slice()
        .chunks_exact(t)
        .zip(y.as_slice_mut().chunks_exact_mut(t))
        .enumerate()
    {
        let i = r % t;
        let (visible, masked) = yr.split_at_mut(i + 1);
        visible.copy_from_slice(&xr[..=i]);
        softmax_in_place(visible);
        masked.fill(E::zero());
    }
    Ok(())
}

/// Backward of [`causal_softmax`], allocating: see [`causal_softmax_backward_into`].
pub fn causal_softmax_backward<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let mut dx = Tensor::zeros(y.shape());
    causal_softmax_backward_into(y, dy, &mut dx)?;
    Ok(dx)
}

/// Backward of [`causal_softmax`] from the saved output `y`, into `dx` (resized if needed):
/// `dx[.., i, j] = y[.., i, j]·(dy[.., i, j] − Σ_{j' ≤ i} dy[.., i, j']·y[.., i, j'])` for
/// `j ≤ i`, and `0` for `j > i`. `y` and `dy` must have the same sizes.
pub fn causal_softmax_backward_into<S: HasLastAxis, E: Element>(
    y: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    dx: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    let t = square_last(y.dims())?;
    if y.dims() != dy.dims() {
        return Err(ShapeError::Shape {
            expected: format!("{} (the output of causal_softmax)", fmt_dims(y.dims())),
            found: fmt_dims(dy.dims()),
        });
    }
    dx.resize_to(y.shape());
    if t == 0 {
        return Ok(());
    }
    for (r, ((yr, gr), dr)) in y
        .as_slice()
        .chunks_exact(t)
        .zip(dy.as_slice().chunks_exact(t))
        .zip(dx.as_slice_mut().chunks_exact_mut(t))
        .enumerate()
    {
        let i = r % t;
        let (yv, gv) = (&yr[..=i], &gr[..=i]);
        let inner: E = yv.iter().zip(gv).map(|(&a, &g)| a * g).sum();
        let (visible, masked) = dr.split_at_mut(i + 1);
        for ((d, &a), &g) in visible.iter_mut().zip(yv).zip(gv) {
            *d = a * (g - inner);
        }
        masked.fill(E::zero());
    }
    Ok(())
}

// ---- fused scaled dot-product attention ------------------------------------------------

/// The sizes of one attention call: `batch` sequences of `len` positions, `heads` heads of
/// `dim` features each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AttentionDims {
    pub batch: usize,
    pub heads: usize,
    pub len: usize,
    pub dim: usize,
}

impl AttentionDims {
    /// `1/√D`, rounded to `E` (as PyTorch multiplies a float32 tensor by a Python float).
    fn scale<E: Element>(&self) -> E {
        E::cast(1.0 / (self.dim as f64).sqrt())
    }

    /// `T` and `D` rounded up to whole [`LANES`]-wide blocks.
    fn padded(&self) -> (usize, usize) {
        (
            self.len.div_ceil(LANES) * LANES,
            self.dim.div_ceil(LANES) * LANES,
        )
    }

    /// The workspace [`attention_forward`] needs: per part of the batch ([`Self::parts`]),
    /// `Kᵀ` `[D, T']`, `V` `[T, D']`, the scores `[T, T']` and a group of output rows
    /// `[GROUP, D']` (`T'`, `D'` rounded up to whole blocks).
    pub(crate) fn forward_workspace(&self) -> usize {
        self.parts() * self.forward_part()
    }

    fn forward_part(&self) -> usize {
        let (tp, dp) = self.padded();
        self.dim * tp + self.len * dp + self.len * tp + GROUP * dp
    }

    /// The workspace [`attention_backward`] needs: per part of the batch, `K`, `Q`, `dY`
    /// `[T, D']`, `Vᵀ` `[D, T']`, the weights and `dS` `[T, T']`, and a group of output rows
    /// `[GROUP, D']`.
    pub(crate) fn backward_workspace(&self) -> usize {
        self.parts() * self.backward_part()
    }

    fn backward_part(&self) -> usize {
        let (tp, dp) = self.padded();
        3 * self.len * dp + self.dim * tp + 2 * self.len * tp + GROUP * dp
    }

    /// How many threads share the batch: every sequence's heads are independent, so each
    /// thread takes whole sequences (a call with less work than [`PARALLEL_ATTENTION`] stays
    /// on the calling thread).
    fn parts(&self) -> usize {
        let work = self.batch * self.heads * self.len * self.len * self.dim;
        if work < PARALLEL_ATTENTION {
            1
        } else {
            num_threads().clamp(1, self.batch.max(1))
        }
    }

    /// Part `i`'s sequences when parts take `per` each: `(first, its sizes)`, or `None` for a
    /// part past the batch's end.
    fn part(self, i: usize, per: usize) -> Option<(usize, Self)> {
        let first = i * per;
        let count = per.min(self.batch.saturating_sub(first));
        (count > 0).then_some((
            first,
            AttentionDims {
                batch: count,
                ..self
            },
        ))
    }

    /// Values of the weights `[H, T, T]` per sequence.
    fn weights_per_sequence(&self) -> usize {
        self.heads * self.len * self.len
    }
}

/// Attention with fewer multiply-adds per score product than this (`B·H·T·T·D`) runs on one
/// thread: below it, waking a second thread costs more than it saves. (The GPT of
/// `examples/sort.rs`, 64 × 4 heads × 11² × 12 = 372 k, spends 0.70 ms of its step in
/// attention at 1 thread and 0.47 ms at 2: `examples/gflops`.)
const PARALLEL_ATTENTION: usize = 64 * 1024;

/// Rows of a `[B, H, T, D]` quantity counted from sequence `first`.
fn sequences_from<E>((data, rows): (&[E], Rows), first: usize) -> (&[E], Rows) {
    (data, rows.starting_at(first))
}

/// Cuts `buf` into `parts` pieces of `per` whole sequences (`stride` values per sequence; the
/// last piece takes the rest).
fn cut<E>(
    buf: &mut [E],
    parts: usize,
    per: usize,
    stride: usize,
) -> impl Iterator<Item = &mut [E]> {
    let mut rest = buf;
    (0..parts).map(move |_| {
        let taken = std::mem::take(&mut rest);
        let (piece, next) = taken.split_at_mut((per * stride).min(taken.len()));
        rest = next;
        piece
    })
}

/// Where the rows of a `[B, H, T, D]` quantity lie in a buffer: row `t` of head `h` of
/// sequence `b` is `buf[offset + b·batch + h·head + t·row ..][..D]`. The same kernels then
/// read heads split into `[B, H, T, D]` tensors, or heads left in place in the `[B, T, C]`
/// rows of a projection (head `h` is columns `h·D .. (h + 1)·D`), with no copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows {
    pub offset: usize,
    pub batch: usize,
    pub head: usize,
    pub row: usize,
}

impl Rows {
    /// The same rows, counted from sequence `first` (its sequence 0 is this one's `first`).
    fn starting_at(self, first: usize) -> Self {
        Rows {
            offset: self.offset + first * self.batch,
            ..self
        }
    }

    /// Contiguous `[B, H, T, D]` (heads split).
    pub(crate) fn split(d: AttentionDims) -> Self {
        Rows {
            offset: 0,
            batch: d.heads * d.len * d.dim,
            head: d.len * d.dim,
            row: d.dim,
        }
    }

    /// Heads in place in `[B, T, width]` rows, starting at column `offset` (merged heads:
    /// `width = C`, `offset = 0`; a packed `q | k | v` projection: `width = 3C` and offset
    /// `0`, `C` or `2C`).
    pub(crate) fn merged(d: AttentionDims, width: usize, offset: usize) -> Self {
        Rows {
            offset,
            batch: d.len * width,
            head: d.dim,
            row: width,
        }
    }

    #[inline(always)]
    fn at(&self, b: usize, h: usize, t: usize) -> usize {
        self.offset + b * self.batch + h * self.head + t * self.row
    }
}

/// The kernels work on blocks of this many values, held in SIMD registers: rows of scores
/// and of features are zero-padded to whole blocks in the workspace, so every inner loop is
/// a fixed-width block operation the compiler vectorises, with no scalar remainder.
const LANES: usize = 8;

/// A block of [`LANES`] values.
type Block<E> = [E; LANES];

/// A slice of whole blocks seen as blocks.
#[inline(always)]
fn blocks<E>(x: &[E]) -> &[Block<E>] {
    x.as_chunks::<LANES>().0
}

/// [`blocks`], mutable.
#[inline(always)]
fn blocks_mut<E>(x: &mut [E]) -> &mut [Block<E>] {
    x.as_chunks_mut::<LANES>().0
}

/// `acc += c·x`, per lane.
#[inline(always)]
fn axpy_block<E: Element>(acc: &mut Block<E>, c: E, x: &Block<E>) {
    for l in 0..LANES {
        acc[l] += c * x[l];
    }
}

/// `acc + acc2`, per lane.
#[inline(always)]
fn add_blocks<E: Element>(a: Block<E>, b: &Block<E>) -> Block<E> {
    let mut out = a;
    for l in 0..LANES {
        out[l] += b[l];
    }
    out
}

/// The sum of a block's lanes, pairwise.
#[inline(always)]
fn sum_lanes<E: Element>(x: Block<E>) -> E {
    ((x[0] + x[4]) + (x[1] + x[5])) + ((x[2] + x[6]) + (x[3] + x[7]))
}

/// Copies `src[..dst.len()]` into `dst` in [`LANES`]-wide blocks, the last one overlapping
/// the one before (rows of a head are 10 to 100 values: `copy_from_slice` would call the
/// library's `memcpy` for each, which costs more than the copy at these lengths).
#[inline(always)]
fn copy_short<E: Copy>(dst: &mut [E], src: &[E]) {
    let n = dst.len();
    let src = &src[..n];
    if n < LANES {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = v;
        }
        return;
    }
    let mut at = 0;
    loop {
        let start = at.min(n - LANES);
        let d: &mut Block<E> = (&mut dst[start..start + LANES])
            .try_into()
            .expect("LANES values");
        let v: &Block<E> = (&src[start..start + LANES])
            .try_into()
            .expect("LANES values");
        *d = *v;
        if start + LANES == n {
            return;
        }
        at += LANES;
    }
}

/// Rows are processed in groups of this many: a group's rows share every load of the matrix
/// they are multiplied with, and their sums are independent chains the core runs in parallel.
const GROUP: usize = 4;

/// Runs `$body` for each group of rows `$i0 .. $i0 + $r` of `0..$n`, with `$r` a constant:
/// [`GROUP`] rows at a time, then the 1 to 3 left over.
macro_rules! in_groups {
    ($n:expr, $i0:ident, $r:ident, $body:block) => {{
        let n = $n;
        let mut $i0 = 0;
        while $i0 + GROUP <= n {
            {
                const $r: usize = GROUP;
                $body
            }
            $i0 += GROUP;
        }
        match n - $i0 {
            3 => {
                const $r: usize = 3;
                $body
            }
            2 => {
                const $r: usize = 2;
                $body
            }
            1 => {
                const $r: usize = 1;
                $body
            }
            _ => {}
        }
    }};
}

/// `R` rows of a product at once: for `r < R`, blocks `0..n_blocks` of
/// `out[r] = Σ_{p ∈ ps} w(r, p)·m[p, :]`, with `m` `[_, width]` row-major (rows padded to whole
/// blocks) and row `r` of `out` at `out[r·out_width..]`. Each block of `m` is loaded once for
/// the `R` rows; the `R` sums are held in registers.
#[inline(always)]
fn combine<const R: usize, E: Element>(
    (out, out_width): (&mut [E], usize),
    n_blocks: usize,
    w: impl Fn(usize, usize) -> E,
    ps: std::ops::Range<usize>,
    (m, width): (&[E], usize),
) {
    for c in 0..n_blocks {
        let mut acc = [[E::zero(); LANES]; R];
        for p in ps.clone() {
            let block = &blocks(&m[p * width..][..width])[c];
            for (r, acc) in acc.iter_mut().enumerate() {
                axpy_block(acc, w(r, p), block);
            }
        }
        for (r, acc) in acc.into_iter().enumerate() {
            blocks_mut(&mut out[r * out_width..][..n_blocks * LANES])[c] = acc;
        }
    }
}

/// The forward of causal attention (see [`attention_forward`]), run under the best
/// instruction set `pulp` finds, so the block loops compile to AVX2/AVX-512 (or NEON).
struct Forward<'a, E> {
    d: AttentionDims,
    q: (&'a [E], Rows),
    k: (&'a [E], Rows),
    v: (&'a [E], Rows),
    y: (&'a mut [E], Rows),
    att: &'a mut [E],
    workspace: &'a mut [E],
}

impl<E: Element> WithSimd for Forward<'_, E> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Forward {
            d,
            q: (q, q_rows),
            k: (k, k_rows),
            v: (v, v_rows),
            y: (y, y_rows),
            att,
            workspace,
        } = self;
        let (t, dim, scale) = (d.len, d.dim, d.scale::<E>());
        let (tp, dp) = d.padded();
        let (kt, rest) = workspace.split_at_mut(dim * tp);
        let (vs, rest) = rest.split_at_mut(t * dp);
        let (scores, rest) = rest.split_at_mut(t * tp);
        let out = &mut rest[..GROUP * dp];
        // The padding lanes stay 0: only the first T columns of Kᵀ and D of V are written.
        kt.fill(E::zero());
        vs.fill(E::zero());
        for b in 0..d.batch {
            for h in 0..d.heads {
                // This head's Kᵀ [D, T'] and V [T, D'], padded.
                for j in 0..t {
                    let k_j = &k[k_rows.at(b, h, j)..][..dim];
                    for (p, &x) in k_j.iter().enumerate() {
                        kt[p * tp + j] = x;
                    }
                    copy_short(&mut vs[j * dp..][..dim], &v[v_rows.at(b, h, j)..][..dim]);
                }
                // The scores q_i·Kᵀ, a group of rows at a time, over the blocks holding the
                // group's visible columns (0..=i for row i).
                in_groups!(t, i0, R, {
                    let q_r: [&[E]; R] =
                        std::array::from_fn(|r| &q[q_rows.at(b, h, i0 + r)..][..dim]);
                    let n_blocks = (i0 + R).div_ceil(LANES);
                    combine::<R, E>(
                        (&mut scores[i0 * tp..], tp),
                        n_blocks,
                        |r, p| q_r[r][p],
                        0..dim,
                        (kt, tp),
                    );
                });
                // Each row scaled by 1/√D, masked, minus its maximum.
                for (i, s_i) in scores.chunks_exact_mut(tp).enumerate() {
                    let visible = &mut s_i[..=i];
                    for x in visible.iter_mut() {
                        *x *= scale;
                    }
                    // A NaN score makes its row NaN (through the sum below), as in PyTorch.
                    let m = visible
                        .iter()
                        .fold(E::neg_infinity(), |m, &x| if x > m { x } else { m });
                    for x in visible.iter_mut() {
                        *x -= m;
                    }
                    // The masked entries (and blocks not computed): e^(−∞) = 0 below.
                    for x in s_i[i + 1..].iter_mut() {
                        *x = E::neg_infinity();
                    }
                }
                // The exponentials of the whole head in one loop the compiler vectorises.
                for x in scores.iter_mut() {
                    *x = x.exp_nonpositive();
                }
                let head_att = &mut att[(b * d.heads + h) * t * t..][..t * t];
                for (s_i, att_i) in scores
                    .chunks_exact_mut(tp)
                    .zip(head_att.chunks_exact_mut(t.max(1)))
                {
                    let s_blocks = blocks_mut(s_i);
                    let mut total = [E::zero(); LANES];
                    for block in s_blocks.iter() {
                        total = add_blocks(total, block);
                    }
                    // One division per row, then products (as PyTorch's CPU kernel does).
                    let inv = E::one() / sum_lanes(total);
                    for block in s_blocks.iter_mut() {
                        for x in block.iter_mut() {
                            *x *= inv;
                        }
                    }
                    copy_short(att_i, s_i);
                }
                // y_i = Σ_{j ≤ i} att_ij·v_j, a group of rows at a time (att_ij = 0 for j > i).
                in_groups!(t, i0, R, {
                    let scores = &*scores;
                    combine::<R, E>(
                        (out, dp),
                        dp / LANES,
                        |r, j| scores[(i0 + r) * tp + j],
                        0..i0 + R,
                        (vs, dp),
                    );
                    for r in 0..R {
                        copy_short(&mut y[y_rows.at(b, h, i0 + r)..][..dim], &out[r * dp..]);
                    }
                });
            }
        }
    }
}

/// The forward of causal attention on buffers of checked sizes, one head of one sequence at a
/// time: per row `i`, the scores `q_i·k_j/√D` (computed in whole blocks; the masked ones are
/// set to `−∞`), their softmax written into `att` (`[B, H, T, T]`, zeros above the diagonal),
/// and the output row `y_i = Σ_{j ≤ i} att[i, j]·v_j`. `workspace` holds at least
/// [`AttentionDims::forward_workspace`] values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_forward<E: Element>(
    d: AttentionDims,
    q: (&[E], Rows),
    k: (&[E], Rows),
    v: (&[E], Rows),
    y: (&mut [E], Rows),
    att: &mut [E],
    workspace: &mut [E],
) {
    attention_forward_in(d.parts(), d, q, k, v, y, att, workspace);
}

/// [`attention_forward`] with the batch shared by `parts` threads (`workspace` holds `parts`
/// times a part's).
#[allow(clippy::too_many_arguments)]
fn attention_forward_in<E: Element>(
    parts: usize,
    d: AttentionDims,
    q: (&[E], Rows),
    k: (&[E], Rows),
    v: (&[E], Rows),
    y: (&mut [E], Rows),
    att: &mut [E],
    workspace: &mut [E],
) {
    if d.batch == 0 || d.heads == 0 || d.len == 0 {
        return;
    }
    let part_ws = d.forward_part();
    assert!(
        workspace.len() >= parts * part_ws,
        "attention workspace sized for fewer parts"
    );
    let per = d.batch.div_ceil(parts);
    let ((y, y_rows), att_stride) = (y, d.weights_per_sequence());
    let slots = payload_slots();
    let pieces = cut(y, parts, per, y_rows.batch)
        .zip(cut(att, parts, per, att_stride))
        .zip(workspace.chunks_mut(part_ws.max(1)));
    for (i, ((y, att), ws)) in pieces.enumerate() {
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some((y, att, ws));
    }
    timed_part(Part::Attention, || {
        for_each_payload(parts, &slots, &|i, (y, att, workspace)| {
            // Part `i`'s sequences, read where they lie in `q`, `k`, `v` and written into
            // its own pieces of `y` and `att`.
            let Some((first, part)) = d.part(i, per) else {
                return;
            };
            Arch::new().dispatch(Forward {
                d: part,
                q: sequences_from(q, first),
                k: sequences_from(k, first),
                v: sequences_from(v, first),
                y: (y, y_rows),
                att,
                workspace,
            })
        });
    });
}

/// Where the backward writes `dq`, `dk` and `dv`: three tensors, or one packed buffer.
pub(crate) trait GradRows<E>: Send + Sized {
    /// Row `t` of head `h` of sequence `b` of `dq` (`which = 0`), `dk` (1) or `dv` (2).
    fn row(&mut self, which: usize, b: usize, h: usize, t: usize) -> &mut [E];

    /// The rows of the first `count` sequences, and those of the others (their sequence
    /// `count` becoming sequence 0): disjoint pieces for the threads.
    fn split_sequences(self, count: usize) -> (Self, Self);
}

/// `dq`, `dk`, `dv` as three buffers with the same layout.
struct SeparateGrads<'a, E> {
    bufs: [&'a mut [E]; 3],
    rows: Rows,
    dim: usize,
}

impl<E: Send> GradRows<E> for SeparateGrads<'_, E> {
    #[inline(always)]
    fn row(&mut self, which: usize, b: usize, h: usize, t: usize) -> &mut [E] {
        let at = self.rows.at(b, h, t);
        &mut self.bufs[which][at..][..self.dim]
    }

    fn split_sequences(self, count: usize) -> (Self, Self) {
        let at = count * self.rows.batch;
        let [a, b, c] = self.bufs.map(|buf| {
            let at = at.min(buf.len());
            buf.split_at_mut(at)
        });
        let (rows, dim) = (self.rows, self.dim);
        let piece = |bufs| SeparateGrads { bufs, rows, dim };
        (piece([a.0, b.0, c.0]), piece([a.1, b.1, c.1]))
    }
}

/// `dq`, `dk`, `dv` packed in one buffer (the layer's `[B·T, 3C]` gradient of the packed
/// projection), each with its own [`Rows`].
pub(crate) struct PackedGrads<'a, E> {
    pub buf: &'a mut [E],
    pub rows: [Rows; 3],
    pub dim: usize,
}

impl<E: Send> GradRows<E> for PackedGrads<'_, E> {
    #[inline(always)]
    fn row(&mut self, which: usize, b: usize, h: usize, t: usize) -> &mut [E] {
        let at = self.rows[which].at(b, h, t);
        &mut self.buf[at..][..self.dim]
    }

    /// (The three share the buffer's sequence stride: a sequence's `q`, `k` and `v` rows lie
    /// together.)
    fn split_sequences(self, count: usize) -> (Self, Self) {
        let at = (count * self.rows[0].batch).min(self.buf.len());
        let (first, rest) = self.buf.split_at_mut(at);
        let (rows, dim) = (self.rows, self.dim);
        let piece = |buf| PackedGrads { buf, rows, dim };
        (piece(first), piece(rest))
    }
}

/// The backward of causal attention, run under the best instruction set (as [`Forward`]).
struct Backward<'a, E, G> {
    d: AttentionDims,
    q: (&'a [E], Rows),
    k: (&'a [E], Rows),
    v: (&'a [E], Rows),
    att: &'a [E],
    dy: (&'a [E], Rows),
    grads: &'a mut G,
    workspace: &'a mut [E],
}

impl<E: Element, G: GradRows<E>> WithSimd for Backward<'_, E, G> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Backward {
            d,
            q: (q, q_rows),
            k: (k, k_rows),
            v: (v, v_rows),
            att,
            dy: (dy, dy_rows),
            grads,
            workspace,
        } = self;
        let (t, dim, scale) = (d.len, d.dim, d.scale::<E>());
        let (tp, dp) = d.padded();
        let (ks, rest) = workspace.split_at_mut(t * dp);
        let (qs, rest) = rest.split_at_mut(t * dp);
        let (dys, rest) = rest.split_at_mut(t * dp);
        let (vt, rest) = rest.split_at_mut(dim * tp);
        let (a, rest) = rest.split_at_mut(t * tp);
        let (ds, rest) = rest.split_at_mut(t * tp);
        let out = &mut rest[..GROUP * dp];
        // Padding lanes stay 0 (only the first T or D values of a row are ever written).
        for buf in [&mut *ks, &mut *qs, &mut *dys, &mut *vt, &mut *a] {
            buf.fill(E::zero());
        }
        for b in 0..d.batch {
            for h in 0..d.heads {
                // This head's K, Q, dY [T, D'], Vᵀ [D, T'] and weights [T, T'], padded.
                let head_att = &att[(b * d.heads + h) * t * t..][..t * t];
                for j in 0..t {
                    copy_short(&mut ks[j * dp..][..dim], &k[k_rows.at(b, h, j)..][..dim]);
                    copy_short(&mut qs[j * dp..][..dim], &q[q_rows.at(b, h, j)..][..dim]);
                    copy_short(&mut dys[j * dp..][..dim], &dy[dy_rows.at(b, h, j)..][..dim]);
                    copy_short(&mut a[j * tp..][..t], &head_att[j * t..][..t]);
                    let v_j = &v[v_rows.at(b, h, j)..][..dim];
                    for (p, &x) in v_j.iter().enumerate() {
                        vt[p * tp + j] = x;
                    }
                }
                in_groups!(t, i0, R, {
                    // datt_i = dy_i·Vᵀ over the blocks holding the group's columns 0..=i
                    // (the entries j > i are multiplied by their weight 0 below).
                    let n_blocks = (i0 + R).div_ceil(LANES);
                    let dys = &*dys;
                    combine::<R, E>(
                        (&mut ds[i0 * tp..], tp),
                        n_blocks,
                        |r, p| dys[(i0 + r) * dp + p],
                        0..dim,
                        (vt, tp),
                    );
                    // ds_i = a_i ⊙ (datt_i − Σ a_i ⊙ datt_i) / √D.
                    for r in 0..R {
                        let i = i0 + r;
                        let a_i = &blocks(&a[i * tp..][..tp])[..n_blocks];
                        let ds_i = &mut blocks_mut(&mut ds[i * tp..][..tp])[..n_blocks];
                        let mut inner = [E::zero(); LANES];
                        for (s, w) in ds_i.iter().zip(a_i) {
                            for l in 0..LANES {
                                inner[l] += w[l] * s[l];
                            }
                        }
                        let inner = sum_lanes(inner);
                        for (s, w) in ds_i.iter_mut().zip(a_i) {
                            for l in 0..LANES {
                                s[l] = w[l] * (s[l] - inner) * scale;
                            }
                        }
                    }
                    // dq_i = Σ_{j ≤ i} ds_ij·k_j (ds_ij = 0 for j > i).
                    let ds = &*ds;
                    combine::<R, E>(
                        (out, dp),
                        dp / LANES,
                        |r, j| ds[(i0 + r) * tp + j],
                        0..i0 + R,
                        (ks, dp),
                    );
                    for r in 0..R {
                        copy_short(grads.row(0, b, h, i0 + r), &out[r * dp..]);
                    }
                });
                // dk_j = Σ_{i ≥ j} ds_ij·q_i and dv_j = Σ_{i ≥ j} a_ij·dy_i, a group of
                // columns j at a time: the weights are read down columns of dS and of the
                // weights, 0 where i < j (dS is not computed everywhere there).
                in_groups!(t, j0, R, {
                    let (ds, a) = (&*ds, &*a);
                    combine::<R, E>(
                        (out, dp),
                        dp / LANES,
                        |r, i| {
                            if i >= j0 + r {
                                ds[i * tp + j0 + r]
                            } else {
                                E::zero()
                            }
                        },
                        j0..t,
                        (qs, dp),
                    );
                    for r in 0..R {
                        copy_short(grads.row(1, b, h, j0 + r), &out[r * dp..]);
                    }
                    combine::<R, E>(
                        (out, dp),
                        dp / LANES,
                        |r, i| a[i * tp + j0 + r],
                        j0..t,
                        (dys, dp),
                    );
                    for r in 0..R {
                        copy_short(grads.row(2, b, h, j0 + r), &out[r * dp..]);
                    }
                });
            }
        }
    }
}

/// The backward of causal attention on buffers of checked sizes, one head of one sequence at
/// a time (see [`causal_attention`] for the derivation): for each row `i`,
/// `datt_ij = dy_i·v_j`, `ds_ij = att_ij·(datt_ij − Σ_j' att_ij'·datt_ij')/√D` and
/// `dq_i = Σ_{j ≤ i} ds_ij·k_j` (the products `datt_ij` are computed in whole blocks, and the
/// masked ones are multiplied by their weight 0); then for each `j`,
/// `dk_j = Σ_{i ≥ j} ds_ij·q_i` and `dv_j = Σ_{i ≥ j} att_ij·dy_i`. `dq`, `dk` and `dv` are
/// overwritten. `workspace` holds at least
/// [`AttentionDims::backward_workspace`] values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_backward<E: Element, G: GradRows<E>>(
    d: AttentionDims,
    q: (&[E], Rows),
    k: (&[E], Rows),
    v: (&[E], Rows),
    att: &[E],
    dy: (&[E], Rows),
    grads: G,
    workspace: &mut [E],
) {
    attention_backward_in(d.parts(), d, q, k, v, att, dy, grads, workspace);
}

/// [`attention_backward`] with the batch shared by `parts` threads (`workspace` holds
/// `parts` times a part's).
#[allow(clippy::too_many_arguments)]
fn attention_backward_in<E: Element, G: GradRows<E>>(
    parts: usize,
    d: AttentionDims,
    q: (&[E], Rows),
    k: (&[E], Rows),
    v: (&[E], Rows),
    att: &[E],
    dy: (&[E], Rows),
    grads: G,
    workspace: &mut [E],
) {
    if d.batch == 0 || d.heads == 0 || d.len == 0 {
        return;
    }
    let part_ws = d.backward_part();
    assert!(
        workspace.len() >= parts * part_ws,
        "attention workspace sized for fewer parts"
    );
    let per = d.batch.div_ceil(parts);
    let slots = payload_slots();
    let mut rest = Some(grads);
    for (i, ws) in workspace.chunks_mut(part_ws.max(1)).take(parts).enumerate() {
        let Some(g) = rest.take() else { break };
        let count = d.part(i, per).map_or(0, |(_, part)| part.batch);
        let (piece, next) = g.split_sequences(count);
        rest = Some(next);
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some((piece, ws));
    }
    let att_stride = d.weights_per_sequence();
    timed_part(Part::Attention, || {
        for_each_payload(parts, &slots, &|i, (mut grads, workspace)| {
            let Some((first, part)) = d.part(i, per) else {
                return;
            };
            Arch::new().dispatch(Backward {
                d: part,
                q: sequences_from(q, first),
                k: sequences_from(k, first),
                v: sequences_from(v, first),
                att: &att[first * att_stride..],
                dy: sequences_from(dy, first),
                grads: &mut grads,
                workspace,
            })
        });
    });
}

/// The sizes of `q` (`[B, H, T, D]`), checked equal to those of `k` and `v`.
fn qkv_dims(q: &[usize], k: &[usize], v: &[usize]) -> Result<AttentionDims, ShapeError> {
    for (name, other) in [("k", k), ("v", v)] {
        if other != q {
            return Err(ShapeError::Shape {
                expected: format!("{} (the shape of q)", fmt_dims(q)),
                found: format!("{} for {name}", fmt_dims(other)),
            });
        }
    }
    Ok(AttentionDims {
        batch: q[0],
        heads: q[1],
        len: q[2],
        dim: q[3],
    })
}

/// Scaled dot-product attention with the causal mask, fused: per head of every sequence,
/// `y = softmax(mask(q·kᵀ/√D))·v` — the same as [`bmm_nt`], [`scale`](crate::ops::scale()),
/// [`causal_softmax`] and [`bmm`] in sequence (and as PyTorch's
/// `F.scaled_dot_product_attention(q, k, v, is_causal=True)`), in one pass per head that
/// keeps the head's keys and values in the core's cache and stores no scores apart from the
/// weights.
///
/// - **Forward:** per head, with `Q`, `K`, `V` its `[T, D]` matrices:
///   `S = Q·Kᵀ/√D`; `A[i, :] = softmax(S[i, 0..=i])` padded with zeros for `j > i`
///   (the entries `j > i` are set to `−∞` before the softmax: their weight is `e^(−∞) = 0`);
///   `Y = A·V`.
/// - **Backward** ([`causal_attention_backward_into`]), derived one step at a time from
///   `dY = ∂L/∂Y`:
///   - `Y = A·V` is a matrix product: `dV = Aᵀ·dY` and `dA = dY·Vᵀ`;
///   - `A` is a softmax of each row of `S`, whose Jacobian is `diag(a) − a·aᵀ` per row, so
///     `dS = A ⊙ (dA − rowsum(dA ⊙ A))`. On the masked entries `A = 0`, hence `dS = 0`: the
///     mask puts a constant there, and no gradient flows to a constant — an output never
///     sends gradient to a later position's key or value;
///   - `S = Q·Kᵀ/√D` is a matrix product scaled by a constant: `dQ = dS·K/√D` and
///     `dK = dSᵀ·Q/√D`.
///
///   Row by row, over `j ≤ i`: `dA[i, j] = dy_i·v_j`, `dv_j += A[i, j]·dy_i`,
///   `dq_i = Σ_j dS[i, j]·k_j`, `dk_j += dS[i, j]·q_i`.
/// - **Saves:** `q`, `k`, `v` and the weights `att = A` (`[B, H, T, T]`). Each gradient needs
///   the *other* factor of its product: `dV` needs `A`, `dA` needs `V`, `dS` needs `A` (the
///   softmax's Jacobian is written with its output), `dQ` needs `K` and `dK` needs `Q`.
///   (`A` could be recomputed from `Q` and `K`, as FlashAttention does to save memory on long
///   sequences; for short ones the `B·H·T²` weights are cheap to keep.)
/// - **Shapes:** `q`, `k`, `v`: `[B, H, T, D]` (the same sizes, else a [`ShapeError`]) →
///   `y: [B, H, T, D]`, `att: [B, H, T, T]`.
pub fn causal_attention<B, H, T, D, E>(
    q: &Tensor<(B, H, T, D), E>,
    k: &Tensor<(B, H, T, D), E>,
    v: &Tensor<(B, H, T, D), E>,
) -> Result<(Tensor<(B, H, T, D), E>, Tensor<(B, H, T, T), E>), ShapeError>
where
    B: Dim,
    H: Dim,
    T: Dim,
    D: Dim,
    E: Element,
{
    let (b, h, t, _) = q.shape();
    let mut y = Tensor::zeros(q.shape());
    let mut att = Tensor::zeros((b, h, t, t));
    causal_attention_into(q, k, v, &mut y, &mut att, &mut Vec::new())?;
    Ok((y, att))
}

/// [`causal_attention`] writing the output into `y` and the attention weights into `att`
/// (both resized if needed). `workspace` holds one head's keys and values, padded to whole
/// SIMD blocks (about `2·T·D` values): it grows the first time and is reused after, so a
/// training step that keeps it allocates nothing.
pub fn causal_attention_into<B, H, T, D, E>(
    q: &Tensor<(B, H, T, D), E>,
    k: &Tensor<(B, H, T, D), E>,
    v: &Tensor<(B, H, T, D), E>,
    y: &mut Tensor<(B, H, T, D), E>,
    att: &mut Tensor<(B, H, T, T), E>,
    workspace: &mut Vec<E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    H: Dim,
    T: Dim,
    D: Dim,
    E: Element,
{
    let d = qkv_dims(q.dims(), k.dims(), v.dims())?;
    let (b, h, t, _) = q.shape();
    y.resize_to(q.shape());
    att.resize_to((b, h, t, t));
    let rows = Rows::split(d);
    workspace.resize(d.forward_workspace(), E::zero());
    attention_forward(
        d,
        (q.as_slice(), rows),
        (k.as_slice(), rows),
        (v.as_slice(), rows),
        (y.as_slice_mut(), rows),
        att.as_slice_mut(),
        workspace,
    );
    Ok(())
}

/// Backward of [`causal_attention`], allocating: `(dq, dk, dv)`.
pub fn causal_attention_backward<B, H, T, D, E>(
    q: &Tensor<(B, H, T, D), E>,
    k: &Tensor<(B, H, T, D), E>,
    v: &Tensor<(B, H, T, D), E>,
    att: &Tensor<(B, H, T, T), E>,
    dy: &Tensor<(B, H, T, D), E>,
) -> Result<
    (
        Tensor<(B, H, T, D), E>,
        Tensor<(B, H, T, D), E>,
        Tensor<(B, H, T, D), E>,
    ),
    ShapeError,
>
where
    B: Dim,
    H: Dim,
    T: Dim,
    D: Dim,
    E: Element,
{
    let (mut dq, mut dk, mut dv) = (
        Tensor::zeros(q.shape()),
        Tensor::zeros(q.shape()),
        Tensor::zeros(q.shape()),
    );
    causal_attention_backward_into(
        q,
        k,
        v,
        att,
        dy,
        (&mut dq, &mut dk, &mut dv),
        &mut Vec::new(),
    )?;
    Ok((dq, dk, dv))
}

/// Backward of [`causal_attention`] into `(dq, dk, dv)` (resized if needed, overwritten):
/// `dV = Aᵀ·dY`, `dS = A ⊙ (dY·Vᵀ − rowsum(dY·Vᵀ ⊙ A))`, `dQ = dS·K/√D`, `dK = dSᵀ·Q/√D`,
/// from the saved `q`, `k`, `v` and weights `att`. `workspace` is reused as in
/// [`causal_attention_into`] (about `4·T·D` values).
pub fn causal_attention_backward_into<B, H, T, D, E>(
    q: &Tensor<(B, H, T, D), E>,
    k: &Tensor<(B, H, T, D), E>,
    v: &Tensor<(B, H, T, D), E>,
    att: &Tensor<(B, H, T, T), E>,
    dy: &Tensor<(B, H, T, D), E>,
    (dq, dk, dv): (
        &mut Tensor<(B, H, T, D), E>,
        &mut Tensor<(B, H, T, D), E>,
        &mut Tensor<(B, H, T, D), E>,
    ),
    workspace: &mut Vec<E>,
) -> Result<(), ShapeError>
where
    B: Dim,
    H: Dim,
    T: Dim,
    D: Dim,
    E: Element,
{
    let d = qkv_dims(q.dims(), k.dims(), v.dims())?;
    if dy.dims() != q.dims() {
        return Err(ShapeError::Shape {
            expected: format!("{} (the output of causal_attention)", fmt_dims(q.dims())),
            found: fmt_dims(dy.dims()),
        });
    }
    let want_att = [d.batch, d.heads, d.len, d.len];
    if att.dims() != want_att {
        return Err(ShapeError::Shape {
            expected: format!("{} (the weights of causal_attention)", fmt_dims(&want_att)),
            found: fmt_dims(att.dims()),
        });
    }
    for g in [&mut *dq, &mut *dk, &mut *dv] {
        g.resize_to(q.shape());
    }
    let rows = Rows::split(d);
    let grads = SeparateGrads {
        bufs: [dq.as_slice_mut(), dk.as_slice_mut(), dv.as_slice_mut()],
        rows,
        dim: d.dim,
    };
    workspace.resize(d.backward_workspace(), E::zero());
    attention_backward(
        d,
        (q.as_slice(), rows),
        (k.as_slice(), rows),
        (v.as_slice(), rows),
        att.as_slice(),
        (dy.as_slice(), rows),
        grads,
        workspace,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sharing the batch over threads gives exactly the one-thread numbers, forward and
    /// backward, with heads split (`[B, H, T, D]` tensors) and in place (the layer's packed
    /// `q | k | v` projection and merged output).
    #[test]
    fn threads_give_the_serial_result() {
        let d = AttentionDims {
            batch: 5,
            heads: 2,
            len: 19,
            dim: 10,
        };
        let c = d.heads * d.dim;
        let n = d.batch * d.len * c;
        let value = |i: usize, m: usize| ((i * m) % 97) as f64 / 48.0 - 1.0;
        let qkv: Vec<f64> = (0..3 * n).map(|i| value(i, 31)).collect();
        let dy: Vec<f64> = (0..n).map(|i| value(i, 17)).collect();
        let split = Rows::split(d);
        let merged = |width, offset| Rows::merged(d, width, offset);
        // (q, k, v rows; y and dy rows) for the two layouts.
        let layouts = [
            ([(0, split), (n, split), (2 * n, split)], split),
            (
                [
                    (0, merged(3 * c, 0)),
                    (0, merged(3 * c, c)),
                    (0, merged(3 * c, 2 * c)),
                ],
                merged(c, 0),
            ),
        ];
        for (which, (inputs, out_rows)) in layouts.into_iter().enumerate() {
            let packed = which == 1;
            let input = |k: usize| {
                let (start, rows) = inputs[k];
                (&qkv[start..], rows)
            };
            let run = |parts: usize| {
                let mut y = vec![0.0; n];
                let mut att = vec![0.0; d.batch * d.heads * d.len * d.len];
                let mut ws = vec![0.0; parts * d.forward_part()];
                let (q, k, v) = (input(0), input(1), input(2));
                attention_forward_in(parts, d, q, k, v, (&mut y, out_rows), &mut att, &mut ws);
                let mut grads = vec![0.0; 3 * n];
                let mut ws = vec![0.0; parts * d.backward_part()];
                let dy = (&dy[..], out_rows);
                if packed {
                    let rows = [inputs[0].1, inputs[1].1, inputs[2].1];
                    let g = PackedGrads {
                        buf: &mut grads,
                        rows,
                        dim: d.dim,
                    };
                    attention_backward_in(parts, d, q, k, v, &att, dy, g, &mut ws);
                } else {
                    let (dq, rest) = grads.split_at_mut(n);
                    let (dk, dv) = rest.split_at_mut(n);
                    let g = SeparateGrads {
                        bufs: [dq, dk, dv],
                        rows: split,
                        dim: d.dim,
                    };
                    attention_backward_in(parts, d, q, k, v, &att, dy, g, &mut ws);
                }
                [y, att, grads]
            };
            let serial = run(1);
            assert!(serial[2].iter().all(|x| x.is_finite()) && serial[2].iter().any(|&x| x != 0.0));
            for parts in [2, 3, 5] {
                assert_eq!(run(parts), serial, "{parts} parts, packed: {packed}");
            }
        }
    }
}
