//! The matrix-product engine behind [`crate::ops::matmul()`] and [`crate::ops::linear()`]: a
//! pure-Rust GEMM, `c = a·b` or `c += a·b`, with no system library and no `unsafe`.
//!
//! - **Instruction set chosen at run time.** The kernels are written once, generic over
//!   [`pulp::Simd`], and `pulp` compiles them for AVX-512, AVX2+FMA and NEON (plus a scalar
//!   fallback) and picks the best the CPU has when the program runs — one binary is fast on
//!   every x86-64 machine.
//! - **Two paths by size.** Small products (at most [`SMALL_WORK`] multiply-adds: all of the
//!   tiny model's) go through [`small`]: no packing, a row of a narrow `c` held in registers.
//!   Larger ones go through [`kernel`]: a register-tiled micro-kernel that reads its operands
//!   in place where their layout allows and packs them into cache-sized panels where not.
//! - **No allocation per product.** Each thread allocates its packing buffers once, at their
//!   largest size ([`lane::PackBuffers`]), so which thread runs which product never makes a
//!   later one allocate.
//! - **Threads**: products with at least [`PARALLEL_WORK`] multiply-adds are split in row
//!   blocks over [`threads::num_threads`] threads of [`nanotorch_pool`], which allocates
//!   nothing per call; see [`crate::set_num_threads`].

pub(crate) mod kernel;
pub(crate) mod lane;
mod small;
#[cfg(test)]
mod tests;
pub mod threads;
pub mod timer;
mod transpose;

use pulp::Arch;

pub(crate) use lane::Lane;

/// Products with at most this many multiply-adds (`m·k·n`) take the unpacked [`small`] path
/// (the tiny model's products, up to 450, ran 2–4× faster there than packed; products of
/// 40 k and more, such as the 10-wide layers of digits, were faster packed).
const SMALL_WORK: usize = 16 * 1024;

/// Products with at least this many multiply-adds are split over threads (below it, waking a
/// second thread costs more than it saves).
const PARALLEL_WORK: usize = 512 * 1024;

/// A read-only matrix over a slice: element `(i, j)` is `data[i·row_stride + j·col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, E> {
    data: &'a [E],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, E: Copy> MatRef<'a, E> {
    /// A row-major `rows × cols` matrix stored contiguously in `data`.
    ///
    /// # Panics
    /// If `data` holds fewer than `rows·cols` elements (callers pass tensors' own buffers,
    /// whose sizes their shapes guarantee).
    pub(crate) fn row_major(data: &'a [E], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "matrix view larger than its data"
        );
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose: the same data, strides swapped.
    pub(crate) fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Columns `j0 .. j0 + cols` of this matrix.
    fn columns(self, j0: usize, cols: usize) -> Self {
        MatRef {
            data: &self.data[(j0 * self.col_stride).min(self.data.len())..],
            cols,
            ..self
        }
    }

    /// Rows `mid..` of this matrix.
    fn rows_from(self, mid: usize) -> Self {
        MatRef {
            data: &self.data[(mid * self.row_stride).min(self.data.len())..],
            rows: self.rows - mid,
            ..self
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> E {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// A writable matrix over a slice, strided like [`MatRef`].
#[derive(Debug)]
pub(crate) struct MatMut<'a, E> {
    data: &'a mut [E],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, E> MatMut<'a, E> {
    /// A row-major `rows × cols` matrix stored contiguously in `data`.
    ///
    /// # Panics
    /// If `data` holds fewer than `rows·cols` elements.
    pub(crate) fn row_major(data: &'a mut [E], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "matrix view larger than its data"
        );
        MatMut {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Columns `j0 .. j0 + cols` of this matrix, borrowed.
    fn columns(&mut self, j0: usize, cols: usize) -> MatMut<'_, E> {
        let start = (j0 * self.col_stride).min(self.data.len());
        MatMut {
            data: &mut self.data[start..],
            rows: self.rows,
            cols,
            row_stride: self.row_stride,
            col_stride: self.col_stride,
        }
    }

    /// Splits off rows `mid..` into a second matrix (row blocks of a matrix whose rows are
    /// its outer dimension are disjoint slices).
    fn split_rows(self, mid: usize) -> (Self, Self) {
        let (top, bottom) = self.data.split_at_mut(mid * self.row_stride);
        let top = MatMut {
            data: top,
            rows: mid,
            ..self
        };
        let bottom = MatMut {
            data: bottom,
            rows: self.rows - mid,
            ..self
        };
        (top, bottom)
    }

    #[inline(always)]
    fn at_mut(&mut self, i: usize, j: usize) -> &mut E {
        &mut self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// `c = a·b`, or `c += a·b` when `accumulate`.
///
/// # Panics
/// If the sizes disagree (`a: [m, k]`, `b: [k, n]`, `c: [m, n]`): the callers in
/// [`crate::ops`] check them and return a typed error first.
pub(crate) fn gemm<E: Lane + Send + Sync>(
    a: MatRef<'_, E>,
    b: MatRef<'_, E>,
    c: MatMut<'_, E>,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && c.rows == m && c.cols == n,
        "gemm sizes: a [{m}, {k}], b [{}, {n}], c [{}, {}]",
        b.rows,
        c.rows,
        c.cols
    );
    if m == 0 || n == 0 {
        return;
    }
    let work = m * k * n;
    let threads = threads::num_threads();
    timer::timed(|| {
        if threads > 1 && work >= PARALLEL_WORK {
            split(a, b, c, accumulate, threads);
        } else {
            gemm_serial(a, b, c, accumulate);
        }
    });
}

/// One thread's product: the small or the packed path.
fn gemm_serial<E: Lane>(a: MatRef<'_, E>, b: MatRef<'_, E>, c: MatMut<'_, E>, accumulate: bool) {
    let arch = Arch::new();
    let mut buffers = E::take_buffers();
    buffers.reserve_all();
    if a.rows * a.cols * b.cols <= SMALL_WORK {
        arch.dispatch(small::Small {
            a,
            b,
            c,
            accumulate,
            buffers: &mut buffers,
        });
    } else {
        // Column blocks of at most NC, so the packed `b` fits its fixed-size buffer.
        let mut c = c;
        for j0 in (0..b.cols).step_by(kernel::NC) {
            let cols = kernel::NC.min(b.cols - j0);
            arch.dispatch(kernel::Packed {
                a,
                b: b.columns(j0, cols),
                c: c.columns(j0, cols),
                accumulate,
                buffers: &mut buffers,
            });
        }
    }
    E::put_buffers(buffers);
}

/// Splits the product into `parts` blocks of rows of `c`, one per thread of
/// [`nanotorch_pool`]. Row blocks because they are disjoint slices of a row-major `c`; each
/// part packs its own rows of `a` and, where `b` needs packing, all of `b`. (Copying a
/// transposed `b` row-major once on the calling thread and sharing it was measured slower:
/// the forward 128×784×256 at 2 threads took 370–400 µs that way, 290–330 µs this way.)
fn split<E: Lane + Send + Sync>(
    a: MatRef<'_, E>,
    b: MatRef<'_, E>,
    c: MatMut<'_, E>,
    accumulate: bool,
    parts: usize,
) {
    // Block boundaries on whole micro-kernel tiles of rows (6).
    let parts = parts.min(a.rows.div_ceil(6)).min(nanotorch_pool::MAX_PARTS);
    if parts <= 1 || c.col_stride != 1 {
        gemm_serial(a, b, c, accumulate);
        return;
    }
    warm_threads::<E>(parts);
    let rows_per_part = a.rows.div_ceil(6).div_ceil(parts) * 6;
    // Each part takes its block out of its own slot (the closure is shared, the blocks are
    // not). Slots live on the stack: a threaded product allocates nothing.
    let blocks: [std::sync::Mutex<Option<(MatRef<'_, E>, MatMut<'_, E>)>>;
        nanotorch_pool::MAX_PARTS] = std::array::from_fn(|_| std::sync::Mutex::new(None));
    let (mut a_rest, mut c_rest) = (a, c);
    for slot in blocks.iter().take(parts) {
        let rows = rows_per_part.min(a_rest.rows);
        let (c_block, c_next) = c_rest.split_rows(rows);
        let a_block = MatRef { rows, ..a_rest };
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((a_block, c_block));
        (a_rest, c_rest) = (a_rest.rows_from(rows), c_next);
    }
    nanotorch_pool::run(parts, &|i| {
        let block = blocks[i].lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((a_block, c_block)) = block {
            gemm_serial(a_block, b, c_block, accumulate);
        }
    });
}

/// Gives each of the `parts` threads a threaded product runs on its full-size packing buffers,
/// once. A pool thread packs only when it claims a part, and under load a worker may claim its
/// first part many steps after the first product — allocating its buffers in the middle of a
/// training step that should allocate nothing. So the first threaded product with this many
/// parts runs a job whose parts wait for each other (up to a second), which puts one part on
/// each thread, and each part reserves its thread's buffers.
fn warm_threads<E: Lane>(parts: usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let warmed = E::warmed_threads();
    if warmed.load(Ordering::Relaxed) >= parts {
        return;
    }
    let arrived = AtomicUsize::new(0);
    nanotorch_pool::run(parts, &|_| {
        let mut buffers = E::take_buffers();
        buffers.reserve_all();
        E::put_buffers(buffers);
        arrived.fetch_add(1, Ordering::AcqRel);
        let start = std::time::Instant::now();
        while arrived.load(Ordering::Acquire) < parts
            && start.elapsed() < std::time::Duration::from_secs(1)
        {
            std::hint::spin_loop();
        }
    });
    warmed.fetch_max(parts, Ordering::Relaxed);
}

/// The instruction set the matrix products run on, as detected on this CPU when called:
/// `"AVX-512"`, `"AVX2+FMA"`, `"NEON"` or `"scalar"` (any other CPU; still correct, slower).
pub fn instruction_set() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    return match Arch::new() {
        Arch::V4(_) => "AVX-512",
        Arch::V3(_) => "AVX2+FMA",
        _ => "scalar",
    };
    #[cfg(target_arch = "aarch64")]
    return match Arch::new() {
        Arch::Neon(_) => "NEON",
        _ => "scalar",
    };
    #[allow(unreachable_code)]
    "scalar"
}
