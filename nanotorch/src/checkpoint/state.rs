//! [`WithState`]: a model and the recurrent state a training run carries between batches,
//! saved and loaded as one state dict.

use crate::element::Element;
use crate::layer::{BufferMut, Module, ParamMut};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A model together with tensors that are not its parameters — the state a run with truncated
/// backpropagation through time carries from one batch to the next — seen as one module: the
/// model's parameters and buffers under their own names, then each state tensor as a buffer
/// under the name it is given. Optimizers see only the model's parameters.
///
/// Saved with [`save_training`](super::save_training), a resumed run starts its next batch
/// from the state the interrupted one would have: without it, the resumed run would start its
/// streams from a zero state and differ from an uninterrupted run. To load, the state tensors
/// must already have the saved sizes (e.g. zeros of `[B, H]`).
///
/// ```
/// use nanotorch::checkpoint::{self, WithState};
/// use nanotorch::optim::Adam;
/// use nanotorch::shape::{Dyn, U2, U3};
/// use nanotorch::{Init, Linear, Tensor, seeded_rng};
///
/// let dir = std::env::temp_dir().join(format!("nanotorch-doc-state-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("train.safetensors");
///
/// let mut net = Linear::<U3, U2>::init(&mut seeded_rng(0));
/// let mut h = Tensor::<(Dyn, U2)>::from_slice(&[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
/// let mut opt: Adam = Adam::new();
/// checkpoint::save_training(&mut WithState::new(&mut net, vec![("state.h", &mut h)]), &mut opt, 7, &path)?;
///
/// let mut h2 = Tensor::<(Dyn, U2)>::zeros((Dyn(2), U2::default()));
/// let step = checkpoint::load_training(&mut WithState::new(&mut net, vec![("state.h", &mut h2)]), &mut opt, &path)?;
/// assert_eq!((step, h2.as_slice()), (7, &[1.0, 2.0, 3.0, 4.0][..]));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WithState<'a, M: ?Sized, S: Shape, E: Element> {
    model: &'a mut M,
    state: Vec<(&'a str, &'a mut Tensor<S, E>)>,
}

impl<'a, M: ?Sized, S: Shape, E: Element> WithState<'a, M, S, E> {
    /// `model` with the named `state` tensors.
    pub fn new(model: &'a mut M, state: Vec<(&'a str, &'a mut Tensor<S, E>)>) -> Self {
        Self { model, state }
    }
}

impl<M: Module<E> + ?Sized, S: Shape, E: Element> Module<E> for WithState<'_, M, S, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        self.model.visit_params(f);
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        self.model.visit_named_params(prefix, f);
    }

    fn visit_named_buffers(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
    ) {
        self.model.visit_named_buffers(prefix, f);
        for (name, tensor) in &mut self.state {
            let dims = tensor.dims().to_vec();
            f(
                &format!("{prefix}{name}"),
                &dims,
                BufferMut::Values(tensor.as_slice_mut()),
            );
        }
    }

    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
    }
}
