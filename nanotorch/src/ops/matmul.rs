//! Matrix products: [`matmul`] and the fused linear map [`linear`].
//!
//! Every product here goes to NanoTorch's own GEMM (`src/gemm/`): pure Rust, the instruction
//! set chosen at run time, no allocation per product, threads set by
//! [`crate::set_num_threads`] or `NANOTORCH_NUM_THREADS` (`docs/performance.md`).

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::{MatMut, MatRef, gemm};
use crate::shape::{Dim, FeaturesAgree};
use crate::tensor::Tensor;

fn check_rows<M: Dim, K: Dim>(what: &'static str, m: M, k: K) -> Result<(), ShapeError> {
    if m.size() == k.size() {
        Ok(())
    } else {
        Err(ShapeError::RuntimeDim {
            what,
            left: m.size(),
            right: k.size(),
        })
    }
}

/// Matrix product `c = a·b`.
///
/// - **Forward:** `c[i, j] = Σₖ a[i, k]·b[k, j]`.
/// - **Backward:** `da = dc·bᵀ` (`[M, N]·[N, K] = [M, K]`), `db = aᵀ·dc` (`[K, M]·[M, N]`).
/// - **Saves:** both inputs `a` and `b`.
/// - **Shapes:** `a: [M, K]`, `b: [K, N]` → `c: [M, N]`. The inner dims must agree: statically
///   by the bound `K: FeaturesAgree<K2>`, and at run time when both are [`crate::Dyn`] (a
///   mismatch is a [`ShapeError::RuntimeDim`]).
pub fn matmul<M: Dim, K: Dim, K2: Dim, N: Dim, E: Element>(
    a: &Tensor<(M, K), E>,
    b: &Tensor<(K2, N), E>,
) -> Result<Tensor<(M, N), E>, ShapeError>
where
    K: FeaturesAgree<K2>,
{
    let (m, _) = a.shape();
    let (_, n) = b.shape();
    let mut c = Tensor::zeros((m, n));
    matmul_into(a, b, &mut c)?;
    Ok(c)
}

/// [`matmul`] writing into `c` (resized if needed).
pub fn matmul_into<M: Dim, K: Dim, K2: Dim, N: Dim, E: Element>(
    a: &Tensor<(M, K), E>,
    b: &Tensor<(K2, N), E>,
    c: &mut Tensor<(M, N), E>,
) -> Result<(), ShapeError>
where
    K: FeaturesAgree<K2>,
{
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    check_rows("matmul inner dims", k, k2)?;
    c.resize_to((m, n));
    let (m, k, n) = (m.size(), k.size(), n.size());
    gemm(
        MatRef::row_major(a.as_slice(), m, k),
        MatRef::row_major(b.as_slice(), k, n),
        MatMut::row_major(c.as_slice_mut(), m, n),
        false,
    );
    Ok(())
}

/// Backward of [`matmul`]: returns `(da, db) = (dc·bᵀ, aᵀ·dc)`.
pub fn matmul_backward<M: Dim, K: Dim, N: Dim, E: Element>(
    a: &Tensor<(M, K), E>,
    b: &Tensor<(K, N), E>,
    dc: &Tensor<(M, N), E>,
) -> Result<(Tensor<(M, K), E>, Tensor<(K, N), E>), ShapeError> {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    let (m2, n2) = dc.shape();
    check_rows("matmul inner dims", k, k2)?;
    check_rows("matmul rows of a and dc", m, m2)?;
    check_rows("matmul columns of b and dc", n, n2)?;
    let mut da = Tensor::zeros((m, k));
    let mut db = Tensor::zeros((k, n));
    let (m, k, n) = (m.size(), k.size(), n.size());
    let (a, b, dc) = (
        MatRef::row_major(a.as_slice(), m, k),
        MatRef::row_major(b.as_slice(), k, n),
        MatRef::row_major(dc.as_slice(), m, n),
    );
    gemm(dc, b.t(), MatMut::row_major(da.as_slice_mut(), m, k), false);
    gemm(a.t(), dc, MatMut::row_major(db.as_slice_mut(), k, n), false);
    Ok((da, db))
}

/// The linear map of a fully connected layer, `y = x·Wᵀ + b`, as PyTorch's `F.linear`.
///
/// - **Forward:** `y[n, o] = Σᵢ x[n, i]·W[o, i] + b[o]` — every row (sample) of `x` is mapped
///   by the same weights, and `b` is broadcast over the rows.
/// - **Backward:** `dx = dy·W` (`[B, O]·[O, I]`), `dW = dyᵀ·x` (`[O, B]·[B, I]`),
///   `db = Σₙ dy[n, :]` (sum over the batch, the axis `b` was broadcast along).
///   `W` is `[out, in]`, so the transposes fall where the row-vector convention puts them.
/// - **Saves:** the input `x` (for `dW`); `W` is the layer's own.
/// - **Shapes:** `x: [B, I]`, `W: [O, I]`, `b: [O]` → `y: [B, O]`.
pub fn linear<B: Dim, I: Dim, I2: Dim, O: Dim, E: Element>(
    x: &Tensor<(B, I), E>,
    weight: &Tensor<(O, I2), E>,
    bias: Option<&Tensor<(O,), E>>,
) -> Result<Tensor<(B, O), E>, ShapeError>
where
    I: FeaturesAgree<I2>,
{
    let (b, _) = x.shape();
    let (o, _) = weight.shape();
    let mut y = Tensor::zeros((b, o));
    linear_into(x, weight, bias, &mut y)?;
    Ok(y)
}

/// [`linear`] writing into `y` (resized if needed).
pub fn linear_into<B: Dim, I: Dim, I2: Dim, O: Dim, E: Element>(
    x: &Tensor<(B, I), E>,
    weight: &Tensor<(O, I2), E>,
    bias: Option<&Tensor<(O,), E>>,
    y: &mut Tensor<(B, O), E>,
) -> Result<(), ShapeError>
where
    I: FeaturesAgree<I2>,
{
    let (b, i) = x.shape();
    let (o, i2) = weight.shape();
    check_rows("linear input features", i, i2)?;
    y.resize_to((b, o));
    if let Some(bias) = bias {
        check_rows("linear bias size", o, bias.shape().0)?;
    }
    let (b, i, o) = (b.size(), i.size(), o.size());
    gemm(
        MatRef::row_major(x.as_slice(), b, i),
        MatRef::row_major(weight.as_slice(), o, i).t(),
        MatMut::row_major(y.as_slice_mut(), b, o),
        false,
    );
    if let Some(bias) = bias {
        // Then add the bias to every row: a vectorised pass over `y` (cheaper for narrow
        // layers than copying the bias into each row first and letting the product add on top).
        let bias = bias.as_slice();
        if !bias.is_empty() {
            for row in y.as_slice_mut().chunks_exact_mut(bias.len()) {
                for (v, &b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
    }
    Ok(())
}

/// Backward of [`linear`] for the parameters: **accumulates** `dW += dyᵀ·x` and `db += Σₙ dy`
/// (accumulating lets a layer applied twice sum its gradients, as PyTorch does).
pub fn linear_backward_params<BX: Dim, BY: Dim, I: Dim, O: Dim, E: Element>(
    x: &Tensor<(BX, I), E>,
    dy: &Tensor<(BY, O), E>,
    d_weight: &mut Tensor<(O, I), E>,
    d_bias: Option<&mut Tensor<(O,), E>>,
) -> Result<(), ShapeError> {
    check_rows("linear batch of x and dy", x.shape().0, dy.shape().0)?;
    if let Some(db) = &d_bias {
        check_rows("linear bias gradient size", db.shape().0, dy.shape().1)?;
    }
    let (b, i) = x.shape();
    let (b, i, o) = (b.size(), i.size(), dy.shape().1.size());
    let (o2, i2) = d_weight.shape();
    check_rows("linear weight gradient rows", o2, dy.shape().1)?;
    check_rows("linear weight gradient columns", i2, x.shape().1)?;
    gemm(
        MatRef::row_major(dy.as_slice(), b, o).t(),
        MatRef::row_major(x.as_slice(), b, i),
        MatMut::row_major(d_weight.as_slice_mut(), o, i),
        true,
    );
    if let Some(db) = d_bias {
        let (dy, db) = (dy.as_slice(), db.as_slice_mut());
        match db.len() {
            0 => {}
            // Narrow layers: the column sums stay in registers, then are added once (instead
            // of a chain of loads and stores through `db` for every row).
            1 => add_column_sums::<1, E>(dy, db),
            2 => add_column_sums::<2, E>(dy, db),
            3 => add_column_sums::<3, E>(dy, db),
            4 => add_column_sums::<4, E>(dy, db),
            5 => add_column_sums::<5, E>(dy, db),
            6 => add_column_sums::<6, E>(dy, db),
            7 => add_column_sums::<7, E>(dy, db),
            8 => add_column_sums::<8, E>(dy, db),
            // Wider: row by row into `db` (vectorised across the features).
            width => {
                for row in dy.chunks_exact(width) {
                    for (g, &d) in db.iter_mut().zip(row) {
                        *g += d;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `db += Σ_rows dy` for `W` features, with the `W` running sums in registers.
fn add_column_sums<const W: usize, E: Element>(dy: &[E], db: &mut [E]) {
    let mut sums = [E::zero(); W];
    let (rows, _) = dy.as_chunks::<W>();
    for row in rows {
        for (s, &d) in sums.iter_mut().zip(row) {
            *s += d;
        }
    }
    for (g, s) in db.iter_mut().zip(sums) {
        *g += s;
    }
}

/// Backward of [`linear`] for the input: `dx = dy·W`.
pub fn linear_backward_input<B: Dim, I: Dim, O: Dim, E: Element>(
    weight: &Tensor<(O, I), E>,
    dy: &Tensor<(B, O), E>,
) -> Tensor<(B, I), E> {
    let (b, _) = dy.shape();
    let (_, i) = weight.shape();
    let mut dx = Tensor::zeros((b, i));
    linear_backward_input_into(weight, dy, &mut dx);
    dx
}

/// [`linear_backward_input`] writing into `dx` (resized if needed).
pub fn linear_backward_input_into<B: Dim, I: Dim, O: Dim, E: Element>(
    weight: &Tensor<(O, I), E>,
    dy: &Tensor<(B, O), E>,
    dx: &mut Tensor<(B, I), E>,
) {
    let (b, _) = dy.shape();
    let (_, i) = weight.shape();
    dx.resize_to((b, i));
    let (o, _) = weight.shape();
    let (b, i, o) = (b.size(), i.size(), o.size());
    gemm(
        MatRef::row_major(dy.as_slice(), b, o),
        MatRef::row_major(weight.as_slice(), o, i),
        MatMut::row_major(dx.as_slice_mut(), b, i),
        false,
    );
}

// ---- the linear map on the last axis of a sequence ------------------------------------------

/// The linear map of a fully connected layer applied at every position of a sequence,
/// `y[b, t, :] = W·x[b, t, :] + bias` — PyTorch's `F.linear` on a `[B, T, I]` input (which maps
/// the last axis and keeps the others).
///
/// - **Forward:** `[B, T, I]` is seen as a `[B·T, I]` matrix (the same row-major data), so
///   this is [`linear`]: `y[n, o] = Σᵢ x[n, i]·W[o, i] + b[o]` for every one of the `B·T`
///   rows, one matrix product.
/// - **Backward:** as [`linear`] over the `B·T` rows: `dx = dy·W`, `dW += dyᵀ·x` (summed over
///   every batch *and* position: the same weights map them all), `db += Σ_{b,t} dy[b, t, :]`.
/// - **Saves:** the input `x` (for `dW`).
/// - **Shapes:** `x: [B, T, I]`, `W: [O, I]`, `b: [O]` → `y: [B, T, O]`.
///
/// # Errors
/// [`ShapeError::RuntimeDim`] when `x`'s features and `W`'s columns, or `W`'s rows and the
/// bias, differ (possible only for runtime dims).
pub fn linear_seq<B: Dim, T: Dim, I: Dim, I2: Dim, O: Dim, E: Element>(
    x: &Tensor<(B, T, I), E>,
    weight: &Tensor<(O, I2), E>,
    bias: Option<&Tensor<(O,), E>>,
) -> Result<Tensor<(B, T, O), E>, ShapeError>
where
    I: FeaturesAgree<I2>,
{
    let (b, t, _) = x.shape();
    let mut y = Tensor::zeros((b, t, weight.shape().0));
    linear_seq_into(x, weight, bias, &mut y)?;
    Ok(y)
}

/// [`linear_seq`] writing into `y` (resized if needed). On error `y` is left untouched.
pub fn linear_seq_into<B: Dim, T: Dim, I: Dim, I2: Dim, O: Dim, E: Element>(
    x: &Tensor<(B, T, I), E>,
    weight: &Tensor<(O, I2), E>,
    bias: Option<&Tensor<(O,), E>>,
    y: &mut Tensor<(B, T, O), E>,
) -> Result<(), ShapeError>
where
    I: FeaturesAgree<I2>,
{
    let (b, t, i) = x.shape();
    let (o, i2) = weight.shape();
    check_rows("linear input features", i, i2)?;
    if let Some(bias) = bias {
        check_rows("linear bias size", o, bias.shape().0)?;
    }
    y.resize_to((b, t, o));
    linear_rows_into(
        x.as_slice(),
        weight.as_slice(),
        bias.map(Tensor::as_slice),
        (b.size() * t.size(), i.size(), o.size()),
        y.as_slice_mut(),
    );
    Ok(())
}

/// Backward of [`linear_seq`] for the parameters: **accumulates** `dW += dyᵀ·x` and
/// `db += Σ_{b,t} dy[b, t, :]` over the `B·T` rows.
///
/// # Errors
/// [`ShapeError::RuntimeDim`] when `x` and `dy` have different batches or lengths, or a
/// gradient's size differs from `x`'s features or `dy`'s outputs.
pub fn linear_seq_backward_params<B: Dim, T: Dim, I: Dim, O: Dim, E: Element>(
    x: &Tensor<(B, T, I), E>,
    dy: &Tensor<(B, T, O), E>,
    dweight: &mut Tensor<(O, I), E>,
    dbias: Option<&mut Tensor<(O,), E>>,
) -> Result<(), ShapeError> {
    let (b, t, i) = x.shape();
    let (b2, t2, o) = dy.shape();
    check_rows("linear batch of x and dy", b, b2)?;
    check_rows("linear sequence length of x and dy", t, t2)?;
    let (o2, i2) = dweight.shape();
    check_rows("linear weight gradient rows", o2, o)?;
    check_rows("linear weight gradient columns", i2, i)?;
    if let Some(db) = &dbias {
        check_rows("linear bias gradient size", db.shape().0, o)?;
    }
    linear_rows_backward_params(
        x.as_slice(),
        dy.as_slice(),
        (b.size() * t.size(), i.size(), o.size()),
        dweight.as_slice_mut(),
        dbias.map(Tensor::as_slice_mut),
    );
    Ok(())
}

/// Backward of [`linear_seq`] for the input: `dx = dy·W`, written into `dx` (resized to
/// `[B, T, I]`).
///
/// `W`'s rows and `dy`'s outputs are the same dim `O` by the types; when `O` is a runtime
/// dim the caller must pass a `dy` of `W`'s output size (as for [`linear_backward_input_into`]).
pub fn linear_seq_backward_input_into<B: Dim, T: Dim, I: Dim, O: Dim, E: Element>(
    weight: &Tensor<(O, I), E>,
    dy: &Tensor<(B, T, O), E>,
    dx: &mut Tensor<(B, T, I), E>,
) {
    let (b, t, _) = dy.shape();
    let (o, i) = weight.shape();
    dx.resize_to((b, t, i));
    linear_rows_backward_input(
        weight.as_slice(),
        dy.as_slice(),
        (b.size() * t.size(), i.size(), o.size()),
        dx.as_slice_mut(),
    );
}

/// `(rows, in, out)`: the sizes of a linear map over row-major buffers.
pub(crate) type RowsInOut = (usize, usize, usize);

/// `y = x·Wᵀ + b` on row-major buffers of checked sizes: `x: [rows, i]`, `W: [o, i]`,
/// `y: [rows, o]`.
pub(crate) fn linear_rows_into<E: Element>(
    x: &[E],
    weight: &[E],
    bias: Option<&[E]>,
    (rows, i, o): RowsInOut,
    y: &mut [E],
) {
    gemm(
        MatRef::row_major(x, rows, i),
        MatRef::row_major(weight, o, i).t(),
        MatMut::row_major(y, rows, o),
        false,
    );
    if let Some(bias) = bias
        && !bias.is_empty()
    {
        for row in y.chunks_exact_mut(bias.len()) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

/// `dW += dyᵀ·x`, `db += Σ_rows dy` on row-major buffers of checked sizes.
pub(crate) fn linear_rows_backward_params<E: Element>(
    x: &[E],
    dy: &[E],
    (rows, i, o): RowsInOut,
    dweight: &mut [E],
    dbias: Option<&mut [E]>,
) {
    gemm(
        MatRef::row_major(dy, rows, o).t(),
        MatRef::row_major(x, rows, i),
        MatMut::row_major(dweight, o, i),
        true,
    );
    if let Some(db) = dbias {
        match db.len() {
            0 => {}
            1 => add_column_sums::<1, E>(dy, db),
            2 => add_column_sums::<2, E>(dy, db),
            3 => add_column_sums::<3, E>(dy, db),
            4 => add_column_sums::<4, E>(dy, db),
            5 => add_column_sums::<5, E>(dy, db),
            6 => add_column_sums::<6, E>(dy, db),
            7 => add_column_sums::<7, E>(dy, db),
            8 => add_column_sums::<8, E>(dy, db),
            width => {
                for row in dy.chunks_exact(width) {
                    for (g, &d) in db.iter_mut().zip(row) {
                        *g += d;
                    }
                }
            }
        }
    }
}

/// `dx = dy·W` on row-major buffers of checked sizes.
pub(crate) fn linear_rows_backward_input<E: Element>(
    weight: &[E],
    dy: &[E],
    (rows, i, o): RowsInOut,
    dx: &mut [E],
) {
    gemm(
        MatRef::row_major(dy, rows, o),
        MatRef::row_major(weight, o, i),
        MatMut::row_major(dx, rows, i),
        false,
    );
}
