//! Optimizers, learning-rate schedules and gradient clipping, with PyTorch's update formulas
//! and defaults.
//!
//! A training step is
//!
//! ```text
//! model.zero_grad();                       // grads = 0            (on the Module)
//! let y = model.forward(&x);
//! let (loss, dy) = cross_entropy(&y, &labels, Reduction::Mean)?;
//! model.backward_params(&dy);              // grads += ∂L/∂θ
//! clip_grad_norm(&mut model, 1.0);         // optional
//! opt.step(&mut model);                    // θ ← update(θ, grads, state)
//! ```
//!
//! and once per epoch `scheduler.step(&mut opt)`.
//!
//! **Parameters and state.** An optimizer sees a model only through
//! [`Module::visit_params`]: a fixed sequence of flat
//! `(value, grad)` slices. Per-parameter state (momentum buffers, moment estimates) is
//! allocated on the first [`Optimizer::step`] that needs it, as one buffer laid out in visit
//! order; later steps allocate nothing. An optimizer therefore belongs to one model: stepping
//! it with a model whose parameter sizes differ is a bug and panics with the sizes.
//!
//! **Precision.** Hyperparameters are `f64` (as Python floats in PyTorch). Per-step scalars
//! such as Adam's bias corrections are computed in `f64` and rounded once to the element type;
//! the elementwise updates run in the element type, as PyTorch's kernels do.
//!
//! **Parameter groups.** An optimizer has one group: the same hyperparameters for every
//! parameter. The one split that training recipes commonly need — weight decay on matrices,
//! none on biases and norms (nanoGPT, minGPT) — is [`DecayOn::Matrices`] on Adam and AdamW.
//!
//! **Saving state.** Every optimizer here implements [`OptimizerState`]: its buffers (moments,
//! momentum) and step count go into a training checkpoint
//! ([`checkpoint::save_training`](crate::checkpoint::save_training)), so a resumed run
//! continues bit for bit.
//!
//! | optimizer | PyTorch | defaults |
//! |---|---|---|
//! | [`Sgd`] | `torch.optim.SGD` | lr required, momentum 0, dampening 0, nesterov off, weight decay 0 |
//! | [`Adam`] | `torch.optim.Adam` | lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, amsgrad off |
//! | [`AdamW`] | `torch.optim.AdamW` | as Adam, but weight decay 1e-2, decoupled |
//! | [`RmsProp`] | `torch.optim.RMSprop` | lr 1e-2, alpha 0.99, eps 1e-8, momentum 0, centered off, weight decay 0 |

mod adam;
mod adamw;
mod clip;
mod lr_scheduler;
mod rmsprop;
mod sgd;
pub(crate) mod state;

pub use adam::Adam;
pub use adamw::AdamW;
pub use clip::clip_grad_norm;
pub use lr_scheduler::{CosineAnnealingLr, LrScheduler, StepLr};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::{BufferMut, Module};

/// Which parameters an optimizer's weight decay applies to — the common use of PyTorch's
/// parameter groups.
///
/// nanoGPT builds two groups, `[p for p in params if p.dim() >= 2]` with weight decay and the
/// rest without: matrices (linear weights, embedding tables, convolution kernels) are decayed,
/// biases and the gains and shifts of LayerNorm and BatchNorm are not. [`DecayOn::Matrices`]
/// is that rule, by the number of dimensions each parameter has in
/// [`Module::visit_named_params`].
///
/// ```
/// use nanotorch::optim::{AdamW, DecayOn};
/// let opt: AdamW = AdamW::new().weight_decay(0.1).decay_on(DecayOn::Matrices);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecayOn {
    /// Every parameter (one parameter group; the default).
    #[default]
    All,
    /// Only parameters of 2 or more dimensions.
    Matrices,
}

impl DecayOn {
    /// Whether a parameter of `rank` dimensions is decayed.
    pub fn applies(self, rank: usize) -> bool {
        match self {
            Self::All => true,
            Self::Matrices => rank >= 2,
        }
    }
}

/// An optimizer whose state can be saved and loaded (by
/// [`checkpoint::save_training`](crate::checkpoint::save_training) and
/// [`checkpoint::load_training`](crate::checkpoint::load_training)), so training resumes
/// exactly where it stopped.
pub trait OptimizerState<E: Element> {
    /// Calls `f` with every state tensor: its name, its sizes and its data, which `f` may read
    /// or overwrite. Names follow PyTorch's `optimizer.state_dict()["state"]` keys, under the
    /// parameter's state-dict name instead of its index: `state.fc1.weight.exp_avg`; the step
    /// count is `step`, an `I64` scalar. If the optimizer has no state yet (no step taken), it
    /// is created for `model` first: zeros and step 0.
    ///
    /// # Panics
    /// As [`Optimizer::step`], if the state was built for another model.
    fn visit_state<M: Module<E> + ?Sized>(
        &mut self,
        model: &mut M,
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
    );
}

/// An update rule for a model's parameters, as a `torch.optim` optimizer with one parameter
/// group.
pub trait Optimizer<E: Element> {
    /// Updates every parameter of `model` from the gradient accumulated in it since the last
    /// `zero_grad` (which stays on the [`Module`]). The first call allocates the optimizer's
    /// state for this model; later calls allocate nothing.
    ///
    /// # Panics
    /// If `model`'s parameters differ in number or sizes from those of the first step (the
    /// optimizer was built for another model).
    fn step<M: Module<E> + ?Sized>(&mut self, model: &mut M);

    /// The current learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate used by the next steps (what schedules call).
    fn set_lr(&mut self, lr: f64);
}

/// `Err(Invalid)` unless `ok`; used by the optimizers' `validated` checks.
pub(crate) fn require(ok: bool, what: &'static str, found: f64) -> Result<(), ShapeError> {
    if ok {
        Ok(())
    } else {
        Err(ShapeError::Invalid {
            what,
            found: found.to_string(),
        })
    }
}
