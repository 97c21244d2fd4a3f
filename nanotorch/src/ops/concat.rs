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
    let (rows_a, _) = a.shape();
    let (rows_b, _) = b.shape();
    if rows_a.size() != rows_b.size() {
        return Err(ShapeError::RuntimeDim {
            what: "concat batch of a and b",
            left: rows_a.size(),
            right: rows_b.size(),
        });
    }
    out.resize_to((rows_a, Sum::<A, C>::default()));
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
    let (rows, _) = dy.shape();
    da.resize_to((rows, A::default()));
    db.resize_to((rows, C::default()));
    da.data_mut()
        .assign(&dy.data().slice_axis(Axis(1), Slice::from(..A::SIZE)));
    db.data_mut()
        .assign(&dy.data().slice_axis(Axis(1), Slice::from(A::SIZE..)));
}
