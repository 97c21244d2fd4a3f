//! AdamW: Adam with decoupled weight decay.

use crate::element::Element;
use crate::optim::adam::{AdamHyper, adam_family};
use crate::optim::state::ParamState;

/// AdamW, as `torch.optim.AdamW`: [`Adam`](crate::optim::Adam) whose weight decay shrinks the
/// weights directly instead of entering the gradient (Loshchilov & Hutter, "Decoupled Weight
/// Decay Regularization").
///
/// Per step `t` and parameter element:
///
/// ```text
/// θ  ← θ − γλ·θ                      decoupled decay, before the Adam update
/// m  ← β₁·m + (1 − β₁)·g
/// v  ← β₂·v + (1 − β₂)·g²
/// m̂  = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   (amsgrad: v̂ = max of all v so far / (1 − β₂ᵗ))
/// θ  ← θ − γ·m̂ / (√v̂ + ε)
/// ```
///
/// With Adam's L2 decay, `λθ` is divided by `√v̂` like the rest of the gradient, so weights
/// with large gradients are barely regularised; here every weight shrinks by the same factor
/// `1 − γλ`.
///
/// Defaults: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`, `weight_decay = 1e-2`,
/// `amsgrad = false`.
#[derive(Clone, Debug)]
pub struct AdamW<E: Element = f32> {
    hyper: AdamHyper,
    state: Option<ParamState<E>>,
}

impl<E: Element> Default for AdamW<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Element> AdamW<E> {
    /// AdamW with PyTorch's defaults.
    pub fn new() -> Self {
        Self {
            hyper: AdamHyper {
                lr: 1e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 1e-2,
                amsgrad: false,
                decoupled: true,
                decay_on: crate::optim::DecayOn::All,
            },
            state: None,
        }
    }

    /// Decoupled weight decay `λ`: each step multiplies the weights by `1 − γλ`
    /// (default `1e-2`).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.hyper.weight_decay = weight_decay;
        self
    }
}

adam_family!(AdamW, "AdamW");
