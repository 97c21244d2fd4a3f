//! RMSprop: steps scaled by a running root-mean-square of the gradient.

use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::Module;
use crate::optim::state::ParamState;
use crate::optim::{Optimizer, require};

/// RMSprop, as `torch.optim.RMSprop`.
///
/// With learning rate `γ`, smoothing `α`, `ε`, momentum `μ` and weight decay `λ`, each step
/// does, per parameter element with gradient `g`:
///
/// ```text
/// g   ← g + λ·θ                         (if λ ≠ 0)
/// v   ← α·v + (1 − α)·g²                running mean of g² (v₀ = 0)
/// ṽ   = v
/// if centered:
///     ḡ ← α·ḡ + (1 − α)·g               running mean of g (ḡ₀ = 0)
///     ṽ = v − ḡ²                        a running variance instead of a second moment
/// if μ > 0:
///     b ← μ·b + g / (√ṽ + ε)            (b₀ = 0)
///     θ ← θ − γ·b
/// else:
///     θ ← θ − γ·g / (√ṽ + ε)
/// ```
///
/// There is no bias correction, so the first steps are large (`v₁ = (1 − α)g²`).
/// Defaults: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`, `weight_decay = 0`, `momentum = 0`,
/// `centered = false`. State: `v`, plus `ḡ` when centered and `b` when `μ > 0`.
///
/// ```
/// use nanotorch::optim::RmsProp;
/// let opt: RmsProp = RmsProp::new().momentum(0.9).centered(true).validated()?;
/// # Ok::<(), nanotorch::ShapeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp<E: Element = f32> {
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    state: Option<ParamState<E>>,
}

impl<E: Element> Default for RmsProp<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Element> RmsProp<E> {
    /// RMSprop with PyTorch's defaults.
    pub fn new() -> Self {
        Self {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            state: None,
        }
    }

    /// Learning rate `γ` (default `1e-2`). (Named `with_lr` because [`Optimizer::lr`] reads
    /// it.)
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Smoothing constant `α` of the running averages (default `0.99`).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// `ε`, added to the denominator for stability (default `1e-8`).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// L2 weight decay `λ`, added to the gradient as `λ·θ` (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Momentum factor `μ` (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Normalise by a running estimate of the gradient's variance instead of its second
    /// moment (default off).
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }

    /// Checks the arguments as PyTorch's constructor does: `lr, eps, momentum, weight_decay,
    /// alpha ≥ 0`.
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] naming the first bad argument.
    pub fn validated(self) -> Result<Self, ShapeError> {
        require(self.lr >= 0.0, "RMSprop: lr must be >= 0", self.lr)?;
        require(self.eps >= 0.0, "RMSprop: eps must be >= 0", self.eps)?;
        require(
            self.momentum >= 0.0,
            "RMSprop: momentum must be >= 0",
            self.momentum,
        )?;
        require(
            self.weight_decay >= 0.0,
            "RMSprop: weight_decay must be >= 0",
            self.weight_decay,
        )?;
        require(self.alpha >= 0.0, "RMSprop: alpha must be >= 0", self.alpha)?;
        Ok(self)
    }
}

impl<E: Element> Optimizer<E> for RmsProp<E> {
    fn step<M: Module<E> + ?Sized>(&mut self, model: &mut M) {
        let use_momentum = self.momentum > 0.0;
        let centered = self.centered;
        let per_elem = 1 + usize::from(centered) + usize::from(use_momentum);
        let lr = E::cast(self.lr);
        let (alpha, one_minus_alpha) = (E::cast(self.alpha), E::cast(1.0 - self.alpha));
        let eps = E::cast(self.eps);
        let mu = E::cast(self.momentum);
        let decay = self.weight_decay != 0.0;
        let wd = E::cast(self.weight_decay);
        let (state, _) = ParamState::ensure(&mut self.state, model, per_elem);
        // One element's update (`g_avg` under `centered`, `buf` under momentum); inlined into
        // the loops below, which the compiler unswitches on the flags and vectorises.
        let update =
            |value: &mut E, grad: E, v: &mut E, g_avg: Option<&mut E>, buf: Option<&mut E>| {
                let mut g = grad;
                if decay {
                    g += wd * *value;
                }
                *v = alpha * *v + one_minus_alpha * g * g;
                let mut var = *v;
                if let Some(g_avg) = g_avg {
                    *g_avg = alpha * *g_avg + one_minus_alpha * g;
                    var -= *g_avg * *g_avg;
                }
                let denom = var.sqrt() + eps;
                match buf {
                    Some(b) => {
                        *b = mu * *b + g / denom;
                        *value -= lr * *b;
                    }
                    None => *value -= lr * (g / denom),
                }
            };
        state.for_each(model, |p, st| {
            let n = p.value.len();
            let (v, rest) = st.split_at_mut(n);
            let (g_avg, buf) = rest.split_at_mut(if centered { n } else { 0 });
            let elems = p.value.iter_mut().zip(p.grad.iter()).zip(v);
            match (centered, use_momentum) {
                (false, false) => {
                    for ((value, &g), v) in elems {
                        update(value, g, v, None, None);
                    }
                }
                (true, false) => {
                    for (((value, &g), v), a) in elems.zip(g_avg) {
                        update(value, g, v, Some(a), None);
                    }
                }
                (false, true) => {
                    for (((value, &g), v), b) in elems.zip(buf) {
                        update(value, g, v, None, Some(b));
                    }
                }
                (true, true) => {
                    for ((((value, &g), v), a), b) in elems.zip(g_avg).zip(buf) {
                        update(value, g, v, Some(a), Some(b));
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

impl<E: Element> crate::optim::OptimizerState<E> for RmsProp<E> {
    /// `state.{param}.square_avg`, then `state.{param}.grad_avg` if centered and
    /// `state.{param}.momentum_buffer` with momentum, of each parameter's sizes; then `step`.
    fn visit_state<M: Module<E> + ?Sized>(
        &mut self,
        model: &mut M,
        f: &mut dyn FnMut(&str, &[usize], crate::layer::BufferMut<'_, E>),
    ) {
        let use_momentum = self.momentum > 0.0;
        let per_elem = 1 + usize::from(self.centered) + usize::from(use_momentum);
        let (state, _) = ParamState::ensure(&mut self.state, model, per_elem);
        let names = match (self.centered, use_momentum) {
            (false, false) => ["square_avg", "", ""],
            (true, false) => ["square_avg", "grad_avg", ""],
            (false, true) => ["square_avg", "momentum_buffer", ""],
            (true, true) => ["square_avg", "grad_avg", "momentum_buffer"],
        };
        state.visit_named(model, &names, f);
    }
}
