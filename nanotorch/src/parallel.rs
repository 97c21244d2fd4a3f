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
    let unit = unit.max(1);
    let units = data.len() / unit;
    let parts = num_threads()
        .clamp(1, nanotorch_pool::MAX_PARTS)
        .min(units.max(1));
    if parts == 1 || data.len() < PARALLEL_ELEMENTS {
        f(0, data);
        return;
    }
    let per_part = units.div_ceil(parts);
    let slots: [Mutex<Option<(usize, &mut [E])>>; nanotorch_pool::MAX_PARTS] =
        std::array::from_fn(|_| Mutex::new(None));
    let mut rest = data;
    for (k, slot) in slots.iter().take(parts).enumerate() {
        let take = (per_part * unit).min(rest.len());
        let (block, next) = rest.split_at_mut(take);
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((k * per_part, block));
        rest = next;
    }
    nanotorch_pool::run(parts, &|i| {
        let block = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((first, block)) = block {
            f(first, block);
        }
    });
}
