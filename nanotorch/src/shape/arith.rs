//! Size arithmetic on static dims: products (flatten), sums (concat) and convolution output
//! sizes, as types.
//!
//! Stable Rust cannot write `Const<{A * B}>` for generic `A` and `B`, but typenum can multiply
//! its binary type-level numbers. So each operation converts its `Const` operands to typenum
//! ([`ToTypenum`]), computes there, and converts the result back ([`FromTypenum`]). Learners
//! only meet the `Const` ends: the binary numbers never reach a signature or an error.

use std::ops::{Add, Div, Mul, Sub};

use typenum::{ToUInt, U, Unsigned};

use super::{Const, StaticDim};

/// The largest size [`Prod`], [`Sum`] and [`ConvOut`] produce (and take). Sizes written as
/// numbers in `network!` are computed by the macro and do not have this limit.
pub const ARITH_LIMIT: usize = 1024;

/// A static dim as typenum's binary number, for the arithmetic below.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be multiplied or added at compile time",
    label = "size arithmetic in types takes static sizes up to 1024",
    note = "in generic code, require the operation itself: `A: DimMul<B>` or `A: DimAdd<B>`",
    note = "inside `network!`, write the sizes as numbers (the macro computes any product); outside, reshape at run time with `nanotorch::ops::reshape`"
)]
pub trait ToTypenum: StaticDim {
    /// The same number in typenum.
    type Typenum: Unsigned;
}
impl<const N: usize> ToTypenum for Const<N>
where
    typenum::Const<N>: ToUInt,
    U<N>: Unsigned,
{
    type Typenum = U<N>;
}

/// The way back from typenum: implemented for typenum's numbers 0 … [`ARITH_LIMIT`], one impl
/// per number (stable Rust has no other way to turn a type-level number into a const generic).
#[diagnostic::on_unimplemented(
    message = "a size computed in types is larger than 1024",
    label = "sizes are multiplied or added at compile time only up to 1024",
    note = "inside `network!`, write the sizes as numbers (the macro computes any product); outside, reshape at run time with `nanotorch::ops::reshape`"
)]
pub trait FromTypenum {
    /// The `Const` of the same size.
    type Dim: StaticDim;
}

/// `Self × Rhs` as a static dim.
#[diagnostic::on_unimplemented(
    message = "cannot multiply the sizes `{Self}` and `{Rhs}` at compile time",
    label = "sizes are multiplied at compile time only up to 1024",
    note = "inside `network!`, write the sizes as numbers (the macro computes any product); outside, reshape at run time with `nanotorch::ops::reshape`"
)]
pub trait DimMul<Rhs: StaticDim>: StaticDim {
    /// The product.
    type Output: StaticDim;
}
// Reported as the operation's own error, in `Const`s: the typenum steps inside would print
// their binary numbers.
#[diagnostic::do_not_recommend]
impl<A: ToTypenum, B: ToTypenum> DimMul<B> for A
where
    A::Typenum: Mul<B::Typenum>,
    typenum::Prod<A::Typenum, B::Typenum>: FromTypenum,
{
    type Output = <typenum::Prod<A::Typenum, B::Typenum> as FromTypenum>::Dim;
}

/// `Self + Rhs` as a static dim.
#[diagnostic::on_unimplemented(
    message = "cannot add the sizes `{Self}` and `{Rhs}` at compile time",
    label = "sizes are added at compile time only up to 1024",
    note = "inside `network!`, write the sizes as numbers (the macro computes any sum); outside, concatenate at run time into a `Dyn`-wide tensor"
)]
pub trait DimAdd<Rhs: StaticDim>: StaticDim {
    /// The sum.
    type Output: StaticDim;
}
// Reported as the operation's own error, in `Const`s: the typenum steps inside would print
// their binary numbers.
#[diagnostic::do_not_recommend]
impl<A: ToTypenum, B: ToTypenum> DimAdd<B> for A
where
    A::Typenum: Add<B::Typenum>,
    typenum::Sum<A::Typenum, B::Typenum>: FromTypenum,
{
    type Output = <typenum::Sum<A::Typenum, B::Typenum> as FromTypenum>::Dim;
}

/// The size of `A × B` as a type: `Prod<U4, U7>` is `Const<28>` (the flattened size of an
/// `[A, B]` block).
pub type Prod<A, B> = <A as DimMul<B>>::Output;

/// The size of `A + B` as a type: `Sum<U3, U4>` is `Const<7>` (the features after
/// concatenating `[_, A]` and `[_, B]`).
pub type Sum<A, B> = <A as DimAdd<B>>::Output;

/// The output size of a convolution or pooling window along one axis,
/// ⌊(input + 2·padding − kernel) / stride⌋ + 1, for `Self` = input.
#[diagnostic::on_unimplemented(
    message = "cannot compute the window output size of `{Self}` (kernel `{K}`, stride `{S}`, padding `{P}`) at compile time",
    label = "the kernel must fit in the padded input, and sizes are computed only up to 1024"
)]
pub trait ConvWindow<K: StaticDim, S: StaticDim, P: StaticDim>: StaticDim {
    /// The output size.
    type Output: StaticDim;
}
/// typenum's spelling of (input + 2·padding − kernel) / stride + 1.
type ConvOutTn<I, K, S, P> = typenum::Sum<
    typenum::Quot<typenum::Diff<typenum::Sum<I, typenum::Prod<P, typenum::U2>>, K>, S>,
    typenum::U1,
>;
// Reported as the operation's own error, in `Const`s: the typenum steps inside would print
// their binary numbers.
#[diagnostic::do_not_recommend]
impl<I: ToTypenum, K: ToTypenum, S: ToTypenum, P: ToTypenum> ConvWindow<K, S, P> for I
where
    P::Typenum: Mul<typenum::U2>,
    I::Typenum: Add<typenum::Prod<P::Typenum, typenum::U2>>,
    typenum::Sum<I::Typenum, typenum::Prod<P::Typenum, typenum::U2>>: Sub<K::Typenum>,
    typenum::Diff<typenum::Sum<I::Typenum, typenum::Prod<P::Typenum, typenum::U2>>, K::Typenum>:
        Div<S::Typenum>,
    typenum::Quot<
        typenum::Diff<typenum::Sum<I::Typenum, typenum::Prod<P::Typenum, typenum::U2>>, K::Typenum>,
        S::Typenum,
    >: Add<typenum::U1>,
    ConvOutTn<I::Typenum, K::Typenum, S::Typenum, P::Typenum>: FromTypenum,
{
    type Output = <ConvOutTn<I::Typenum, K::Typenum, S::Typenum, P::Typenum> as FromTypenum>::Dim;
}

/// The span of a kernel of `Self` taps spaced `D` apart, `D·(Self − 1) + 1`: what a dilated
/// convolution's window covers (`Dilated<U3, U2>` is `Const<5>`).
#[diagnostic::on_unimplemented(
    message = "cannot compute the span of a kernel of `{Self}` taps with dilation `{D}` at compile time",
    label = "the kernel and dilation must be at least 1, and sizes are computed only up to 1024"
)]
pub trait DilatedKernel<D: StaticDim>: StaticDim {
    /// The span.
    type Output: StaticDim;
}
type DilatedTn<K, D> = typenum::Sum<typenum::Prod<typenum::Diff<K, typenum::U1>, D>, typenum::U1>;
// Reported as the operation's own error, in `Const`s.
#[diagnostic::do_not_recommend]
impl<K: ToTypenum, D: ToTypenum> DilatedKernel<D> for K
where
    K::Typenum: Sub<typenum::U1>,
    typenum::Diff<K::Typenum, typenum::U1>: Mul<D::Typenum>,
    typenum::Prod<typenum::Diff<K::Typenum, typenum::U1>, D::Typenum>: Add<typenum::U1>,
    DilatedTn<K::Typenum, D::Typenum>: FromTypenum,
{
    type Output = <DilatedTn<K::Typenum, D::Typenum> as FromTypenum>::Dim;
}

/// The span of a dilated kernel as a type: `Dilated<U3, U2>` is `Const<5>` (see
/// [`DilatedKernel`]).
pub type Dilated<K, D> = <K as DilatedKernel<D>>::Output;

/// The output size of a convolution or pooling window along one axis:
/// ⌊(input + 2·padding − kernel) / stride⌋ + 1, e.g. `ConvOut<U28, U5, U1, U0>` is
/// `Const<24>`. A dilated kernel enters as its span, [`Dilated`].
pub type ConvOut<In, Kernel, Stride, Padding> = <In as ConvWindow<Kernel, Stride, Padding>>::Output;

#[cfg(test)]
mod tests {
    use super::super::{U0, U1, U2, U3, U4, U5, U28, U1024};
    use super::*;

    fn same<A: 'static, B: 'static>() -> bool {
        std::any::TypeId::of::<A>() == std::any::TypeId::of::<B>()
    }

    #[test]
    fn arithmetic_lands_on_const() {
        assert!(same::<Prod<U4, U5>, Const<20>>());
        assert!(same::<Prod<U2, Const<512>>, U1024>());
        assert!(same::<Sum<U3, U4>, Const<7>>());
        assert!(same::<ConvOut<U28, U5, U1, U0>, Const<24>>());
        assert!(same::<ConvOut<U28, U3, U2, U1>, Const<14>>());
        assert!(same::<Dilated<U3, U2>, Const<5>>());
        assert!(same::<Dilated<U5, U1>, U5>());
        assert!(!same::<Prod<U1, U3>, Const<4>>());
    }
}
