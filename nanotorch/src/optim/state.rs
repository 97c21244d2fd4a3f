//! Per-parameter optimizer state, keyed by visit order and allocated once.

use crate::element::Element;
use crate::layer::{BufferMut, Module, ParamMut};

/// `per_elem` scalars of state for every parameter element, in one buffer.
///
/// For parameter `k` (in [`Module::visit_params`] order) with `n` elements, its state is the
/// slice `buf[per_elem·offset_k .. per_elem·(offset_k + n)]`, i.e. `per_elem` consecutive
/// blocks of `n` (first moment, second moment, ...). All zeros when created.
#[derive(Clone, Debug)]
pub(crate) struct ParamState<E> {
    /// Element count of each parameter, recorded on creation.
    lens: Vec<usize>,
    /// Number of dimensions of each parameter (2 for a `[out, in]` weight, 1 for a bias).
    ranks: Vec<usize>,
    /// State scalars per parameter element.
    per_elem: usize,
    /// Steps taken with this state (PyTorch's `state["step"]`).
    pub(crate) steps: u64,
    buf: Vec<E>,
}

impl<E: Element> ParamState<E> {
    /// Zeroed state for `model`'s parameters.
    fn new<M: Module<E> + ?Sized>(model: &mut M, per_elem: usize) -> Self {
        let (mut lens, mut ranks) = (Vec::new(), Vec::new());
        model.visit_named_params("", &mut |_, dims, p| {
            lens.push(p.value.len());
            ranks.push(dims.len());
        });
        let total: usize = lens.iter().sum();
        Self {
            lens,
            ranks,
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
        self.for_each_ranked(model, |p, st, _| f(p, st));
    }

    /// [`ParamState::for_each`], also passing each parameter's number of dimensions.
    pub(crate) fn for_each_ranked<M: Module<E> + ?Sized>(
        &mut self,
        model: &mut M,
        mut f: impl FnMut(ParamMut<'_, E>, &mut [E], usize),
    ) {
        let (lens, ranks, buf, k) = (&self.lens, &self.ranks, &mut self.buf, self.per_elem);
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
            f(p, &mut buf[offset..offset + k * n], ranks[index]);
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

impl<E: Element> ParamState<E> {
    /// Calls `f` with every state tensor: for parameter `name` (its state-dict name in `model`)
    /// and block `j`, `"state.{name}.{blocks[j]}"` with the parameter's sizes; then the step
    /// count as `"step"`, an `I64` scalar. `blocks` names the `per_elem` blocks in order.
    pub(crate) fn visit_named<M: Module<E> + ?Sized>(
        &mut self,
        model: &mut M,
        blocks: &[&str],
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
    ) {
        let mut params: Vec<(String, Vec<usize>)> = Vec::new();
        model.visit_named_params("", &mut |name, dims, _| {
            params.push((name.to_string(), dims.to_vec()))
        });
        assert!(
            params.len() == self.lens.len(),
            "optimizer used with another model: it has {} parameters, the optimizer's state \
             was built for {}",
            params.len(),
            self.lens.len()
        );
        let k = self.per_elem;
        let mut offset = 0;
        for ((name, dims), &n) in params.iter().zip(&self.lens) {
            for (j, block) in blocks.iter().take(k).enumerate() {
                let start = offset + j * n;
                f(
                    &format!("state.{name}.{block}"),
                    dims,
                    BufferMut::Values(&mut self.buf[start..start + n]),
                );
            }
            offset += k * n;
        }
        let mut steps = i64::try_from(self.steps).unwrap_or(i64::MAX);
        f("step", &[], BufferMut::Count(&mut steps));
        self.steps = u64::try_from(steps).unwrap_or(0);
    }
}
