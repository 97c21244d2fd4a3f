//! Small products without packing: for the tiny and narrow layers of the bench models, the
//! cost of copying the operands into panels and setting up tiles is larger than the product.

use pulp::{Simd, WithSimd};

use super::lane::Lane;
use super::{MatMut, MatRef};

/// `c (+)= a·b` computed directly from the strided operands.
pub(super) struct Small<'a, 'c, E> {
    pub a: MatRef<'a, E>,
    pub b: MatRef<'a, E>,
    pub c: MatMut<'c, E>,
    pub accumulate: bool,
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
        } = self;
        let (m, k, n) = (a.rows, a.cols, b.cols);
        if b.col_stride == 1 && c.col_stride == 1 {
            // Rows of `b` and `c` are contiguous: c[i, :] += a[i, p] · b[p, :], a loop the
            // compiler vectorises across the columns.
            for i in 0..m {
                let start = i * c.row_stride;
                let row = &mut c.data[start..start + n];
                if !accumulate {
                    row.fill(E::default());
                }
                for p in 0..k {
                    let x = a.at(i, p);
                    let b_start = p * b.row_stride;
                    for (dst, &y) in row.iter_mut().zip(&b.data[b_start..b_start + n]) {
                        *dst = *dst + x * y;
                    }
                }
            }
        } else {
            // Otherwise one dot product per element of `c`.
            for i in 0..m {
                for j in 0..n {
                    let mut sum = E::default();
                    for p in 0..k {
                        sum = sum + a.at(i, p) * b.at(p, j);
                    }
                    let dst = c.at_mut(i, j);
                    *dst = if accumulate { *dst + sum } else { sum };
                }
            }
        }
    }
}
