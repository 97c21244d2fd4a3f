//! Splitting work over the GEMM's threads: [`for_each_block_pair_mut`] hands each thread
//! contiguous blocks of buffers, [`for_each_part`] one part of a job with its own workspace,
//! [`for_each_payload`] whatever pieces the caller cut.

use std::sync::Mutex;

use crate::gemm::threads::num_threads;

/// Buffers smaller than this many elements are processed on the calling thread (waking a
/// second thread costs more than it saves).
const PARALLEL_ELEMENTS: usize = 32 * 1024;

/// Calls `f(first, a_block, b_block)` on blocks of two buffers cut at the same units, each
/// block a whole number of units and `first` the index of its first unit: unit `u` is
/// elements `u·unit_a..` of `a` and `u·unit_b..` of `b` (e.g. a pooling's outputs and their
/// arg-max). The blocks run on up to [`num_threads`] threads. Allocates nothing.
pub(crate) fn for_each_block_pair_mut<A: Send, B: Send>(
    a: &mut [A],
    unit_a: usize,
    b: &mut [B],
    unit_b: usize,
    f: &(dyn Fn(usize, &mut [A], &mut [B]) + Sync),
) {
    let parts = if a.len() < PARALLEL_ELEMENTS {
        1
    } else {
        num_threads()
    };
    for_each_block_pair_mut_in(parts, a, unit_a, b, unit_b, f);
}

/// [`for_each_block_pair_mut`] on at most `parts` threads, however small the buffers (for
/// passes whose work per unit is large: a unit that is one channel of a batch).
pub(crate) fn for_each_block_pair_mut_in<A: Send, B: Send>(
    parts: usize,
    a: &mut [A],
    unit_a: usize,
    b: &mut [B],
    unit_b: usize,
    f: &(dyn Fn(usize, &mut [A], &mut [B]) + Sync),
) {
    let unit_a = unit_a.max(1);
    let units = a.len() / unit_a;
    let parts = parts.clamp(1, nanotorch_pool::MAX_PARTS).min(units.max(1));
    if parts == 1 {
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

/// Runs `f(part, a_block, scratch_block)` for every `part` in `0..parts`, on up to `parts`
/// threads: `a` is cut into consecutive blocks of `a_per_part` elements (the last may be
/// shorter, or empty), and `scratch` into blocks of `scratch_per_part`, one per part. For work
/// split once per call into a few large parts, each with its own workspace (a convolution over
/// blocks of images). Allocates nothing.
pub(crate) fn for_each_part<A: Send, S: Send>(
    parts: usize,
    a: &mut [A],
    a_per_part: usize,
    scratch: &mut [S],
    scratch_per_part: usize,
    f: &(dyn Fn(usize, &mut [A], &mut [S]) + Sync),
) {
    let parts = parts.clamp(1, nanotorch_pool::MAX_PARTS);
    if parts == 1 {
        let scratch_len = scratch_per_part.min(scratch.len());
        f(0, a, &mut scratch[..scratch_len]);
        return;
    }
    type Slot<'s, A, S> = Mutex<Option<(&'s mut [A], &'s mut [S])>>;
    let slots: [Slot<'_, A, S>; nanotorch_pool::MAX_PARTS] =
        std::array::from_fn(|_| Mutex::new(None));
    let (mut rest_a, mut rest_s) = (a, scratch);
    for slot in slots.iter().take(parts) {
        let (block_a, next_a) = rest_a.split_at_mut(a_per_part.min(rest_a.len()));
        let (block_s, next_s) = rest_s.split_at_mut(scratch_per_part.min(rest_s.len()));
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((block_a, block_s));
        (rest_a, rest_s) = (next_a, next_s);
    }
    nanotorch_pool::run(parts, &|i| {
        let block = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((block_a, block_s)) = block {
            f(i, block_a, block_s);
        }
    });
}

/// One slot per part for [`for_each_payload`]: the caller puts each part's payload (its own
/// slices of the outputs, its workspace) in a slot, and the part takes it out.
pub(crate) type PayloadSlots<T> = [Mutex<Option<T>>; nanotorch_pool::MAX_PARTS];

/// Empty slots for [`for_each_payload`] (on the stack: nothing is allocated).
pub(crate) fn payload_slots<T>() -> PayloadSlots<T> {
    std::array::from_fn(|_| Mutex::new(None))
}

/// Runs `f(part, payload)` for each payload the caller put in `slots[..parts]`, on up to
/// `parts` threads (on the calling thread when `parts` is 1). For work split by the caller
/// into disjoint pieces of several buffers. Allocates nothing.
pub(crate) fn for_each_payload<T: Send>(
    parts: usize,
    slots: &PayloadSlots<T>,
    f: &(dyn Fn(usize, T) + Sync),
) {
    let take = |i: usize| slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
    let parts = parts.clamp(1, nanotorch_pool::MAX_PARTS);
    if parts == 1 {
        if let Some(payload) = take(0) {
            f(0, payload);
        }
        return;
    }
    nanotorch_pool::run(parts, &|i| {
        if let Some(payload) = take(i) {
            f(i, payload);
        }
    });
}
