//! Embeddings: [`embedding`], the table lookup that turns token ids into vectors (PyTorch's
//! `F.embedding`), and [`add_positions`], which adds a learned vector per position (minGPT's
//! `tok_emb + pos_emb`), each with its backward.
//!
//! A lookup is a matrix product in disguise: `embedding(ids, W)` is `onehot(ids)·W`, a
//! `[B·T, V]` matrix of one-hot rows times the `[V, C]` table. Nobody builds the one-hot
//! matrix: the forward copies row `W[id]` for every id, and the backward — `dW = onehotᵀ·dy`
//! — adds each row of `dy` onto the row of the table it came from (a *scatter-add*).

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{Dim, Dyn, StaticDim, fmt_dims};
use crate::tensor::Tensor;
use crate::tokens::Tokens;

/// Looks token ids up in a table of vectors, as PyTorch's `F.embedding(ids, weight)`.
///
/// - **Forward:** `y[b, t, :] = weight[ids[b, t], :]` — row `ids[b, t]` of the table, copied.
/// - **Backward** ([`embedding_backward`]): the ids are integers and have no gradient; the
///   table's is `dweight[v, :] += Σ_{(b, t) : ids[b, t] = v} dy[b, t, :]` — every row of `dy`
///   is added onto the row of the table it was read from, so a token that occurs several
///   times in the batch collects the sum of their gradients, and a token that does not occur
///   gets nothing.
/// - **Saves:** the ids (the backward needs to know where to add).
/// - **Shapes:** `tokens: [B, T]` with ids in `0..V`, `weight: [V, C]` → `y: [B, T, C]`.
///
/// It cannot fail: [`Tokens`] checked every id against `V` when it was built, and the table
/// has `V` rows by its type.
pub fn embedding<T: StaticDim, V: StaticDim, C: Dim, E: Element>(
    tokens: &Tokens<T, V>,
    weight: &Tensor<(V, C), E>,
) -> Tensor<(Dyn, T, C), E> {
    let mut y = Tensor::zeros((Dyn(tokens.batch()), T::default(), weight.shape().1));
    embedding_into(tokens, weight, &mut y);
    y
}

/// [`embedding`] writing into `y` (resized if the batch changed).
pub fn embedding_into<T: StaticDim, V: StaticDim, C: Dim, E: Element>(
    tokens: &Tokens<T, V>,
    weight: &Tensor<(V, C), E>,
    y: &mut Tensor<(Dyn, T, C), E>,
) {
    let c = weight.shape().1;
    y.resize_to((Dyn(tokens.batch()), T::default(), c));
    gather_rows(tokens.ids(), weight.as_slice(), c.size(), y.as_slice_mut());
}

/// Backward of [`embedding`]: **adds** every row of `dy` onto the row of `dweight` named by
/// its token id (a scatter-add; the formula is in [`embedding`]).
///
/// # Errors
/// [`ShapeError::Shape`] when `dy` is not `[B, T, C]` for the tokens' batch `B` and the
/// table's width `C`.
pub fn embedding_backward<T: StaticDim, V: StaticDim, C: Dim, E: Element>(
    tokens: &Tokens<T, V>,
    dy: &Tensor<(Dyn, T, C), E>,
    dweight: &mut Tensor<(V, C), E>,
) -> Result<(), ShapeError> {
    let c = dweight.shape().1.size();
    let want = [tokens.batch(), T::SIZE, c];
    if dy.dims() != want {
        return Err(ShapeError::Shape {
            expected: format!(
                "{} (the tokens' batch and the table's width)",
                fmt_dims(&want)
            ),
            found: fmt_dims(dy.dims()),
        });
    }
    scatter_add_rows(tokens.ids(), dy.as_slice(), c, dweight.as_slice_mut());
    Ok(())
}

/// Adds a learned vector per position, as minGPT's `tok_emb + pos_emb` with the position
/// table `wpe = nn.Embedding(T, C)` read at positions `0..T`.
///
/// - **Forward:** `y[b, t, :] = x[b, t, :] + table[t, :]` — the table is broadcast over the
///   batch.
/// - **Backward** ([`add_positions_backward`]): `dx = dy` (an addition passes its gradient
///   through unchanged) and `dtable[t, :] += Σ_b dy[b, t, :]` (summed over the axis the table
///   was broadcast along).
/// - **Saves:** nothing.
/// - **Shapes:** `x, y: [B, T, C]`, `table: [T, C]`.
///
/// # Errors
/// [`ShapeError::Shape`] when the table is not `[T, C]` for `x`'s `T` and `C` (possible only
/// when those dims are runtime dims).
pub fn add_positions<B: Dim, T: Dim, C: Dim, E: Element>(
    x: &Tensor<(B, T, C), E>,
    table: &Tensor<(T, C), E>,
) -> Result<Tensor<(B, T, C), E>, ShapeError> {
    let mut y = Tensor::zeros(x.shape());
    add_positions_into(x, table, &mut y)?;
    Ok(y)
}

/// [`add_positions`] writing into `y` (resized if needed). On error `y` is left untouched.
pub fn add_positions_into<B: Dim, T: Dim, C: Dim, E: Element>(
    x: &Tensor<(B, T, C), E>,
    table: &Tensor<(T, C), E>,
    y: &mut Tensor<(B, T, C), E>,
) -> Result<(), ShapeError> {
    check_table("add_positions", &x.dims()[1..], table.dims())?;
    y.resize_to(x.shape());
    add_table(x.as_slice(), table.as_slice(), y.as_slice_mut());
    Ok(())
}

/// Backward of [`add_positions`] for the table: **adds** `Σ_b dy[b]` into `dtable`. The input
/// gradient is `dy` itself; no copy is made here.
///
/// # Errors
/// [`ShapeError::Shape`] when `dtable` is not `[T, C]` for `dy`'s `T` and `C`.
pub fn add_positions_backward<B: Dim, T: Dim, C: Dim, E: Element>(
    dy: &Tensor<(B, T, C), E>,
    dtable: &mut Tensor<(T, C), E>,
) -> Result<(), ShapeError> {
    check_table("add_positions_backward", &dy.dims()[1..], dtable.dims())?;
    sum_into_table(dy.as_slice(), dtable.as_slice_mut());
    Ok(())
}

fn check_table(what: &str, want: &[usize], table: &[usize]) -> Result<(), ShapeError> {
    if want == table {
        Ok(())
    } else {
        Err(ShapeError::Shape {
            expected: format!(
                "{} (the {what} table: one row per position)",
                fmt_dims(want)
            ),
            found: fmt_dims(table),
        })
    }
}

/// `y[k, :] = table[ids[k], :]` for rows of width `c`; every id must be a row of `table`.
pub(crate) fn gather_rows<E: Element>(ids: &[usize], table: &[E], c: usize, y: &mut [E]) {
    if c == 0 {
        return;
    }
    for (row, &id) in y.chunks_exact_mut(c).zip(ids) {
        row.copy_from_slice(&table[id * c..(id + 1) * c]);
    }
}

/// `dtable[ids[k], :] += dy[k, :]` for rows of width `c`.
pub(crate) fn scatter_add_rows<E: Element>(ids: &[usize], dy: &[E], c: usize, dtable: &mut [E]) {
    if c == 0 {
        return;
    }
    for (row, &id) in dy.chunks_exact(c).zip(ids) {
        for (g, &d) in dtable[id * c..(id + 1) * c].iter_mut().zip(row) {
            *g += d;
        }
    }
}

/// `y[b] = x[b] + table` for every block `b` of `table.len()` values.
pub(crate) fn add_table<E: Element>(x: &[E], table: &[E], y: &mut [E]) {
    if table.is_empty() {
        return;
    }
    for (out, xs) in y
        .chunks_exact_mut(table.len())
        .zip(x.chunks_exact(table.len()))
    {
        for ((o, &v), &p) in out.iter_mut().zip(xs).zip(table) {
            *o = v + p;
        }
    }
}

/// `dtable += Σ_b dy[b]` over the blocks of `dtable.len()` values.
pub(crate) fn sum_into_table<E: Element>(dy: &[E], dtable: &mut [E]) {
    if dtable.is_empty() {
        return;
    }
    for block in dy.chunks_exact(dtable.len()) {
        for (g, &d) in dtable.iter_mut().zip(block) {
            *g += d;
        }
    }
}
