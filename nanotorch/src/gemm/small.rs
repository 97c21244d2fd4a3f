//! Small products without the packed kernel's set-up: for the tiny and narrow layers of small
//! models, tiling and packing cost more than the product itself.
//!
//! A product with at most 8 columns keeps a whole row of `c` in registers (the
//! width is a compile-time constant, one copy of the loop per width): `c[i, :] = Σ_p a[i, p] ·
//! b[p, :]`, with `b`'s rows made contiguous first if they are not (the weight of a layer is
//! stored transposed).

use pulp::{Simd, WithSimd};

use super::lane::{Lane, PackBuffers};
use super::{MatMut, MatRef};

/// `c (+)= a·b` computed directly from the strided operands.
pub(super) struct Small<'a, 'c, E> {
    pub a: MatRef<'a, E>,
    pub b: MatRef<'a, E>,
    pub c: MatMut<'c, E>,
    pub accumulate: bool,
    pub buffers: &'c mut PackBuffers<E>,
}

impl<E: Lane> WithSimd for Small<'_, '_, E> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Small {
            a,
            b,
            mut c,
            accumulate,
            buffers,
        } = self;
        // `b` with contiguous rows: in place, or copied into the packing buffer.
        let (k, n) = (b.rows, b.cols);
        let b_rows: &[E] = if b.col_stride == 1 && b.row_stride == n {
            &b.data[..k * n]
        } else {
            // (At most `SMALL_WORK` values, well inside the buffer.)
            let copy = &mut buffers.b[..k * n];
            for (p, row) in copy.chunks_exact_mut(n).enumerate() {
                for (j, x) in row.iter_mut().enumerate() {
                    *x = b.at(p, j);
                }
            }
            copy
        };
        macro_rules! narrow {
            ($($w:literal)*) => {
                match n {
                    $($w => rows::<E, $w>(a, b_rows, &mut c, accumulate),)*
                    _ => wide(a, b_rows, &mut c, accumulate),
                }
            };
        }
        narrow!(1 2 3 4 5 6 7 8);
    }
}

/// `c (+)= a·b` for a `b` of `N` columns stored row-major in `b_rows`: one row of `c` at a
/// time, held in `N` registers.
#[inline(always)]
fn rows<E: Lane, const N: usize>(
    a: MatRef<'_, E>,
    b_rows: &[E],
    c: &mut MatMut<'_, E>,
    accumulate: bool,
) {
    let (b_rows, _) = b_rows.as_chunks::<N>();
    for i in 0..a.rows {
        let mut acc = [E::default(); N];
        if accumulate {
            for (j, x) in acc.iter_mut().enumerate() {
                *x = *c.at_mut(i, j);
            }
        }
        for (p, b_row) in b_rows.iter().enumerate().take(a.cols) {
            let x = a.at(i, p);
            for (acc, &y) in acc.iter_mut().zip(b_row) {
                *acc = *acc + x * y;
            }
        }
        for (j, x) in acc.into_iter().enumerate() {
            *c.at_mut(i, j) = x;
        }
    }
}

/// `c (+)= a·b` for any width: `c[i, :] += a[i, p] · b[p, :]`, a loop the compiler vectorises
/// across the columns.
#[inline(always)]
fn wide<E: Lane>(a: MatRef<'_, E>, b_rows: &[E], c: &mut MatMut<'_, E>, accumulate: bool) {
    let n = c.cols;
    for i in 0..a.rows {
        if !accumulate {
            for j in 0..n {
                *c.at_mut(i, j) = E::default();
            }
        }
        for (p, b_row) in b_rows.chunks_exact(n).enumerate().take(a.cols) {
            let x = a.at(i, p);
            if c.col_stride == 1 {
                let start = i * c.row_stride;
                for (dst, &y) in c.data[start..start + n].iter_mut().zip(b_row) {
                    *dst = *dst + x * y;
                }
            } else {
                for (j, &y) in b_row.iter().enumerate() {
                    let dst = c.at_mut(i, j);
                    *dst = *dst + x * y;
                }
            }
        }
    }
}
