//! Running a loop compiled for the widest vectors the CPU has: [`widest`].
//!
//! The crate is compiled for baseline x86-64 (4-wide SSE), so that one binary runs on every
//! x86-64 machine. `pulp` compiles a function once per instruction set (AVX-512, AVX2+FMA,
//! NEON, scalar) and picks the best one when the program runs; the code must be inlined into
//! the function `pulp` calls to be compiled for that instruction set, hence the
//! `#[inline(always)]` on the closures given to [`widest`] and on what they call.

/// A closure run through `pulp`'s dispatch.
struct Widest<F>(F);

impl<R, F: FnOnce() -> R> pulp::WithSimd for Widest<F> {
    type Output = R;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> R {
        (self.0)()
    }
}

/// Runs `f` compiled for the widest instruction set the CPU has. Write the closure
/// `#[inline(always)] || …` and mark what it calls `#[inline(always)]`: code that is not inlined
/// into the dispatched function is compiled for the baseline.
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(Widest(f))
}
