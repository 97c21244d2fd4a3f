//! Splitting elementwise work over the GEMM's threads: [`for_each_block_mut`] hands each
//! thread a contiguous block of a buffer.

use std::sync::Mutex;

use crate::gemm::threads::num_threads;

/// Buffers smaller than this many elements are processed on the calling thread (waking a
/// second thread costs more than it saves).
const PARALLEL_ELEMENTS: usize = 32 * 1024;

/// Calls `f(first, block)` on contiguous blocks of `data` that together cover it, each block a
/// whole number of `unit`-element units and `first` the index of its first unit; the blocks run
/// on up to [`num_threads`] threads. Allocates nothing.
pub(crate) fn for_each_block_mut<E: Send>(
    data: &mut [E],
    unit: usize,
    f: &(dyn Fn(usize, &mut [E]) + Sync),
) {
    for_each_block_pair_mut(data, unit, &mut [(); 0], 0, &|first, block, _| {
        f(first, block)
    });
}

/// [`for_each_block_mut`] over two buffers cut at the same units: unit `u` is elements
/// `u·unit_a..` of `a` and `u·unit_b..` of `b` (e.g. a pooling's outputs and their arg-max).
pub(crate) fn for_each_block_pair_mut<A: Send, B: Send>(
    a: &mut [A],
    unit_a: usize,
    b: &mut [B],
    unit_b: usize,
    f: &(dyn Fn(usize, &mut [A], &mut [B]) + Sync),
) {
    let unit_a = unit_a.max(1);
    let units = a.len() / unit_a;
    let parts = num_threads()
        .clamp(1, nanotorch_pool::MAX_PARTS)
        .min(units.max(1));
    if parts == 1 || a.len() < PARALLEL_ELEMENTS {
        f(0, a, b);
        return;
    }
    let per_part = units.div_ceil(parts);
    type Slot<'s, A, B> = Mutex<Option<(usize, &'s mut [A], &'s mut [B])>>;
    let slots: [Slot<'_, A, B>; nanotorch_pool::MAX_PARTS] =
        std::array::from_fn(|_| Mutex::new(None));
    let (mut rest_a, mut rest_b) = (a, b);
    for (k, slot) in slots.iter().take(parts).enumerate() {
        let (block_a, next_a) = rest_a.split_at_mut((per_part * unit_a).min(rest_a.len()));
        let (block_b, next_b) = rest_b.split_at_mut((per_part * unit_b).min(rest_b.len()));
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((k * per_part, block_a, block_b));
        (rest_a, rest_b) = (next_a, next_b);
    }
    nanotorch_pool::run(parts, &|i| {
        let block = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((first, block_a, block_b)) = block {
            f(first, block_a, block_b);
        }
    });
}
