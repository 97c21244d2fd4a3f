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
mod state;

pub use adam::Adam;
pub use adamw::AdamW;
pub use clip::clip_grad_norm;
pub use lr_scheduler::{CosineAnnealingLr, LrScheduler, StepLr};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use crate::element::Element;
use crate::error::ShapeError;
use crate::layer::Module;

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
