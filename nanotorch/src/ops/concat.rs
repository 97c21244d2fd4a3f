//! Concatenation of two batches along the feature (last) axis, and its backward, the split.

use ndarray::{Axis, Slice};

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{Dim, DimAdd, StaticDim, Sum};
use crate::tensor::Tensor;

/// Joins the features of two batches side by side, as `torch.cat([a, b], dim=1)`.
///
/// - **Forward:** `y[n, :] = [a[n, :], b[n, :]]` — the first `A` columns come from `a`, the
///   next `C` from `b`.
/// - **Backward:** the split: `da = dy[:, ..A]`, `db = dy[:, A..]` ([`concat_backward`]).
/// - **Saves:** nothing.
/// - **Shapes:** `a: [B, A]`, `b: [B, C]` → `y: [B, A + C]`, the sum computed by the compiler.
///   The batches must agree: a runtime mismatch is a [`ShapeError::RuntimeDim`].
pub fn concat<B: Dim, A: StaticDim + DimAdd<C>, C: StaticDim, E: Element>(
    a: &Tensor<(B, A), E>,
    b: &Tensor<(B, C), E>,
) -> Result<Tensor<(B, Sum<A, C>), E>, ShapeError> {
    let mut y = Tensor::zeros((a.shape().0, Sum::<A, C>::default()));
    concat_into(a, b, &mut y)?;
    Ok(y)
}

/// [`concat`](fn@concat) writing into `out` (resized if needed).
pub fn concat_into<B: Dim, A: StaticDim + DimAdd<C>, C: StaticDim, E: Element>(
    a: &Tensor<(B, A), E>,
    b: &Tensor<(B, C), E>,
    out: &mut Tensor<(B, Sum<A, C>), E>,
) -> Result<(), ShapeError> {
    // `Sum<A, C>` is `A + C` by its type: only the batches can disagree.
    concat_as_into(a, b, out)
}

/// [`concat`](fn@concat) to a width `F` named by the caller instead of added by the compiler:
/// what `network!` writes when it added literal sizes itself, so that concatenation has no
/// size limit there (the type-level sum stops at [`ARITH_LIMIT`](crate::shape::ARITH_LIMIT)).
/// Same forward, backward ([`concat_as_backward_into`]) and saves as [`concat`](fn@concat).
///
/// # Errors
/// [`ShapeError::RuntimeDim`] if the batches differ; [`ShapeError::Shape`] if `F` is not
/// `A + C`.
pub fn concat_as<B: Dim, A: StaticDim, C: StaticDim, F: StaticDim, E: Element>(
    a: &Tensor<(B, A), E>,
    b: &Tensor<(B, C), E>,
) -> Result<Tensor<(B, F), E>, ShapeError> {
    let mut y = Tensor::zeros((a.shape().0, F::default()));
    concat_as_into(a, b, &mut y)?;
    Ok(y)
}

/// `Ok` when `F = A + C`.
fn check_sum<A: StaticDim, C: StaticDim, F: StaticDim>() -> Result<(), ShapeError> {
    if A::SIZE + C::SIZE == F::SIZE {
        Ok(())
    } else {
        Err(ShapeError::Shape {
            expected: format!("[_, {}] ({} + {})", A::SIZE + C::SIZE, A::SIZE, C::SIZE),
            found: format!("[_, {}]", F::SIZE),
        })
    }
}

/// [`concat_as`] writing into `out` (resized if needed); `out` is untouched on error.
pub fn concat_as_into<B: Dim, A: StaticDim, C: StaticDim, F: StaticDim, E: Element>(
    a: &Tensor<(B, A), E>,
    b: &Tensor<(B, C), E>,
    out: &mut Tensor<(B, F), E>,
) -> Result<(), ShapeError> {
    check_sum::<A, C, F>()?;
    let (rows_a, _) = a.shape();
    let (rows_b, _) = b.shape();
    if rows_a.size() != rows_b.size() {
        return Err(ShapeError::RuntimeDim {
            what: "concat batch of a and b",
            left: rows_a.size(),
            right: rows_b.size(),
        });
    }
    out.resize_to((rows_a, F::default()));
    let data = out.data_mut();
    data.slice_axis_mut(Axis(1), Slice::from(..A::SIZE))
        .assign(a.data());
    data.slice_axis_mut(Axis(1), Slice::from(A::SIZE..))
        .assign(b.data());
    Ok(())
}

/// Backward of [`concat`](fn@concat): splits `dy` into `(da, db) = (dy[:, ..A], dy[:, A..])`.
pub fn concat_backward<B: Dim, A: StaticDim + DimAdd<C>, C: StaticDim, E: Element>(
    dy: &Tensor<(B, Sum<A, C>), E>,
) -> (Tensor<(B, A), E>, Tensor<(B, C), E>) {
    let (rows, _) = dy.shape();
    let mut da = Tensor::zeros((rows, A::default()));
    let mut db = Tensor::zeros((rows, C::default()));
    da.data_mut()
        .assign(&dy.data().slice_axis(Axis(1), Slice::from(..A::SIZE)));
    db.data_mut()
        .assign(&dy.data().slice_axis(Axis(1), Slice::from(A::SIZE..)));
    (da, db)
}

/// [`concat_backward`] writing the halves into `da` and `db` (resized if needed), so a
/// training step reuses their memory.
pub fn concat_backward_into<B: Dim, A: StaticDim + DimAdd<C>, C: StaticDim, E: Element>(
    dy: &Tensor<(B, Sum<A, C>), E>,
    da: &mut Tensor<(B, A), E>,
    db: &mut Tensor<(B, C), E>,
) {
    split_into(dy, da, db);
}

/// Backward of [`concat_as`]: the split of [`concat_backward_into`], for a width `F` named by
/// the caller. Errors as [`concat_as`] (width only; `da` and `db` take `dy`'s batch).
pub fn concat_as_backward_into<B: Dim, A: StaticDim, C: StaticDim, F: StaticDim, E: Element>(
    dy: &Tensor<(B, F), E>,
    da: &mut Tensor<(B, A), E>,
    db: &mut Tensor<(B, C), E>,
) -> Result<(), ShapeError> {
    check_sum::<A, C, F>()?;
    split_into(dy, da, db);
    Ok(())
}

/// `da = dy[:, ..A]`, `db = dy[:, A..]`; the caller has checked that `F = A + C`.
fn split_into<B: Dim, A: StaticDim, C: StaticDim, F: StaticDim, E: Element>(
    dy: &Tensor<(B, F), E>,
    da: &mut Tensor<(B, A), E>,
    db: &mut Tensor<(B, C), E>,
) {
    let (rows, _) = dy.shape();
    da.resize_to((rows, A::default()));
    db.resize_to((rows, C::default()));
    da.data_mut()
        .assign(&dy.data().slice_axis(Axis(1), Slice::from(..A::SIZE)));
    db.data_mut()
        .assign(&dy.data().slice_axis(Axis(1), Slice::from(A::SIZE..)));
}
