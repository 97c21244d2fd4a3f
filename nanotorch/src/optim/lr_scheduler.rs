//! Learning-rate schedules, stepped once per epoch.

use std::f64::consts::PI;

use crate::element::Element;
use crate::error::ShapeError;
use crate::optim::Optimizer;

/// A learning rate that changes with the epoch, as `torch.optim.lr_scheduler`.
///
/// Build the schedule from the optimizer (its current learning rate becomes the base rate
/// `γ₀`, epoch 0), then call [`LrScheduler::step`] once at the end of every epoch: it advances
/// the epoch count `t` and sets the optimizer's learning rate to [`LrScheduler::lr_at`]`(t)`.
///
/// The schedules here use their closed forms, `γ_t = f(γ₀, t)`. PyTorch's `get_lr` updates
/// the rate recursively from the optimizer's current value; the two agree (up to rounding)
/// as long as nothing else changes the learning rate in between.
pub trait LrScheduler {
    /// The learning rate at epoch `epoch` (`0` is the base rate).
    fn lr_at(&self, epoch: usize) -> f64;

    /// How many times [`LrScheduler::step`] has been called (PyTorch's `last_epoch`).
    fn last_epoch(&self) -> usize;

    /// Ends an epoch: `t ← t + 1` and the optimizer's learning rate becomes `lr_at(t)`.
    fn step<E: Element, O: Optimizer<E>>(&mut self, opt: &mut O);

    /// The learning rate set by the last step (PyTorch's `get_last_lr()`).
    fn last_lr(&self) -> f64 {
        self.lr_at(self.last_epoch())
    }
}

/// Multiplies the learning rate by `gamma` every `step_size` epochs, as
/// `torch.optim.lr_scheduler.StepLR`:
///
/// ```text
/// γ_t = γ₀ · gamma^⌊t / step_size⌋
/// ```
///
/// E.g. `γ₀ = 0.1, step_size = 30, gamma = 0.1`: 0.1 for epochs 0–29, 0.01 for 30–59, …
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    base_lr: f64,
    step_size: usize,
    gamma: f64,
    epoch: usize,
}

impl StepLr {
    /// A schedule starting from `opt`'s current learning rate.
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] if `step_size` is 0.
    pub fn new<E: Element, O: Optimizer<E>>(
        opt: &O,
        step_size: usize,
        gamma: f64,
    ) -> Result<Self, ShapeError> {
        if step_size == 0 {
            return Err(ShapeError::Invalid {
                what: "StepLR: step_size must be >= 1",
                found: step_size.to_string(),
            });
        }
        Ok(Self {
            base_lr: opt.lr(),
            step_size,
            gamma,
            epoch: 0,
        })
    }

    /// Epochs between two decays.
    pub fn step_size(&self) -> usize {
        self.step_size
    }

    /// The decay factor.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
}

impl LrScheduler for StepLr {
    fn lr_at(&self, epoch: usize) -> f64 {
        let decays = (epoch / self.step_size).min(i32::MAX as usize) as i32;
        self.base_lr * self.gamma.powi(decays)
    }

    fn last_epoch(&self) -> usize {
        self.epoch
    }

    fn step<E: Element, O: Optimizer<E>>(&mut self, opt: &mut O) {
        self.epoch += 1;
        opt.set_lr(self.lr_at(self.epoch));
    }
}

/// Cosine annealing from the base rate down to `eta_min` over `t_max` epochs, as
/// `torch.optim.lr_scheduler.CosineAnnealingLR`, in closed form:
///
/// ```text
/// γ_t = η_min + (γ₀ − η_min) · (1 + cos(π·t / t_max)) / 2
/// ```
///
/// At `t = 0` this is `γ₀`, at `t = t_max` it is `η_min`. As in PyTorch (which has no
/// restarts here — that is `CosineAnnealingWarmRestarts`), stepping past `t_max` follows the
/// cosine back up: the rate is periodic with period `2·t_max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    base_lr: f64,
    t_max: usize,
    eta_min: f64,
    epoch: usize,
}

impl CosineAnnealingLr {
    /// A schedule starting from `opt`'s current learning rate (PyTorch's default `eta_min`
    /// is 0).
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] if `t_max` is 0.
    pub fn new<E: Element, O: Optimizer<E>>(
        opt: &O,
        t_max: usize,
        eta_min: f64,
    ) -> Result<Self, ShapeError> {
        if t_max == 0 {
            return Err(ShapeError::Invalid {
                what: "CosineAnnealingLR: t_max must be >= 1",
                found: t_max.to_string(),
            });
        }
        Ok(Self {
            base_lr: opt.lr(),
            t_max,
            eta_min,
            epoch: 0,
        })
    }

    /// Epochs from the base rate down to `eta_min`.
    pub fn t_max(&self) -> usize {
        self.t_max
    }

    /// The lowest learning rate.
    pub fn eta_min(&self) -> f64 {
        self.eta_min
    }
}

impl LrScheduler for CosineAnnealingLr {
    fn lr_at(&self, epoch: usize) -> f64 {
        let phase = PI * epoch as f64 / self.t_max as f64;
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + phase.cos()) / 2.0
    }

    fn last_epoch(&self) -> usize {
        self.epoch
    }

    fn step<E: Element, O: Optimizer<E>>(&mut self, opt: &mut O) {
        self.epoch += 1;
        opt.set_lr(self.lr_at(self.epoch));
    }
}
