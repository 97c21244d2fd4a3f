//! Moving values between a sequence `[B, T, F]` and its time steps `[B, F]`: what a scan over
//! the time axis (a recurrent network's loop, written by `network!`) reads and writes at each
//! step. Pure data movement: the gradient of taking a step is putting it back, and the other
//! way round.

use crate::element::Element;
use crate::shape::{Dim, StaticDim};
use crate::tensor::Tensor;

/// `step = x[:, t, :]`: time step `t` of a batch of sequences.
///
/// - **Forward:** `step[b, f] = x[b, t, f]`, for `x: [B, T, F]`, `step: [B, F]`.
/// - **Backward:** `∂L/∂x[:, t, :] += ∂L/∂step` — [`add_time_step_into`].
/// - **Saves:** nothing.
///
/// `t` must be below `T` (a scan's loop counts to `T`): a larger `t` is a bug in the caller and
/// panics.
pub fn time_step_into<B: Dim, T: StaticDim, F: Dim, E: Element>(
    x: &Tensor<(B, T, F), E>,
    t: usize,
    step: &mut Tensor<(B, F), E>,
) {
    let (b, _, f) = x.shape();
    step.resize_to((b, f));
    let width = f.size();
    let src = x.as_slice();
    for (row, dst) in step
        .as_slice_mut()
        .chunks_exact_mut(width.max(1))
        .enumerate()
    {
        let start = (row * T::SIZE + t) * width;
        dst.copy_from_slice(&src[start..start + width]);
    }
}

/// `acc += x[:, t, :]`: adds time step `t` of a sequence onto a `[B, F]` value — the gradient a
/// step's output receives from the sequence of outputs, added to what the next step sent back.
///
/// - **Forward:** `acc[b, f] += x[b, t, f]`.
/// - **Saves:** nothing. `acc` must already have `x`'s batch and width (panics otherwise: a
///   scan's buffers have them by construction).
pub fn add_time_step_into<B: Dim, T: StaticDim, F: Dim, E: Element>(
    x: &Tensor<(B, T, F), E>,
    t: usize,
    acc: &mut Tensor<(B, F), E>,
) {
    let width = x.shape().2.size();
    assert_eq!(
        acc.dims(),
        [x.dims()[0], width],
        "the step has the sequence's batch and width"
    );
    let src = x.as_slice();
    for (row, dst) in acc
        .as_slice_mut()
        .chunks_exact_mut(width.max(1))
        .enumerate()
    {
        let start = (row * T::SIZE + t) * width;
        for (a, v) in dst.iter_mut().zip(&src[start..start + width]) {
            *a += *v;
        }
    }
}

/// `x[:, t, :] = step`: writes time step `t` of a sequence (resized to `step`'s batch and
/// width, with `T` steps, if it does not have them).
///
/// - **Forward:** `x[b, t, f] = step[b, f]`.
/// - **Backward:** `∂L/∂step = ∂L/∂x[:, t, :]` — [`time_step_into`].
/// - **Saves:** nothing.
pub fn set_time_step<B: Dim, T: StaticDim, F: Dim, E: Element>(
    step: &Tensor<(B, F), E>,
    t: usize,
    x: &mut Tensor<(B, T, F), E>,
) {
    let (b, f) = step.shape();
    x.resize_to((b, T::default(), f));
    let width = f.size();
    let dst = x.as_slice_mut();
    for (row, src) in step.as_slice().chunks_exact(width.max(1)).enumerate() {
        let start = (row * T::SIZE + t) * width;
        dst[start..start + width].copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{Dyn, U2, U3};

    #[test]
    fn steps_out_and_back_in() {
        let x =
            Tensor::<(Dyn, U3, U2), f64>::from_vec(&[2, 3, 2], (0..12).map(f64::from).collect())
                .unwrap();
        let mut step = Tensor::default();
        time_step_into(&x, 1, &mut step);
        assert_eq!(step.as_slice(), [2.0, 3.0, 8.0, 9.0]);
        let mut y = Tensor::<(Dyn, U3, U2), f64>::default();
        for t in 0..3 {
            time_step_into(&x, t, &mut step);
            set_time_step(&step, t, &mut y);
        }
        assert_eq!(y, x);
        let mut acc = Tensor::<(Dyn, U2), f64>::ones((Dyn(2), U2::default()));
        add_time_step_into(&x, 2, &mut acc);
        assert_eq!(acc.as_slice(), [5.0, 6.0, 11.0, 12.0]);
    }
}
