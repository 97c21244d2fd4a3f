//! AdamW: Adam with decoupled weight decay.

use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::Module;
use crate::optim::Optimizer;
use crate::optim::adam::AdamHyper;
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
            },
            state: None,
        }
    }

    /// Learning rate `γ` (default `1e-3`). (Named `with_lr` because [`Optimizer::lr`] reads
    /// it.)
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.hyper.lr = lr;
        self
    }

    /// Decay rates `(β₁, β₂)` of the moment estimates (default `(0.9, 0.999)`).
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.hyper.betas = (beta1, beta2);
        self
    }

    /// `ε`, added to the denominator for stability (default `1e-8`).
    pub fn eps(mut self, eps: f64) -> Self {
        self.hyper.eps = eps;
        self
    }

    /// Decoupled weight decay `λ`: each step multiplies the weights by `1 − γλ`
    /// (default `1e-2`).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.hyper.weight_decay = weight_decay;
        self
    }

    /// The AMSGrad variant (default off).
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.hyper.amsgrad = amsgrad;
        self
    }

    /// Checks the arguments as PyTorch's constructor does: `lr, eps, weight_decay ≥ 0` and
    /// both betas in `[0, 1)`.
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] naming the first bad argument.
    pub fn validated(self) -> Result<Self, ShapeError> {
        self.hyper.validate(&[
            "AdamW: lr must be >= 0",
            "AdamW: eps must be >= 0",
            "AdamW: beta1 must be in [0, 1)",
            "AdamW: beta2 must be in [0, 1)",
            "AdamW: weight_decay must be >= 0",
        ])?;
        Ok(self)
    }
}

impl<E: Element> Optimizer<E> for AdamW<E> {
    fn step<M: Module<E> + ?Sized>(&mut self, model: &mut M) {
        self.hyper.step(&mut self.state, model);
    }

    fn lr(&self) -> f64 {
        self.hyper.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.hyper.lr = lr;
    }
}
