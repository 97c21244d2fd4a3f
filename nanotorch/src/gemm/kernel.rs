//! The single-threaded product `c (+)= a·b` on one instruction set. The micro-kernel keeps an
//! `MR × NV·lanes` tile of `c` in registers while it walks the shared dimension; at each depth
//! step it needs the tile's `MR` values of `a` and `NV` vectors of `b`.
//!
//! ```text
//! for each depth block pc (KC deep):            pack b's panels that cannot be read in place
//!   for each row block ic (MC rows):            pack a's panels that cannot be read in place
//!     for each column panel j, row panel i:     c[i.., j..] (+)= a_panel · b_panel
//! ```
//!
//! Read in place: `b` when its rows are contiguous (each depth step is `NV` vector loads) and
//! `a` has fewer than `MC` rows, `a` always when its rows or columns are contiguous
//! ([`ASource`]). Packed: a `b` stored transposed (the weight of `x·Wᵀ`), a `b` that `MC` or
//! more rows of `a` reuse, and the ragged last panels. A packed panel is
//! depth-major — for each depth step, the `MR` values of `a`'s rows (or the `NR` values of `b`'s
//! columns) side by side — and zero-padded past the matrix edge; only the valid part of a tile
//! is written back.

use pulp::{Simd, WithSimd};

use super::lane::{Lane, PackBuffers};
use super::transpose::transpose8;
use super::{MatMut, MatRef};

/// Rows of `c` per micro-kernel tile: 6 rows × 2 vectors = 12 accumulators, which with the two
/// `b` vectors and one broadcast of `a` fits the 16 registers of AVX2 (AVX-512 and NEON
/// have 32; wider tiles measured no faster on the products of the bench models).
const MR: usize = 6;
/// Depth of a packed block: a `KC × NR` panel of `b` stays in the L1 cache while the row
/// panels of `a` stream past it.
const KC: usize = 256;
/// Rows of `a` packed at a time (an `MC × KC` block stays in L2).
const MC: usize = 96;
/// Columns of `b` packed at a time (a `KC × NC` block stays in L2–L3); wider products are
/// split into column blocks by the caller.
pub(super) const NC: usize = 1024;
/// The packing buffers' sizes: what the largest blocks need. Each thread allocates them once,
/// at this size, so which thread runs which product never makes a later product allocate.
pub(super) const A_BUFFER: usize = MC * KC;
pub(super) const B_BUFFER: usize = NC * KC;

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
        // Outputs at most one vector wide (the logits layer) use one-vector tiles, so most of
        // each tile is not padding.
        // With AVX-512's 32 registers, a row-major `b` takes four-vector tiles (24
        // accumulators): half the loads and loop overhead per multiply-add of two-vector
        // tiles. On a 2-core Xeon (AVX-512) they took `dy·W` and `dyᵀ·x` from ~91–129 to
        // ~110–147 GFLOP/s (`examples/gflops`); a transposed `b` (the weight of `x·Wᵀ`),
        // packed either way, measured slower with them (137 → 127), so it keeps two.
        let lanes = E::lanes::<S>();
        if self.b.cols <= lanes {
            run::<E, S, 1>(self, simd);
        } else if lanes * std::mem::size_of::<E>() == 64
            && self.b.cols >= 4 * lanes
            && self.b.col_stride == 1
        {
            run::<E, S, 4>(self, simd);
        } else {
            run::<E, S, 2>(self, simd);
        }
    }
}

/// The packed product with tiles `MR` rows by `NV` vectors.
#[inline(always)]
fn run<E: Lane, S: Simd, const NV: usize>(product: Packed<'_, '_, E>, simd: S) {
    {
        let Packed {
            a,
            b,
            mut c,
            accumulate,
            buffers,
        } = product;
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let nr = NV * E::lanes::<S>();
        let n_panels = n.div_ceil(nr);
        let m_panels = m.div_ceil(MR);
        // Operands are read where they lie when their layout allows it: `b` when its rows are
        // contiguous (a panel's depth step is then two vector loads), `a` always (a tile's
        // depth step reads one value from each of its MR rows). Only the other layouts and
        // the ragged last panels are packed.
        // A row-major `b` is still packed once a full row block (`MC` rows) of `a` reuses each
        // panel: the panel's `KC` depth steps then sit in one contiguous run instead of `KC`
        // rows a whole row of `b` apart (the backward products `dy·W` and `dyᵀ·x` at 768 rows
        // went from 100–120 to 120–160 GFLOP/s; the mnist step from 1.27 to 1.04 ms).
        let b_in_place = b.col_stride == 1 && m < MC;
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            for (jp, panel) in buffers
                .b
                .chunks_exact_mut(nr * kc)
                .take(n_panels)
                .enumerate()
            {
                let j0 = jp * nr;
                let w = nr.min(n - j0);
                if !(b_in_place && w == nr) {
                    pack(simd, panel, nr, b.t(), pc, kc, j0, w);
                }
            }
            // `a` in place needs adjacent values per depth; otherwise each row block is packed
            // once and reused for every column panel of `b`.
            let a_in_place = a.row_stride == 1;
            // Row-major `a` is read in place too, as MR rows (packing it would be a transpose;
            // measured slower at every size of the bench models, even when amortised over
            // 25 panels of `b`).
            let a_rows = !a_in_place && a.col_stride == 1;
            let block_panels = MC / MR;
            // The first depth block overwrites `c` (unless accumulating); the others add.
            let replace = pc == 0 && !accumulate;
            for ic in (0..m_panels).step_by(block_panels) {
                let panels = ic..m_panels.min(ic + block_panels);
                for (slot, ip) in buffers.a.chunks_exact_mut(MR * kc).zip(panels.clone()) {
                    let i0 = ip * MR;
                    let h = MR.min(m - i0);
                    if !(a_in_place || a_rows) || h < MR {
                        pack(simd, slot, MR, a, pc, kc, i0, h);
                    }
                }
                for (jp, bpanel) in buffers.b.chunks_exact(nr * kc).take(n_panels).enumerate() {
                    let j0 = jp * nr;
                    let w = nr.min(n - j0);
                    let b_here = b_in_place && w == nr;
                    let (packed_b, _) = E::as_simd::<S>(bpanel);
                    let (packed_b, _) = packed_b.as_chunks::<NV>();
                    for (slot, ip) in buffers.a.chunks_exact(MR * kc).zip(panels.clone()) {
                        let i0 = ip * MR;
                        let h = MR.min(m - i0);
                        // One monomorphised kernel per pair of operand sources.
                        let tile = if a_in_place && h == MR {
                            // Each depth's MR values are adjacent in `a`.
                            let start = pc * a.col_stride + i0;
                            let a_src = Adjacent {
                                data: &a.data[start..],
                                stride: a.col_stride,
                            };
                            with_b::<E, S, NV>(simd, a_src, b, packed_b, pc, kc, j0, b_here)
                        } else if a_rows && h == MR {
                            let a_src = Rows(std::array::from_fn(|r| {
                                let start = (i0 + r) * a.row_stride + pc;
                                &a.data[start..start + kc]
                            }));
                            with_b::<E, S, NV>(simd, a_src, b, packed_b, pc, kc, j0, b_here)
                        } else {
                            let (packed_a, _) = slot.as_chunks::<MR>();
                            with_b::<E, S, NV>(
                                simd,
                                PackedA(packed_a),
                                b,
                                packed_b,
                                pc,
                                kc,
                                j0,
                                b_here,
                            )
                        };
                        write_tile::<E, S, NV>(simd, &tile, &mut c, i0, j0, h, w, replace);
                    }
                }
            }
        }
    }
}

/// Runs the micro-kernel on `a_src` and on `b`'s panel at column `j0` — in place or packed.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn with_b<E: Lane, S: Simd, const NV: usize>(
    simd: S,
    a_src: impl ASource<E>,
    b: MatRef<'_, E>,
    packed_b: &[[E::V<S>; NV]],
    pc: usize,
    kc: usize,
    j0: usize,
    in_place: bool,
) -> [[E::V<S>; NV]; MR] {
    if in_place {
        let nr = NV * E::lanes::<S>();
        let b_src = (pc..pc + kc).map(|p| {
            let start = p * b.row_stride + j0;
            let (v, _) = E::as_simd::<S>(&b.data[start..start + nr]);
            match v.first_chunk::<NV>() {
                Some(v) => v,
                None => unreachable!("the slice holds NV whole vectors"),
            }
        });
        micro_kernel::<E, S, NV>(simd, a_src, b_src, kc)
    } else {
        micro_kernel::<E, S, NV>(simd, a_src, packed_b.iter(), kc)
    }
}

/// Packs rows `l0 .. l0 + width` of `v` over columns `p0 .. p0 + kc` into `panel`, depth-major
/// with `stride` values per depth (`b`'s columns are packed as the rows of `bᵀ`). The values
/// past `width` are set to zero, so the panel needs no clearing beforehand.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pack<E: Lane, S: Simd>(
    simd: S,
    panel: &mut [E],
    stride: usize,
    v: MatRef<'_, E>,
    p0: usize,
    kc: usize,
    l0: usize,
    width: usize,
) {
    let panel = &mut panel[..stride * kc];
    if width < stride {
        for dst in panel.chunks_exact_mut(stride) {
            dst[width..].fill(E::default());
        }
    }
    if v.row_stride == 1 {
        // The rows are adjacent in memory: one copy per depth. (An element loop, not
        // `copy_from_slice`: for so few elements a call to `memcpy` costs more than the copy.)
        for (p, dst) in panel.chunks_exact_mut(stride).enumerate() {
            let start = (p0 + p) * v.col_stride + l0;
            for (d, &x) in dst.iter_mut().zip(&v.data[start..start + width]) {
                *d = x;
            }
        }
        return;
    }
    // A transpose, in blocks of L rows × 8 depths held in registers: L contiguous reads of 8,
    // then 8 contiguous writes of L (L = MR for a full panel of `a`, else 8).
    let (mut l, mut p_done) = (0, 0);
    if v.col_stride == 1 {
        p_done = kc / 8 * 8;
        if width == MR {
            transpose_block::<E, S, MR>(simd, panel, stride, v, p0, p_done, l0, 0);
            l = MR;
        } else {
            while l + 8 <= width {
                transpose_block::<E, S, 8>(simd, panel, stride, v, p0, p_done, l0, l);
                l += 8;
            }
        }
    }
    // What the blocks did not cover: the last rows (fewer than 8) at every depth, and every
    // row at the last depths (fewer than 8).
    for (p, dst) in panel.chunks_exact_mut(stride).enumerate() {
        let first = if p < p_done { l } else { 0 };
        for (r, d) in dst[..width].iter_mut().enumerate().skip(first) {
            *d = v.at(l0 + r, p0 + p);
        }
    }
}

/// The part of [`pack`] for `v`'s rows `l0 + l .. l0 + l + L` and its depths
/// `p0 .. p0 + depth` (a multiple of 8), written to the panel's columns `l .. l + L`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn transpose_block<E: Lane, S: Simd, const L: usize>(
    simd: S,
    panel: &mut [E],
    stride: usize,
    v: MatRef<'_, E>,
    p0: usize,
    depth: usize,
    l0: usize,
    l: usize,
) {
    for p in (0..depth).step_by(8) {
        let mut block = [[E::default(); 8]; L];
        for (r, row) in block.iter_mut().enumerate() {
            let start = (l0 + l + r) * v.row_stride + p0 + p;
            if let Some(src) = v.data[start..].first_chunk::<8>() {
                *row = *src;
            }
        }
        let rows = panel[p * stride..].chunks_exact_mut(stride).take(8);
        if let Ok(square) = <[[E; 8]; 8]>::try_from(&block[..]) {
            // 8 rows: a whole 8 × 8 transpose, in SIMD registers where the CPU allows.
            for (dst, column) in rows.zip(transpose8(simd, square)) {
                if let Some(dst) = dst[l..].first_chunk_mut::<8>() {
                    *dst = column;
                }
            }
        } else {
            for (q, dst) in rows.enumerate() {
                if let Some(dst) = dst[l..].first_chunk_mut::<L>() {
                    for (d, row) in dst.iter_mut().zip(&block) {
                        *d = row[q];
                    }
                }
            }
        }
    }
}

/// `MR × NV` vectors of `Σ_p a[p][r] · b[p][v]`: the tile of `c` this pair of panels adds.
#[inline(always)]
fn micro_kernel<'b, E: Lane, S: Simd, const NV: usize>(
    simd: S,
    a: impl ASource<E>,
    // References, not values: a copied array of vectors is split into scalars by the
    // optimiser and rebuilt lane by lane; through a reference each is one vector load.
    b: impl Iterator<Item = &'b [E::V<S>; NV]>,
    kc: usize,
) -> [[E::V<S>; NV]; MR]
where
    E::V<S>: 'b,
{
    let zero = E::splat(simd, E::default());
    let mut acc = [[zero; NV]; MR];
    for (p, b) in b.take(kc).enumerate() {
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = E::splat(simd, a.at(p, r));
            for (acc, b) in acc.iter_mut().zip(b) {
                *acc = E::mul_add(simd, a, *b, *acc);
            }
        }
    }
    acc
}

/// Writes (or adds) the valid `h × w` corner of a tile to `c` at `(i0, j0)`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_tile<E: Lane, S: Simd, const NV: usize>(
    simd: S,
    tile: &[[E::V<S>; NV]; MR],
    c: &mut MatMut<'_, E>,
    i0: usize,
    j0: usize,
    h: usize,
    w: usize,
    replace: bool,
) {
    let lanes = E::lanes::<S>();
    if c.col_stride == 1 && w == NV * lanes {
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
    let mut scalars = [E::default(); 4 * MAX_LANES];
    for (r, vectors) in tile.iter().enumerate().take(h) {
        for (v, &vector) in vectors.iter().enumerate() {
            E::store::<S>(vector, &mut scalars[v * lanes..(v + 1) * lanes]);
        }
        for (j, &x) in scalars[..w].iter().enumerate() {
            let dst = c.at_mut(i0 + r, j0 + j);
            *dst = if replace { x } else { *dst + x };
        }
    }
}

/// The most scalars in one vector on any instruction set (AVX-512 holds 16 `f32`).
const MAX_LANES: usize = 16;

/// Where the micro-kernel reads `a[i0 + r, pc + p]`, the value for row `r` of its tile at
/// depth step `p`.
trait ASource<E> {
    fn at(&self, p: usize, r: usize) -> E;
}

/// A packed panel: depth-major, MR values per depth.
struct PackedA<'a, E>(&'a [[E; MR]]);
impl<E: Copy> ASource<E> for PackedA<'_, E> {
    #[inline(always)]
    fn at(&self, p: usize, r: usize) -> E {
        self.0[p][r]
    }
}

/// `a` stored column-major (`aᵀ` row-major, as in `dW = dyᵀ·x`): MR adjacent values per depth.
struct Adjacent<'a, E> {
    data: &'a [E],
    stride: usize,
}
impl<E: Copy> ASource<E> for Adjacent<'_, E> {
    #[inline(always)]
    fn at(&self, p: usize, r: usize) -> E {
        self.data[p * self.stride + r]
    }
}

/// `a` row-major: MR rows, each `kc` long.
struct Rows<'a, E>([&'a [E]; MR]);
impl<E: Copy> ASource<E> for Rows<'_, E> {
    #[inline(always)]
    fn at(&self, p: usize, r: usize) -> E {
        self.0[r][p]
    }
}
