//! The single-threaded product `c (+)= a·b` on one instruction set: blocks of `a` and `b` are
//! copied ("packed") into the order the micro-kernel reads them, and the micro-kernel keeps an
//! `MR × 2·lanes` tile of `c` in registers while it walks the shared dimension.
//!
//! ```text
//! for each depth block pc (KC deep):            pack b[pc.., all columns] into column panels
//!   for each row block ic (MC rows):            pack a[ic.., pc..] into row panels
//!     for each column panel j, row panel i:     c[i.., j..] (+)= a_panel · b_panel
//! ```
//!
//! A packed panel is depth-major: for each step `p` of the shared dimension, the `MR` values of
//! `a`'s rows (or the `NR` values of `b`'s columns) sit side by side, so the kernel's loads are
//! contiguous whatever the operands' strides were. Panels past the matrix edge are zero-padded;
//! only the valid part of a tile is written back.

use pulp::{Simd, WithSimd};

use super::lane::{Lane, PackBuffers};
use super::{MatMut, MatRef};

/// Rows of `c` per micro-kernel tile: 6 rows × 2 vectors = 12 accumulators, which with the two
/// `b` vectors and one broadcast of `a` fits the 16 registers of AVX2 and SSE (AVX-512 and NEON
/// have 32; wider tiles measured no faster on the products of the bench models).
const MR: usize = 6;
/// Depth of a packed block: a `KC × NR` panel of `b` stays in the L1 cache while the row
/// panels of `a` stream past it.
const KC: usize = 256;
/// Rows of `a` packed at a time (an `MC × KC` block stays in L2).
const MC: usize = 96;

/// The product on one instruction set, run by `pulp`'s dispatch.
pub(super) struct Packed<'a, 'c, E> {
    pub a: MatRef<'a, E>,
    pub b: MatRef<'a, E>,
    pub c: MatMut<'c, E>,
    pub accumulate: bool,
    pub buffers: &'c mut PackBuffers<E>,
}

impl<E: Lane> WithSimd for Packed<'_, '_, E> {
    type Output = ();

    // Everything this calls is `#[inline(always)]`: it must be compiled inside the
    // instruction-set-specific function `pulp` calls it from to use that instruction set.
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Packed {
            a,
            b,
            mut c,
            accumulate,
            buffers,
        } = self;
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let lanes = E::lanes::<S>();
        let nr = 2 * lanes;
        let n_panels = n.div_ceil(nr);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let bpack = &mut buffers.b;
            bpack.clear();
            bpack.resize(n_panels * nr * kc, E::default());
            for (jp, panel) in bpack.chunks_exact_mut(nr * kc).enumerate() {
                let j0 = jp * nr;
                pack(panel, nr, b.t(), pc, kc, j0, nr.min(n - j0));
            }
            // The first depth block overwrites `c` (unless accumulating); the others add.
            let replace = pc == 0 && !accumulate;
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let apack = &mut buffers.a;
                apack.clear();
                apack.resize(mc.div_ceil(MR) * MR * kc, E::default());
                for (ip, panel) in apack.chunks_exact_mut(MR * kc).enumerate() {
                    let i0 = ic + ip * MR;
                    pack(panel, MR, a, pc, kc, i0, MR.min(m - i0));
                }
                for (jp, bpanel) in buffers.b.chunks_exact(nr * kc).enumerate() {
                    let j0 = jp * nr;
                    let w = nr.min(n - j0);
                    let (bv, _) = E::as_simd::<S>(bpanel);
                    let (bv, _) = bv.as_chunks::<2>();
                    for (ip, apanel) in buffers.a.chunks_exact(MR * kc).enumerate() {
                        let i0 = ic + ip * MR;
                        let h = MR.min(m - i0);
                        let (av, _) = apanel.as_chunks::<MR>();
                        let tile = micro_kernel::<E, S>(simd, av, bv);
                        write_tile::<E, S>(simd, &tile, &mut c, i0, j0, h, w, replace);
                    }
                }
            }
        }
    }
}

/// Packs rows `l0 .. l0 + width` of `v` over columns `p0 .. p0 + kc` into `panel`, depth-major
/// with `stride` values per depth (`b`'s columns are packed as the rows of `bᵀ`).
#[inline(always)]
fn pack<E: Lane>(
    panel: &mut [E],
    stride: usize,
    v: MatRef<'_, E>,
    p0: usize,
    kc: usize,
    l0: usize,
    width: usize,
) {
    if v.row_stride == 1 {
        // The rows are adjacent in memory: one copy per depth.
        for (p, dst) in panel.chunks_exact_mut(stride).enumerate() {
            let start = (p0 + p) * v.col_stride + l0;
            dst[..width].copy_from_slice(&v.data[start..start + width]);
        }
        return;
    }
    // A transpose. Blocks of 8 depths: each row's 8 values are read as one array, then spread
    // over 8 depths of the panel.
    let mut p = 0;
    if v.col_stride == 1 {
        while p + 8 <= kc {
            let block = &mut panel[p * stride..(p + 8) * stride];
            for l in 0..width {
                let start = (l0 + l) * v.row_stride + p0 + p;
                let Some(src) = v.data[start..].first_chunk::<8>() else {
                    unreachable!("MatRef::new checked that the view fits its slice")
                };
                for (q, &x) in src.iter().enumerate() {
                    block[q * stride + l] = x;
                }
            }
            p += 8;
        }
    }
    for (pp, dst) in panel.chunks_exact_mut(stride).enumerate().skip(p) {
        for (l, d) in dst[..width].iter_mut().enumerate() {
            *d = v.at(l0 + l, p0 + pp);
        }
    }
}

/// `MR × 2` vectors of `Σ_p a[p][r] · b[p][v]`: the tile of `c` this pair of panels adds.
#[inline(always)]
fn micro_kernel<E: Lane, S: Simd>(
    simd: S,
    a: &[[E; MR]],
    b: &[[E::V<S>; 2]],
) -> [[E::V<S>; 2]; MR] {
    let zero = E::splat(simd, E::default());
    let mut acc = [[zero; 2]; MR];
    for (a, &[b0, b1]) in a.iter().zip(b) {
        for (acc, &a) in acc.iter_mut().zip(a) {
            let a = E::splat(simd, a);
            acc[0] = E::mul_add(simd, a, b0, acc[0]);
            acc[1] = E::mul_add(simd, a, b1, acc[1]);
        }
    }
    acc
}

/// Writes (or adds) the valid `h × w` corner of a tile to `c` at `(i0, j0)`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_tile<E: Lane, S: Simd>(
    simd: S,
    tile: &[[E::V<S>; 2]; MR],
    c: &mut MatMut<'_, E>,
    i0: usize,
    j0: usize,
    h: usize,
    w: usize,
    replace: bool,
) {
    let lanes = E::lanes::<S>();
    if c.col_stride == 1 && w == 2 * lanes {
        // Whole rows of the tile land on contiguous memory: vector stores.
        for (r, vectors) in tile.iter().enumerate().take(h) {
            let start = (i0 + r) * c.row_stride + j0;
            let (row, _) = E::as_simd_mut::<S>(&mut c.data[start..start + w]);
            for (dst, &v) in row.iter_mut().zip(vectors) {
                *dst = if replace { v } else { E::add_v(simd, *dst, v) };
            }
        }
        return;
    }
    let mut scalars = [E::default(); 2 * MAX_LANES];
    for (r, vectors) in tile.iter().enumerate().take(h) {
        E::store::<S>(vectors[0], &mut scalars[..lanes]);
        E::store::<S>(vectors[1], &mut scalars[lanes..2 * lanes]);
        for (j, &x) in scalars[..w].iter().enumerate() {
            let dst = c.at_mut(i0 + r, j0 + j);
            *dst = if replace { x } else { *dst + x };
        }
    }
}

/// The most scalars in one vector on any instruction set (AVX-512 holds 16 `f32`).
const MAX_LANES: usize = 16;
