//! Adam, and the moment-estimate update it shares with [`AdamW`](crate::optim::AdamW).

use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::Module;
use crate::optim::state::ParamState;
use crate::optim::{DecayOn, require};

/// The hyperparameters of Adam and AdamW, and the one update both run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamHyper {
    pub(crate) lr: f64,
    pub(crate) betas: (f64, f64),
    pub(crate) eps: f64,
    pub(crate) weight_decay: f64,
    pub(crate) amsgrad: bool,
    /// AdamW: decay the weights directly (`θ ← θ·(1 − γλ)`) instead of adding `λθ` to `g`.
    pub(crate) decoupled: bool,
    /// Which parameters the weight decay applies to.
    pub(crate) decay_on: DecayOn,
}

impl AdamHyper {
    /// PyTorch's argument checks, shared by both optimizers.
    pub(crate) fn validate(&self, name: &'static [&'static str; 5]) -> Result<(), ShapeError> {
        let (b1, b2) = self.betas;
        require(self.lr >= 0.0, name[0], self.lr)?;
        require(self.eps >= 0.0, name[1], self.eps)?;
        require((0.0..1.0).contains(&b1), name[2], b1)?;
        require((0.0..1.0).contains(&b2), name[3], b2)?;
        require(self.weight_decay >= 0.0, name[4], self.weight_decay)
    }

    /// One Adam/AdamW step over `model`, with its state in `slot`.
    ///
    /// With `t` the step number (from 1), per element:
    /// `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`, (amsgrad: `v_max ← max(v_max, v)`, used in
    /// place of `v`), then `θ ← θ − (γ/(1 − β₁ᵗ))·m / (√v/√(1 − β₂ᵗ) + ε)` — the algebraic
    /// rearrangement of `θ ← θ − γ·m̂/(√v̂ + ε)` with `m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 − β₂ᵗ)`
    /// that keeps the bias corrections as two scalars.
    pub(crate) fn step<E: Element, M: Module<E> + ?Sized>(
        &self,
        slot: &mut Option<ParamState<E>>,
        model: &mut M,
    ) {
        let per_elem = if self.amsgrad { 3 } else { 2 };
        let (state, _) = ParamState::ensure(slot, model, per_elem);
        state.steps += 1;
        let t = state.steps as f64;
        let (b1, b2) = self.betas;
        let step_size = E::cast(self.lr / (1.0 - b1.powf(t)));
        let bc2_sqrt = E::cast((1.0 - b2.powf(t)).sqrt());
        let (beta1, beta2) = (E::cast(b1), E::cast(b2));
        let (one_minus_b1, one_minus_b2) = (E::cast(1.0 - b1), E::cast(1.0 - b2));
        let eps = E::cast(self.eps);
        let decay_any = self.weight_decay != 0.0;
        let decay_on = self.decay_on;
        let l2 = E::cast(self.weight_decay);
        let shrink = E::cast(1.0 - self.lr * self.weight_decay);
        let (decoupled, amsgrad) = (self.decoupled, self.amsgrad);
        // One element's update; `v_max` is `Some` under amsgrad. Inlined into the two loops
        // below, which the compiler unswitches on the flags and vectorises.
        let update =
            |decay: bool, value: &mut E, grad: E, m: &mut E, v: &mut E, v_max: Option<&mut E>| {
                let mut g = grad;
                if decay {
                    if decoupled {
                        *value *= shrink;
                    } else {
                        g += l2 * *value;
                    }
                }
                *m = beta1 * *m + one_minus_b1 * g;
                *v = beta2 * *v + one_minus_b2 * g * g;
                let second = match v_max {
                    Some(v_max) => {
                        *v_max = v_max.max(*v);
                        *v_max
                    }
                    None => *v,
                };
                let denom = second.sqrt() / bc2_sqrt + eps;
                *value -= step_size * (*m / denom);
            };
        state.for_each_ranked(model, |p, st, rank| {
            let decay = decay_any && decay_on.applies(rank);
            let n = p.value.len();
            let (m, rest) = st.split_at_mut(n);
            let (v, v_max) = rest.split_at_mut(n);
            let elems = p.value.iter_mut().zip(p.grad.iter()).zip(m).zip(v);
            if amsgrad {
                for ((((value, &g), m), v), v_max) in elems.zip(v_max) {
                    update(decay, value, g, m, v, Some(v_max));
                }
            } else {
                for (((value, &g), m), v) in elems {
                    update(decay, value, g, m, v, None);
                }
            }
        });
    }
}

/// Adam, as `torch.optim.Adam`: per-element step sizes from running estimates of the
/// gradient's first and second moments.
///
/// With learning rate `γ`, betas `(β₁, β₂)`, `ε` and weight decay `λ`, step `t = 1, 2, …` does,
/// per parameter element with gradient `g`:
///
/// ```text
/// g  ← g + λ·θ                       (if λ ≠ 0: L2 penalty in the gradient — see AdamW)
/// m  ← β₁·m + (1 − β₁)·g             first moment (m₀ = 0)
/// v  ← β₂·v + (1 − β₂)·g²            second moment (v₀ = 0)
/// m̂  = m / (1 − β₁ᵗ)                 bias corrections for the zero start
/// v̂  = v / (1 − β₂ᵗ)                 (amsgrad: v_max ← max(v_max, v), v̂ = v_max / (1 − β₂ᵗ))
/// θ  ← θ − γ·m̂ / (√v̂ + ε)
/// ```
///
/// Defaults: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`, `weight_decay = 0`,
/// `amsgrad = false`. State: `m`, `v` (and `v_max`) per element, and the step count `t`.
///
/// ```
/// use nanotorch::optim::Adam;
/// let opt: Adam = Adam::new().with_lr(3e-4).betas(0.9, 0.98).validated()?;
/// # Ok::<(), nanotorch::ShapeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Adam<E: Element = f32> {
    hyper: AdamHyper,
    state: Option<ParamState<E>>,
}

impl<E: Element> Default for Adam<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Element> Adam<E> {
    /// Adam with PyTorch's defaults.
    pub fn new() -> Self {
        Self {
            hyper: AdamHyper {
                lr: 1e-3,
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
                amsgrad: false,
                decoupled: false,
                decay_on: DecayOn::All,
            },
            state: None,
        }
    }

    /// L2 weight decay `λ`, added to the gradient as `λ·θ` (default 0). For decoupled decay
    /// use [`AdamW`](crate::optim::AdamW).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.hyper.weight_decay = weight_decay;
        self
    }
}

/// The builder setters and the `Optimizer` impl that [`Adam`] and
/// [`AdamW`](crate::optim::AdamW) share (both are an [`AdamHyper`] plus their state); only
/// `weight_decay` differs in meaning, so each type writes that one itself.
macro_rules! adam_family {
    ($ty:ident, $name:literal) => {
        impl<E: Element> $ty<E> {
            /// Learning rate `γ` (default `1e-3`). (Named `with_lr` because
            /// [`Optimizer::lr`](crate::optim::Optimizer::lr) reads it.)
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

            /// The AMSGrad variant: divide by the running maximum of `v` (default off).
            pub fn amsgrad(mut self, amsgrad: bool) -> Self {
                self.hyper.amsgrad = amsgrad;
                self
            }

            /// Which parameters the weight decay applies to (default [`DecayOn::All`], as
            /// one PyTorch parameter group). [`DecayOn::Matrices`] is nanoGPT's two groups:
            /// decay on every parameter of 2 or more dimensions, none on biases and norms.
            ///
            /// [`DecayOn::All`]: crate::optim::DecayOn::All
            /// [`DecayOn::Matrices`]: crate::optim::DecayOn::Matrices
            pub fn decay_on(mut self, decay_on: $crate::optim::DecayOn) -> Self {
                self.hyper.decay_on = decay_on;
                self
            }

            /// Checks the arguments as PyTorch's constructor does: `lr, eps, weight_decay ≥ 0`
            /// and both betas in `[0, 1)`.
            ///
            /// # Errors
            /// [`ShapeError::Invalid`](crate::ShapeError::Invalid) naming the first bad
            /// argument.
            pub fn validated(self) -> Result<Self, crate::error::ShapeError> {
                self.hyper.validate(&[
                    concat!($name, ": lr must be >= 0"),
                    concat!($name, ": eps must be >= 0"),
                    concat!($name, ": beta1 must be in [0, 1)"),
                    concat!($name, ": beta2 must be in [0, 1)"),
                    concat!($name, ": weight_decay must be >= 0"),
                ])?;
                Ok(self)
            }
        }

        impl<E: Element> $crate::optim::Optimizer<E> for $ty<E> {
            fn step<M: $crate::layer::Module<E> + ?Sized>(&mut self, model: &mut M) {
                self.hyper.step(&mut self.state, model);
            }

            fn lr(&self) -> f64 {
                self.hyper.lr
            }

            fn set_lr(&mut self, lr: f64) {
                self.hyper.lr = lr;
            }
        }

        impl<E: Element> $crate::optim::OptimizerState<E> for $ty<E> {
            /// `state.{param}.exp_avg` and `state.{param}.exp_avg_sq` (and, with amsgrad,
            /// `state.{param}.max_exp_avg_sq`) of each parameter's sizes, then `step`.
            fn visit_state<M: $crate::layer::Module<E> + ?Sized>(
                &mut self,
                model: &mut M,
                f: &mut dyn FnMut(&str, &[usize], $crate::layer::BufferMut<'_, E>),
            ) {
                let per_elem = if self.hyper.amsgrad { 3 } else { 2 };
                let (state, _) =
                    $crate::optim::state::ParamState::ensure(&mut self.state, model, per_elem);
                state.visit_named(model, &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"], f);
            }
        }
    };
}
pub(crate) use adam_family;

adam_family!(Adam, "Adam");
