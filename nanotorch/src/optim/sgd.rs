//! Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::Module;
use crate::optim::state::ParamState;
use crate::optim::{Optimizer, require};

/// Stochastic gradient descent, as `torch.optim.SGD`.
///
/// With learning rate `γ`, momentum `μ`, dampening `τ` and weight decay `λ`, each step does,
/// for every parameter `θ` with gradient `g`:
///
/// ```text
/// g ← g + λ·θ                                  (if λ ≠ 0: L2 penalty folded into the gradient)
/// if μ ≠ 0:
///     b ← g                    on the first step
///     b ← μ·b + (1 − τ)·g      afterwards
///     g ← g + μ·b  (nesterov)  or  g ← b
/// θ ← θ − γ·g
/// ```
///
/// State: the momentum buffer `b` (one per parameter element), only when `μ ≠ 0`.
///
/// Build with [`Sgd::new`] and the chainable setters; [`Sgd::validated`] applies PyTorch's
/// argument checks:
///
/// ```
/// use nanotorch::optim::Sgd;
/// let opt: Sgd = Sgd::new(0.1).momentum(0.9).nesterov(true).validated()?;
/// # Ok::<(), nanotorch::ShapeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<E: Element = f32> {
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    state: Option<ParamState<E>>,
}

impl<E: Element> Sgd<E> {
    /// Plain SGD with learning rate `lr` (PyTorch requires one; there is no default).
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            state: None,
        }
    }

    /// Momentum factor `μ` (default 0: no momentum buffer).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Dampening `τ` of the momentum's gradient term (default 0).
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Nesterov momentum (default off); needs `μ > 0` and `τ = 0`.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// L2 weight decay `λ`, added to the gradient as `λ·θ` (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Checks the arguments as PyTorch's constructor does: `lr`, `momentum` and
    /// `weight_decay` are `≥ 0`, and Nesterov momentum has `momentum > 0` and
    /// `dampening = 0`.
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] naming the first bad argument.
    pub fn validated(self) -> Result<Self, ShapeError> {
        require(self.lr >= 0.0, "SGD: lr must be >= 0", self.lr)?;
        require(
            self.momentum >= 0.0,
            "SGD: momentum must be >= 0",
            self.momentum,
        )?;
        require(
            self.weight_decay >= 0.0,
            "SGD: weight_decay must be >= 0",
            self.weight_decay,
        )?;
        if self.nesterov {
            require(
                self.momentum > 0.0,
                "SGD: nesterov needs momentum > 0",
                self.momentum,
            )?;
            require(
                self.dampening == 0.0,
                "SGD: nesterov needs dampening = 0",
                self.dampening,
            )?;
        }
        Ok(self)
    }
}

impl<E: Element> Optimizer<E> for Sgd<E> {
    fn step<M: Module<E> + ?Sized>(&mut self, model: &mut M) {
        let lr = E::cast(self.lr);
        let wd = E::cast(self.weight_decay);
        let decay = self.weight_decay != 0.0;
        let use_momentum = self.momentum != 0.0;
        let mu = E::cast(self.momentum);
        let one_minus_tau = E::cast(1.0 - self.dampening);
        let nesterov = self.nesterov;
        let (state, _) = ParamState::ensure(&mut self.state, model, usize::from(use_momentum));
        // PyTorch's first momentum step stores the gradient itself. Counted by the step, so a
        // state loaded from a training checkpoint saved before any step behaves the same.
        let first = state.steps == 0;
        // The option tests are hoisted out of the element loops, so each loop is a plain
        // pass over contiguous slices that the compiler vectorises.
        state.for_each(model, |p, buf| {
            let pairs = p.value.iter_mut().zip(p.grad.iter());
            match (use_momentum, decay) {
                (false, false) => {
                    for (value, &g) in pairs {
                        *value -= lr * g;
                    }
                }
                (false, true) => {
                    for (value, &g) in pairs {
                        let g = g + wd * *value;
                        *value -= lr * g;
                    }
                }
                (true, _) => {
                    for ((value, &grad), b) in pairs.zip(buf.iter_mut()) {
                        let mut g = grad;
                        if decay {
                            g += wd * *value;
                        }
                        *b = if first {
                            g
                        } else {
                            mu * *b + one_minus_tau * g
                        };
                        g = if nesterov { g + mu * *b } else { *b };
                        *value -= lr * g;
                    }
                }
            }
        });
        state.steps += 1;
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

impl<E: Element> crate::optim::OptimizerState<E> for Sgd<E> {
    /// With momentum, `state.{param}.momentum_buffer` of each parameter's sizes; then `step`.
    fn visit_state<M: Module<E> + ?Sized>(
        &mut self,
        model: &mut M,
        f: &mut dyn FnMut(&str, &[usize], crate::layer::BufferMut<'_, E>),
    ) {
        let per_elem = usize::from(self.momentum != 0.0);
        let (state, _) = ParamState::ensure(&mut self.state, model, per_elem);
        state.visit_named(model, &["momentum_buffer"], f);
    }
}
