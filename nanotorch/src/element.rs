//! The floating-point element types a tensor may hold: `f32` (the default) and `f64`
//! (used by the gradient checks, where finite differences need the extra precision).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

pub use crate::gemm::lane::{Lane, PackBuffers};

/// A floating-point scalar that tensors can store: `f32` or `f64`.
///
/// The trait gathers what the primitives need — arithmetic from [`num_traits::Float`], SIMD
/// matrix products from [`Lane`], `ndarray`'s scalar traits — plus two conversions that never
/// fail.
pub trait Element:
    num_traits::Float
    + Lane
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Default
    + Debug
    + Display
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + 'static
{
    /// The name PyTorch and safetensors use for this type: `"F32"` or `"F64"`.
    const DTYPE: &'static str;

    /// Converts an `f64` constant (rounding to nearest for `f32`).
    fn cast(x: f64) -> Self;

    /// Widens to `f64` (exact for both types).
    fn as_f64(self) -> f64;

    /// The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, used by the exact GELU.
    fn erf(self) -> Self;

    /// `e^self` for `self ≤ 0`, as the stable sigmoid needs it. For `f32` this is
    /// [`crate::ops::exp_neg_f32`], which a loop can vectorise (the C library's `expf` cannot
    /// be); for `f64` it is the standard `exp`.
    fn exp_nonpositive(self) -> Self;
}

impl Element for f32 {
    const DTYPE: &'static str = "F32";
    fn cast(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
    fn erf(self) -> Self {
        libm::erff(self)
    }
    #[inline]
    fn exp_nonpositive(self) -> Self {
        crate::ops::exp_neg_f32(self)
    }
}

impl Element for f64 {
    const DTYPE: &'static str = "F64";
    fn cast(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline]
    fn exp_nonpositive(self) -> Self {
        self.exp()
    }
}
