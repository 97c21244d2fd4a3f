//! The element types the GEMM computes in (`f32`, `f64`), mapped onto `pulp`'s SIMD vectors, and
//! each type's per-thread packing buffers.

use std::cell::RefCell;

use pulp::Simd;

/// A scalar type with a SIMD vector of it on every instruction set `pulp` dispatches to.
///
/// The methods are the handful the micro-kernel needs. They are generic over the instruction
/// set `S`, so one kernel body is compiled once per instruction set (AVX-512, AVX2+FMA,
/// NEON, scalar) and chosen at run time.
pub trait Lane:
    Copy
    + Default
    + PartialEq
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + bytemuck::Pod
    + 'static
{
    /// The SIMD vector of this scalar on instruction set `S`.
    type V<S: Simd>: Copy;
    /// Number of scalars in [`Lane::V`].
    fn lanes<S: Simd>() -> usize;
    /// Every lane set to `x`.
    fn splat<S: Simd>(simd: S, x: Self) -> Self::V<S>;
    /// `a·b + c` per lane (fused where the instruction set has FMA).
    fn mul_add<S: Simd>(simd: S, a: Self::V<S>, b: Self::V<S>, c: Self::V<S>) -> Self::V<S>;
    /// `a + b` per lane.
    fn add_v<S: Simd>(simd: S, a: Self::V<S>, b: Self::V<S>) -> Self::V<S>;
    /// A slice seen as whole vectors plus the scalars left over.
    fn as_simd<S: Simd>(x: &[Self]) -> (&[Self::V<S>], &[Self]);
    /// [`Lane::as_simd`] for writing.
    fn as_simd_mut<S: Simd>(x: &mut [Self]) -> (&mut [Self::V<S>], &mut [Self]);
    /// Writes the lanes of `v` into `out` (`out.len()` must be [`Lane::lanes`]).
    fn store<S: Simd>(v: Self::V<S>, out: &mut [Self]);
    /// Takes this thread's packing buffers (empty the first time); give them back with
    /// [`Lane::put_buffers`] so steady-state products allocate nothing.
    fn take_buffers() -> PackBuffers<Self>;
    /// Returns the buffers taken by [`Lane::take_buffers`].
    fn put_buffers(buffers: PackBuffers<Self>);
    /// How many threads of a threaded product are known to hold full-size buffers of this
    /// element type (see `gemm::warm_threads`).
    fn warmed_threads() -> &'static std::sync::atomic::AtomicUsize;
}

/// The packed copies of `a`'s and `b`'s blocks, kept per thread between products.
#[derive(Default)]
pub struct PackBuffers<E> {
    pub(crate) a: Vec<E>,
    pub(crate) b: Vec<E>,
}

impl<E: Lane> PackBuffers<E> {
    /// Gives both buffers their full size the first time (the only allocation the GEMM ever
    /// makes on a thread); afterwards does nothing.
    pub(crate) fn reserve_all(&mut self) {
        if self.a.len() < super::kernel::A_BUFFER {
            self.a.resize(super::kernel::A_BUFFER, E::default());
        }
        if self.b.len() < super::kernel::B_BUFFER {
            self.b.resize(super::kernel::B_BUFFER, E::default());
        }
    }
}

thread_local! {
    static BUFFERS_F32: RefCell<PackBuffers<f32>> = RefCell::default();
    static BUFFERS_F64: RefCell<PackBuffers<f64>> = RefCell::default();
}

macro_rules! impl_lane {
    ($t:ty, $v:ident, $lanes:ident, $splat:ident, $fma:ident, $add:ident, $as:ident, $as_mut:ident, $buffers:ident) => {
        impl Lane for $t {
            type V<S: Simd> = S::$v;
            #[inline(always)]
            fn lanes<S: Simd>() -> usize {
                S::$lanes
            }
            #[inline(always)]
            fn splat<S: Simd>(simd: S, x: $t) -> S::$v {
                simd.$splat(x)
            }
            #[inline(always)]
            fn mul_add<S: Simd>(simd: S, a: S::$v, b: S::$v, c: S::$v) -> S::$v {
                simd.$fma(a, b, c)
            }
            #[inline(always)]
            fn add_v<S: Simd>(simd: S, a: S::$v, b: S::$v) -> S::$v {
                simd.$add(a, b)
            }
            #[inline(always)]
            fn as_simd<S: Simd>(x: &[$t]) -> (&[S::$v], &[$t]) {
                S::$as(x)
            }
            #[inline(always)]
            fn as_simd_mut<S: Simd>(x: &mut [$t]) -> (&mut [S::$v], &mut [$t]) {
                S::$as_mut(x)
            }
            #[inline(always)]
            fn store<S: Simd>(v: S::$v, out: &mut [$t]) {
                out.copy_from_slice(bytemuck::cast_slice(std::slice::from_ref(&v)));
            }
            fn take_buffers() -> PackBuffers<$t> {
                $buffers.with(|cell| std::mem::take(&mut *cell.borrow_mut()))
            }
            fn put_buffers(buffers: PackBuffers<$t>) {
                $buffers.with(|cell| *cell.borrow_mut() = buffers);
            }
            fn warmed_threads() -> &'static std::sync::atomic::AtomicUsize {
                static WARMED: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                &WARMED
            }
        }
    };
}

// `mul_add_e` is a fused multiply-add where the instruction set has one and a multiply then an
// add where it does not (plain `mul_add` would call the slow software `fma` there).
impl_lane!(
    f32,
    f32s,
    F32_LANES,
    splat_f32s,
    mul_add_e_f32s,
    add_f32s,
    as_simd_f32s,
    as_mut_simd_f32s,
    BUFFERS_F32
);
impl_lane!(
    f64,
    f64s,
    F64_LANES,
    splat_f64s,
    mul_add_e_f64s,
    add_f64s,
    as_simd_f64s,
    as_mut_simd_f64s,
    BUFFERS_F64
);
