//! Gradient clipping by global norm.

use crate::element::Element;
use crate::layer::Module;

/// Rescales all of `model`'s gradients together so that their global L2 norm is at most
/// `max_norm`, as `torch.nn.utils.clip_grad_norm_` (with `norm_type = 2`). Returns the norm
/// **before** clipping (useful to log: a spike means an exploding gradient).
///
/// ```text
/// N     = √(Σ over every gradient element of g²)      one norm across all parameters
/// scale = max_norm / (N + 1e-6)
/// g     ← g · scale      only if scale < 1; otherwise the gradients are left as they are
/// ```
///
/// The `1e-6` keeps the division finite when every gradient is zero. The sum of squares is
/// accumulated in `f64`. A non-finite norm is returned as is (PyTorch's default
/// `error_if_nonfinite = False`) and the gradients are scaled by `max_norm / ∞ = 0` or by
/// `NaN`, as in PyTorch — the step that follows is then worthless, so check the norm.
/// Allocates nothing.
pub fn clip_grad_norm<E: Element, M: Module<E> + ?Sized>(model: &mut M, max_norm: f64) -> E {
    let mut sum_sq = 0.0;
    model.visit_params(&mut |p| {
        sum_sq += p.grad.iter().map(|g| g.as_f64() * g.as_f64()).sum::<f64>();
    });
    let norm = sum_sq.sqrt();
    let scale = max_norm / (norm + 1e-6);
    // A NaN norm scales too, poisoning the gradients as in PyTorch.
    if scale.is_nan() || scale < 1.0 {
        let scale = E::cast(scale);
        model.visit_params(&mut |p| p.grad.iter_mut().for_each(|g| *g *= scale));
    }
    E::cast(norm)
}
