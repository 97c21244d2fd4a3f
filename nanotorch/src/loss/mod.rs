//! Loss functions with **fused** gradients.
//!
//! A loss ends the chain rule: it turns a network's output into one number `L`. Each function
//! here returns that number *and* `∂L/∂input` in one call, so the gradient to hand to the
//! network's `backward` comes out of the same pass over the data, with no upstream `dL = 1` and
//! no saved activations. Every loss has an `_into` variant that writes the gradient into an
//! existing tensor (resized only if the batch size changed), so a training step can run
//! without allocating.
//!
//! | function | input | target | PyTorch |
//! |---|---|---|---|
//! | [`mse_loss`] | predictions, any shape | same shape | `F.mse_loss` |
//! | [`cross_entropy`] | logits `[B, C]` | `B` class indices | `F.cross_entropy` |
//! | [`cross_entropy_seq`] | logits `[B, T, V]` | `B·T` indices or `None` | `F.cross_entropy(.., ignore_index=-1)` on `[B·T, V]` |
//! | [`nll_loss`] | log-probabilities `[B, C]` | `B` class indices | `F.nll_loss` |
//! | [`bce_with_logits`] | logits, any shape | probabilities, same shape | `F.binary_cross_entropy_with_logits` |
//!
//! **Reduction.** Each loss first computes one term per element (or per row, for the
//! class-index losses) and then combines them as [`Reduction`] says: [`Reduction::Mean`] (the
//! default, as in PyTorch) divides the sum by the number `n` of terms, [`Reduction::Sum`] does
//! not. The gradient is scaled by the same factor (`1/n` or `1`).
//!
//! **Empty batches.** With no terms, `Sum` gives `0` and `Mean` gives `0/0 = NaN`, exactly as
//! PyTorch does; the gradient is then an empty tensor. Sums are accumulated in `f64` whatever
//! the element type, then rounded once.

mod bce;
mod cross_entropy;
mod mse;

pub use bce::{bce_with_logits, bce_with_logits_into};
pub use cross_entropy::{
    cross_entropy, cross_entropy_into, cross_entropy_seq, cross_entropy_seq_into, nll_loss,
    nll_loss_into,
};
pub use mse::{mse_loss, mse_loss_into};

use crate::error::ShapeError;
use crate::shape::{Dim, fmt_dims};
use crate::tensor::Tensor;

/// What the allocating losses return: the loss value `L` and `∂L/∂input`, a tensor of the
/// input's shape `S`.
pub type LossAndGrad<S, E> = (E, Tensor<S, E>);

/// How a loss combines its per-element terms, as PyTorch's `reduction=` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The average over the `n` terms: `L = (1/n) Σ lᵢ` (PyTorch's default). `NaN` when `n = 0`.
    #[default]
    Mean,
    /// The plain sum: `L = Σ lᵢ`. `0` when `n = 0`.
    Sum,
}

impl Reduction {
    /// The factor the summed terms — and therefore the gradient — are multiplied by:
    /// `1/n` for [`Reduction::Mean`] (`+∞` when `n = 0`, which makes the empty mean `NaN`),
    /// `1` for [`Reduction::Sum`].
    pub fn scale(self, n: usize) -> f64 {
        match self {
            Reduction::Mean => 1.0 / n as f64,
            Reduction::Sum => 1.0,
        }
    }

    /// Combines a sum of `n` terms: `sum · scale(n)`, except that an empty sum stays `0`
    /// under [`Reduction::Sum`] and is `NaN` under [`Reduction::Mean`].
    pub(crate) fn finish(self, sum: f64, n: usize) -> f64 {
        match (self, n) {
            (Reduction::Mean, 0) => f64::NAN,
            _ => sum * self.scale(n),
        }
    }
}

/// Checks that a class-index target list fits logits of `batch` rows and `classes` columns.
pub(crate) fn check_class_targets<B: Dim, C: Dim>(
    what: &'static str,
    batch: B,
    classes: C,
    targets: &[usize],
) -> Result<(), ShapeError> {
    if targets.len() != batch.size() {
        return Err(ShapeError::RuntimeDim {
            what,
            left: targets.len(),
            right: batch.size(),
        });
    }
    match targets.iter().position(|&y| y >= classes.size()) {
        Some(position) => Err(ShapeError::ClassIndex {
            position,
            index: targets[position],
            classes: classes.size(),
        }),
        None => Ok(()),
    }
}

/// Checks that a target tensor has the input's sizes (runtime dims may differ even when the
/// types agree).
pub(crate) fn check_same_dims(input: &[usize], target: &[usize]) -> Result<(), ShapeError> {
    if input == target {
        Ok(())
    } else {
        Err(ShapeError::Shape {
            expected: fmt_dims(input),
            found: fmt_dims(target),
        })
    }
}
