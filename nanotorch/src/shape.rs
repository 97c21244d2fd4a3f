//! Shapes as types.
//!
//! A *dim* is either a static size — [`Const<N>`](Const), e.g. `Const<3>`, known to the
//! compiler — or a [`Dyn`], a size known only at run time (typically the batch). A *shape* is a
//! tuple of dims of rank 0 to 4: `()`, `(U10,)`, `(Dyn, U784)`, `(Dyn, U1, U28, U28)`. The
//! names `U0` … `U1024` are aliases: `U784` *is* `Const<784>`; for larger sizes write
//! `Const<3136>` or `U![3136]`.
//!
//! Because static sizes are types, "the inner dims of a matrix product agree" is a trait bound
//! that the compiler checks, and a mistake is a compile error. A static size is a const generic
//! so that the compiler prints it as the number it is: a mismatch reads
//! ``expected `4`, found `5` ``, with `Const<4>` and `Const<5>` in the full types of its notes.
//! The traits that express agreement
//! ([`DimsAgree`], [`FeaturesAgree`]) carry `#[diagnostic::on_unimplemented]` messages that say
//! in words which dims had to agree.
//!
//! ## Size arithmetic
//!
//! Stable Rust cannot compute `Const<{A * B}>` from two const generics, yet [`flatten`]
//! multiplies sizes and [`concat`] adds them. [`Prod`], [`Sum`] and [`ConvOut`] do that
//! arithmetic with [`typenum`]'s type-level binary numbers behind the surface and turn the
//! result back into a `Const`, through a table that reaches [`ARITH_LIMIT`]. Inside `network!`
//! sizes written as numbers are multiplied by the macro, so there the limit does not apply.
//!
//! [`flatten`]: crate::ops::flatten()
//! [`concat`]: crate::ops::concat()

mod arith;

use std::fmt::{self, Debug};

use ndarray::{Dimension, Ix0, Ix1, Ix2, Ix3, Ix4};

use crate::element::Element;
use crate::error::ShapeError;
use crate::tensor::Tensor;

pub use arith::{
    ARITH_LIMIT, ConvOut, ConvWindow, Dilated, DilatedKernel, DimAdd, DimMul, FromTypenum, Prod,
    Sum, ToTypenum,
};

/// One dimension of a shape: a static size ([`Const`]) or a runtime size ([`Dyn`]).
pub trait Dim: Copy + Debug + Eq + Send + Sync + 'static {
    /// `Some(n)` when the size is part of the type; `None` for a runtime dim.
    const STATIC: Option<usize>;

    /// The size of this dim.
    fn size(self) -> usize;

    /// Builds the dim for a runtime size, or `None` if the type fixes a different size.
    fn from_size(n: usize) -> Option<Self>;
}

/// A size known only at run time, e.g. the batch: `Tensor<(Dyn, U3)>` holds any number of rows
/// of 3 features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dyn(pub usize);

impl Dim for Dyn {
    const STATIC: Option<usize> = None;
    fn size(self) -> usize {
        self.0
    }
    fn from_size(n: usize) -> Option<Self> {
        Some(Dyn(n))
    }
}

/// A static size: `Const<784>` is a dim of 784. Its value is `Const` (`Const::<784>` or
/// `Default::default()`). `U784` is the same type, spelled shorter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Const<const N: usize>;

impl<const N: usize> Dim for Const<N> {
    const STATIC: Option<usize> = Some(N);
    fn size(self) -> usize {
        N
    }
    fn from_size(n: usize) -> Option<Self> {
        (n == N).then_some(Const)
    }
}

/// A dim whose size is part of its type. Layer sizes are static dims.
pub trait StaticDim: Dim + Default {
    /// The size.
    const SIZE: usize;
}
impl<const N: usize> StaticDim for Const<N> {
    const SIZE: usize = N;
}

// `U0` … `U1024` (aliases of `Const<N>`) and the typenum-to-`Const` table of `arith`; the
// number is `ARITH_LIMIT` (a proc macro takes a literal, not the constant).
nanotorch_macros::__size_table!(1024);

/// "These two dims must be the same size." Implemented for every dim with itself: identical
/// static dims, and two runtime dims (whose sizes are checked when the data arrives).
///
/// Its methods are the identity with a new type: generated code uses them to view a value whose
/// size is written as an alias or generic with the size another value needs, so the compiler's
/// one check of this bound is the only error a mismatch produces.
#[diagnostic::on_unimplemented(
    message = "dimension mismatch: `{Self}` must equal `{Rhs}`",
    label = "these dims must agree"
)]
pub trait DimsAgree<Rhs: Dim>: Dim {
    /// A `[B, Self]` tensor seen as `[B, Rhs]` (the same tensor: the sizes are equal).
    fn rows_as<B: Dim, E: Element>(t: &Tensor<(B, Self), E>) -> &Tensor<(B, Rhs), E>;
    /// [`DimsAgree::rows_as`] for a gradient destination, seen the other way round.
    fn rows_as_mut<B: Dim, E: Element>(t: &mut Tensor<(B, Self), E>) -> &mut Tensor<(B, Rhs), E>;
}
// One reflexive impl for every dim (static or runtime, whose sizes are compared when the data
// arrives): with no impl for a concrete type, rustc lists no misleading "implemented for" help.
impl<D: Dim> DimsAgree<D> for D {
    fn rows_as<B: Dim, E: Element>(t: &Tensor<(B, D), E>) -> &Tensor<(B, D), E> {
        t
    }
    fn rows_as_mut<B: Dim, E: Element>(t: &mut Tensor<(B, D), E>) -> &mut Tensor<(B, D), E> {
        t
    }
}

/// "The features a value has must be the features the layer takes." Used on the input side of
/// layers and matrix products, so the message can say which side is which.
///
/// Like [`DimsAgree`], its methods view a value with the layer's input type, so that a
/// mismatch at a nested network's input is this one error and nothing downstream.
#[diagnostic::on_unimplemented(
    message = "feature mismatch: the layer expects `{Rhs}` input features, but the value has `{Self}`",
    label = "the value's feature count (last dim) does not match the layer's input size"
)]
pub trait FeaturesAgree<Rhs: Dim>: Dim {
    /// A `[B, Self]` tensor seen as `[B, Rhs]` (the same tensor: the sizes are equal).
    fn features_as<B: Dim, E: Element>(t: &Tensor<(B, Self), E>) -> &Tensor<(B, Rhs), E>;
    /// [`FeaturesAgree::features_as`] for a gradient destination.
    fn features_as_mut<B: Dim, E: Element>(
        t: &mut Tensor<(B, Self), E>,
    ) -> &mut Tensor<(B, Rhs), E>;
}
impl<D: Dim> FeaturesAgree<D> for D {
    fn features_as<B: Dim, E: Element>(t: &Tensor<(B, D), E>) -> &Tensor<(B, D), E> {
        t
    }
    fn features_as_mut<B: Dim, E: Element>(t: &mut Tensor<(B, D), E>) -> &mut Tensor<(B, D), E> {
        t
    }
}

/// A tuple of dims: the shape of a tensor, rank 0 to 4.
pub trait Shape: Copy + Debug + Eq + Send + Sync + 'static {
    /// Number of axes.
    const RANK: usize;
    /// The matching `ndarray` dimension type (`Ix2` for rank 2, ...).
    type Ix: Dimension;

    /// The sizes as an `ndarray` dimension.
    fn ix(&self) -> Self::Ix;

    /// Builds the shape from runtime sizes, checking every static dim.
    fn from_dims(dims: &[usize]) -> Result<Self, ShapeError>;

    /// The static size of each axis, `None` for runtime dims; used in messages like `[_, 3]`.
    fn pattern() -> Vec<Option<usize>>;

    /// Total number of elements.
    fn numel(&self) -> usize {
        self.ix().size()
    }

    /// The sizes as a slice-friendly vector (for messages and checkpoints).
    fn dims(&self) -> Vec<usize> {
        self.ix().slice().to_vec()
    }
}

/// Formats sizes like PyTorch's `torch.Size`: `[50, 3]`.
pub(crate) fn fmt_dims(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

/// Formats a shape's type pattern: `[_, 3]` for `(Dyn, U3)`.
pub(crate) fn fmt_pattern(pattern: &[Option<usize>]) -> String {
    let inner: Vec<String> = pattern
        .iter()
        .map(|d| d.map_or_else(|| "_".to_string(), |n| n.to_string()))
        .collect();
    format!("[{}]", inner.join(", "))
}

fn mismatch<S: Shape>(dims: &[usize]) -> ShapeError {
    ShapeError::Shape {
        expected: fmt_pattern(&S::pattern()),
        found: fmt_dims(dims),
    }
}

impl Shape for () {
    const RANK: usize = 0;
    type Ix = Ix0;
    fn ix(&self) -> Ix0 {
        ndarray::Dim(())
    }
    fn from_dims(dims: &[usize]) -> Result<Self, ShapeError> {
        if dims.is_empty() {
            Ok(())
        } else {
            Err(mismatch::<Self>(dims))
        }
    }
    fn pattern() -> Vec<Option<usize>> {
        Vec::new()
    }
}

macro_rules! impl_shape {
    ($rank:literal, $ix:ident, $($d:ident $i:tt),+) => {
        impl<$($d: Dim),+> Shape for ($($d,)+) {
            const RANK: usize = $rank;
            type Ix = $ix;
            fn ix(&self) -> $ix {
                ndarray::Dim([$(self.$i.size()),+])
            }
            fn from_dims(dims: &[usize]) -> Result<Self, ShapeError> {
                if dims.len() != $rank {
                    return Err(mismatch::<Self>(dims));
                }
                Ok(($($d::from_size(dims[$i]).ok_or_else(|| mismatch::<Self>(dims))?,)+))
            }
            fn pattern() -> Vec<Option<usize>> {
                vec![$($d::STATIC),+]
            }
        }
    };
}
impl_shape!(1, Ix1, D0 0);
impl_shape!(2, Ix2, D0 0, D1 1);
impl_shape!(3, Ix3, D0 0, D1 1, D2 2);
impl_shape!(4, Ix4, D0 0, D1 1, D2 2, D3 3);

/// A shape whose dims are all static: its element count is a type too.
pub trait ConstShape: Shape + Default {
    /// The number of elements as a static dim.
    type Numel: StaticDim;
}
impl ConstShape for () {
    type Numel = U1;
}
impl<A: StaticDim> ConstShape for (A,) {
    type Numel = A;
}
impl<A: StaticDim + DimMul<B>, B: StaticDim> ConstShape for (A, B) {
    type Numel = Prod<A, B>;
}

/// Shapes with a last axis, the axis that softmax, concat and bias broadcasting act on.
pub trait HasLastAxis: Shape {
    /// The last dim.
    type Last: Dim;
}
impl<A: Dim> HasLastAxis for (A,) {
    type Last = A;
}
impl<A: Dim, B: Dim> HasLastAxis for (A, B) {
    type Last = B;
}
impl<A: Dim, B: Dim, C: Dim> HasLastAxis for (A, B, C) {
    type Last = C;
}
impl<A: Dim, B: Dim, C: Dim, D: Dim> HasLastAxis for (A, B, C, D) {
    type Last = D;
}

/// Removing axis `AX` from a shape (what `sum` and `mean` over one axis produce).
pub trait RemoveAxis<const AX: usize>: Shape {
    /// The shape without that axis.
    type Output: Shape;
    /// Drops the axis from a runtime shape value.
    fn remove(&self) -> Self::Output;
}
macro_rules! impl_remove_axis {
    ($ax:tt; ($($d:ident),+) -> ($($o:ident $oi:tt),*)) => {
        impl<$($d: Dim),+> RemoveAxis<$ax> for ($($d,)+) {
            type Output = ($($o,)*);
            #[allow(clippy::unused_unit)]
            fn remove(&self) -> Self::Output {
                ($(self.$oi,)*)
            }
        }
    };
}
impl_remove_axis!(0; (A) -> ());
impl_remove_axis!(0; (A, B) -> (B 1));
impl_remove_axis!(1; (A, B) -> (A 0));
impl_remove_axis!(0; (A, B, C) -> (B 1, C 2));
impl_remove_axis!(1; (A, B, C) -> (A 0, C 2));
impl_remove_axis!(2; (A, B, C) -> (A 0, B 1));
impl_remove_axis!(0; (A, B, C, D) -> (B 1, C 2, D 3));
impl_remove_axis!(1; (A, B, C, D) -> (A 0, C 2, D 3));
impl_remove_axis!(2; (A, B, C, D) -> (A 0, B 1, D 3));
impl_remove_axis!(3; (A, B, C, D) -> (A 0, B 1, C 2));

/// Formats a shape value as PyTorch prints a size: `[50, 3]`.
pub struct DisplayShape<'a, S: Shape>(pub &'a S);
impl<S: Shape> fmt::Display for DisplayShape<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_dims(self.0.ix().slice()))
    }
}
