//! Per-parameter optimizer state, keyed by visit order and allocated once.

use crate::element::Element;
use crate::layer::{Module, ParamMut};

/// `per_elem` scalars of state for every parameter element, in one buffer.
///
/// For parameter `k` (in [`Module::visit_params`] order) with `n` elements, its state is the
/// slice `buf[per_elem·offset_k .. per_elem·(offset_k + n)]`, i.e. `per_elem` consecutive
/// blocks of `n` (first moment, second moment, ...). All zeros when created.
#[derive(Clone, Debug)]
pub(crate) struct ParamState<E> {
    /// Element count of each parameter, recorded on creation.
    lens: Vec<usize>,
    /// State scalars per parameter element.
    per_elem: usize,
    /// Steps taken with this state (PyTorch's `state["step"]`).
    pub(crate) steps: u64,
    buf: Vec<E>,
}

impl<E: Element> ParamState<E> {
    /// Zeroed state for `model`'s parameters.
    fn new<M: Module<E> + ?Sized>(model: &mut M, per_elem: usize) -> Self {
        let mut lens = Vec::new();
        model.visit_params(&mut |p| lens.push(p.value.len()));
        let total: usize = lens.iter().sum();
        Self {
            lens,
            per_elem,
            steps: 0,
            buf: vec![E::zero(); total * per_elem],
        }
    }

    /// Makes `slot` hold state with `per_elem` scalars per element for `model`, creating it on
    /// the first call (or if the optimizer's options changed how much state it needs).
    /// Returns the state and whether it was just created.
    pub(crate) fn ensure<'a, M: Module<E> + ?Sized>(
        slot: &'a mut Option<Self>,
        model: &mut M,
        per_elem: usize,
    ) -> (&'a mut Self, bool) {
        let fresh = !matches!(slot, Some(s) if s.per_elem == per_elem);
        if fresh {
            *slot = Some(Self::new(model, per_elem));
        }
        (slot.as_mut().expect("the state was just set"), fresh)
    }

    /// Calls `f` with every parameter of `model` and that parameter's state slice
    /// (`per_elem · n` scalars), in visit order. Allocates nothing.
    ///
    /// # Panics
    /// If the model's parameter sizes are not those recorded when the state was created.
    pub(crate) fn for_each<M: Module<E> + ?Sized>(
        &mut self,
        model: &mut M,
        mut f: impl FnMut(ParamMut<'_, E>, &mut [E]),
    ) {
        let (lens, buf, k) = (&self.lens, &mut self.buf, self.per_elem);
        let mut index = 0;
        let mut offset = 0;
        model.visit_params(&mut |p| {
            let n = p.value.len();
            assert!(
                lens.get(index) == Some(&n) && p.grad.len() == n,
                "optimizer used with another model: parameter #{index} has {n} elements \
                 (gradient {}), the optimizer's state was built for {:?}",
                p.grad.len(),
                lens.get(index),
            );
            f(p, &mut buf[offset..offset + k * n]);
            index += 1;
            offset += k * n;
        });
        assert!(
            index == lens.len(),
            "optimizer used with another model: it has {index} parameters, the optimizer's \
             state was built for {}",
            lens.len()
        );
    }
}
