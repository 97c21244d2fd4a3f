//! Reshaping: [`reshape`] to any shape with the same element count (checked at run time), and
//! the typed [`flatten`] that keeps the batch axis and multiplies the others at compile time.
//!
//! Tensors are stored row-major, so both keep the elements in the same order and only change
//! how they are grouped; their backwards reshape `dy` back.

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{Dim, DimMul, Prod, Shape, StaticDim, fmt_dims};
use crate::tensor::Tensor;

/// Regroups the row-major elements of a tensor into `to`, which must hold as many elements.
///
/// - **Forward:** `y` has the elements of `x` in the same row-major order, with `to`'s sizes.
/// - **Backward:** `dx = dy` regrouped into `x`'s shape ([`reshape_backward`]).
/// - **Saves:** only the input's shape.
/// - **Shapes:** `x: S` → `y: S2` with `to.numel() == x.numel()`; otherwise a
///   [`ShapeError::Length`] naming `to`'s sizes, its element count and `x`'s.
pub fn reshape<S: Shape, S2: Shape, E: Element>(
    x: &Tensor<S, E>,
    to: S2,
) -> Result<Tensor<S2, E>, ShapeError> {
    if to.numel() != x.numel() {
        return Err(ShapeError::Length {
            shape: fmt_dims(&to.dims()),
            expected: to.numel(),
            found: x.numel(),
        });
    }
    Tensor::from_shape_vec(to, x.to_vec())
}

/// Backward of [`reshape`]: `dy` regrouped into `shape`, the input's shape (errors as
/// [`reshape`] if the counts differ).
pub fn reshape_backward<S: Shape, S2: Shape, E: Element>(
    shape: S,
    dy: &Tensor<S2, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    reshape(dy, shape)
}

/// Shapes that [`flatten`] can turn into `[B, features]`, keeping the batch axis `B` and
/// multiplying the static dims after it: `(B, D1, D2)` → `(B, Prod<D1, D2>)`,
/// `(B, D1, D2, D3)` → `(B, Prod<Prod<D1, D2>, D3>)`, and `(B, D)` → `(B, D)` (already flat).
/// The element count is kept by the types, so flattening cannot fail.
#[diagnostic::on_unimplemented(
    message = "cannot flatten `{Self}` into `[batch, features]`",
    label = "flatten needs a batch axis followed by 1 to 3 axes of static sizes",
    note = "the batch dim may be `Dyn`; the dims after it must be static, e.g. (Dyn, U1, U28, U28), and their product at most 1024 (`nanotorch::shape::ARITH_LIMIT`)"
)]
pub trait Flatten: Shape {
    /// The flat shape `(B, features)`.
    type Output: Shape;

    /// The flat shape of this shape value.
    fn flatten(&self) -> Self::Output;

    /// The unflattened shape for a flat shape value: the batch comes from `flat`, the other
    /// dims from the type.
    fn unflatten(flat: &Self::Output) -> Self;
}

impl<B: Dim, D: Dim> Flatten for (B, D) {
    type Output = (B, D);
    fn flatten(&self) -> (B, D) {
        *self
    }
    fn unflatten(flat: &(B, D)) -> Self {
        *flat
    }
}

impl<B: Dim, D1: StaticDim + DimMul<D2>, D2: StaticDim> Flatten for (B, D1, D2) {
    type Output = (B, Prod<D1, D2>);
    fn flatten(&self) -> Self::Output {
        (self.0, Default::default())
    }
    fn unflatten(flat: &Self::Output) -> Self {
        (flat.0, D1::default(), D2::default())
    }
}

impl<B: Dim, D1: StaticDim + DimMul<D2>, D2: StaticDim, D3: StaticDim> Flatten for (B, D1, D2, D3)
where
    Prod<D1, D2>: DimMul<D3>,
{
    type Output = (B, Prod<Prod<D1, D2>, D3>);
    fn flatten(&self) -> Self::Output {
        (self.0, Default::default())
    }
    fn unflatten(flat: &Self::Output) -> Self {
        (flat.0, D1::default(), D2::default(), D3::default())
    }
}

/// Flattens every sample of a batch into one row, as PyTorch's `nn.Flatten()` (start_dim 1):
/// `[B, C, H, W]` → `[B, C·H·W]`.
///
/// - **Forward:** `y[n, :]` is sample `n`'s elements in row-major order.
/// - **Backward:** `dx = dy` regrouped into the input's shape ([`flatten_backward`]).
/// - **Saves:** nothing (the static dims are in the type, the batch comes with `dy`).
/// - **Shapes:** `x: S` → `y: S::Output` (see [`Flatten`]); the product of the static dims is
///   computed by the compiler, so the next layer's input size is checked against it.
pub fn flatten<S: Flatten, E: Element>(x: &Tensor<S, E>) -> Tensor<S::Output, E> {
    let mut y = Tensor::zeros(x.shape().flatten());
    flatten_into(x, &mut y);
    y
}

/// [`flatten`] writing into `y` (resized if needed). Row-major data is already in flattened
/// order, so this is one copy.
pub fn flatten_into<S: Flatten, E: Element>(x: &Tensor<S, E>, y: &mut Tensor<S::Output, E>) {
    y.resize_to(x.shape().flatten());
    y.as_slice_mut().copy_from_slice(x.as_slice());
}

/// Backward of [`flatten`]: `dy` regrouped into the input's shape. The batch size is taken
/// from `dy`, the other dims from the type; `shape` (the input's shape) is taken for symmetry
/// with the other backwards and needs to agree only in type.
pub fn flatten_backward<S: Flatten, E: Element>(
    shape: S,
    dy: &Tensor<S::Output, E>,
) -> Tensor<S, E> {
    let _ = shape;
    let mut dx = Tensor::zeros(S::unflatten(&dy.shape()));
    flatten_backward_into(dy, &mut dx);
    dx
}

/// [`flatten_backward`] writing into `dx` (resized if needed; its batch size is `dy`'s).
pub fn flatten_backward_into<S: Flatten, E: Element>(
    dy: &Tensor<S::Output, E>,
    dx: &mut Tensor<S, E>,
) {
    dx.resize_to(S::unflatten(&dy.shape()));
    dx.as_slice_mut().copy_from_slice(dy.as_slice());
}

/// Shapes `(B, …)` of rank 2 to 4 whose dims after the batch `B` are static: what
/// [`flatten_as`] takes. Unlike [`Flatten`] it computes no product in types, so it has no size
/// limit; the product is checked when the flat width is named.
pub trait BatchFirst: Shape {
    /// The batch dim.
    type Batch: Dim;
    /// Elements per sample: the product of the static dims after the batch.
    const PER_SAMPLE: usize;
    /// The batch dim of a shape value.
    fn batch(&self) -> Self::Batch;
    /// The shape with this batch (the other dims come from the type).
    fn with_batch(batch: Self::Batch) -> Self;
}
impl<B: Dim, D: StaticDim> BatchFirst for (B, D) {
    type Batch = B;
    const PER_SAMPLE: usize = D::SIZE;
    fn batch(&self) -> B {
        self.0
    }
    fn with_batch(batch: B) -> Self {
        (batch, D::default())
    }
}
impl<B: Dim, D1: StaticDim, D2: StaticDim> BatchFirst for (B, D1, D2) {
    type Batch = B;
    const PER_SAMPLE: usize = D1::SIZE * D2::SIZE;
    fn batch(&self) -> B {
        self.0
    }
    fn with_batch(batch: B) -> Self {
        (batch, D1::default(), D2::default())
    }
}
impl<B: Dim, D1: StaticDim, D2: StaticDim, D3: StaticDim> BatchFirst for (B, D1, D2, D3) {
    type Batch = B;
    const PER_SAMPLE: usize = D1::SIZE * D2::SIZE * D3::SIZE;
    fn batch(&self) -> B {
        self.0
    }
    fn with_batch(batch: B) -> Self {
        (batch, D1::default(), D2::default(), D3::default())
    }
}

/// `Ok` when `F` is the number of elements per sample of `S`.
fn check_flat_width<S: BatchFirst, F: StaticDim>() -> Result<(), ShapeError> {
    if S::PER_SAMPLE == F::SIZE {
        Ok(())
    } else {
        Err(ShapeError::Shape {
            expected: format!("[_, {}] (the flattened sample)", S::PER_SAMPLE),
            found: format!("[_, {}]", F::SIZE),
        })
    }
}

/// [`flatten`] to a flat width `F` named by the caller instead of multiplied by the compiler:
/// what `network!` writes when it multiplied literal sizes itself, so that flattening has no
/// size limit there (the type-level product stops at
/// [`ARITH_LIMIT`](crate::shape::ARITH_LIMIT)). Same forward, backward
/// ([`flatten_as_backward_into`]) and saves as [`flatten`].
///
/// # Errors
/// [`ShapeError::Shape`] if `F` is not the product of the dims after the batch.
pub fn flatten_as<S: BatchFirst, F: StaticDim, E: Element>(
    x: &Tensor<S, E>,
) -> Result<Tensor<(S::Batch, F), E>, ShapeError> {
    let mut y = Tensor::zeros((x.shape().batch(), F::default()));
    flatten_as_into(x, &mut y)?;
    Ok(y)
}

/// [`flatten_as`] writing into `y` (resized if needed); `y` is untouched on error.
pub fn flatten_as_into<S: BatchFirst, F: StaticDim, E: Element>(
    x: &Tensor<S, E>,
    y: &mut Tensor<(S::Batch, F), E>,
) -> Result<(), ShapeError> {
    check_flat_width::<S, F>()?;
    y.resize_to((x.shape().batch(), F::default()));
    y.as_slice_mut().copy_from_slice(x.as_slice());
    Ok(())
}

/// Backward of [`flatten_as`]: `dy` regrouped into `dx`'s shape (resized if needed; its batch
/// size is `dy`'s). Errors as [`flatten_as`].
pub fn flatten_as_backward_into<S: BatchFirst, F: StaticDim, E: Element>(
    dy: &Tensor<(S::Batch, F), E>,
    dx: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    check_flat_width::<S, F>()?;
    dx.resize_to(S::with_batch(dy.shape().0));
    dx.as_slice_mut().copy_from_slice(dy.as_slice());
    Ok(())
}
