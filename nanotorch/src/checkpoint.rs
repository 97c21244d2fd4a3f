//! Checkpoints: a model's parameters saved to and loaded from a
//! [safetensors](https://huggingface.co/docs/safetensors) file, under PyTorch's state-dict
//! names and layouts — so a file written here loads in PyTorch with
//! `safetensors.torch.load_file` + `model.load_state_dict`, and a PyTorch `state_dict` saved
//! with `safetensors.torch.save_file` loads here.
//!
//! - **Names and layouts:** those of [`Module::visit_named_params`]: `"fc1.weight"` is
//!   `[out, in]`, `"fc1.bias"` is `[out]`, row-major — exactly PyTorch's.
//! - **Buffers too**, as PyTorch's `state_dict()` holds them: after the parameters, every
//!   [`Module::visit_named_buffers`] entry — BatchNorm's `running_mean` and `running_var` in the
//!   model's float type, and `num_batches_tracked` as an `I64` scalar (shape `[]`), which
//!   must be `I64` in a loaded file (it is a count, never converted, not even with
//!   [`LoadOptions::convert_dtypes`]; PyTorch always writes it as int64). Buffers are checked
//!   and loaded exactly like parameters: a file without them is a
//!   [`Problem::Missing`] for each.
//! - **Byte for byte PyTorch's file:** the safetensors writer orders the tensors by dtype,
//!   then name, whatever order they come in, so saving a state loaded from PyTorch gives the
//!   bytes of `safetensors.torch.save_file(model.state_dict(), path, metadata={"format": "pt"})`
//!   (checked by `tests/parity_cnn.rs`, safetensors 0.8 on both sides).
//! - **Saving is atomic:** the file is written under a temporary name in the same directory,
//!   flushed to disk, then renamed over the target. A crash or an error mid-save leaves the
//!   previous checkpoint intact.
//! - **Loading checks everything before changing anything:** missing and unexpected names,
//!   shapes and dtypes. Every mismatch is reported, by name, in one
//!   [`CheckpointError::Mismatch`]; the model is untouched unless the whole file fits.
//! - **Dtypes:** by default an `F32` model takes only `F32` tensors and an `F64` model only
//!   `F64` — a silent `f64 → f32` narrowing would make a saved model come back different.
//!   PyTorch's `load_state_dict` converts instead; ask for that with
//!   [`LoadOptions::convert_dtypes`] (between `F32` and `F64` only).
//! - A corrupt or truncated file is a [`CheckpointError::Corrupt`], never a panic.
//! - **Training checkpoints** ([`save_training`], [`load_training`]) hold the model, the
//!   optimizer's state and the step count in one file, so training resumes exactly (bit for
//!   bit) where it stopped. Same format and the same checks. [`WithState`] adds the state a
//!   recurrent run carries from batch to batch.
//!
//! ```
//! use nanotorch::{Init, Linear, checkpoint, seeded_rng, shape::{U3, U4}};
//!
//! let dir = std::env::temp_dir().join(format!("nanotorch-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("linear.safetensors");
//!
//! let mut a = Linear::<U4, U3>::init(&mut seeded_rng(0));
//! checkpoint::save(&mut a, &path)?;
//! let mut b = Linear::<U4, U3>::init(&mut seeded_rng(1));
//! checkpoint::load(&mut b, &path)?;
//! assert_eq!(a.weight.value, b.weight.value);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), checkpoint::CheckpointError>(())
//! ```

mod atomic;
mod error;
#[cfg(test)]
mod fault_tests;
mod state;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::element::Element;
use crate::layer::{BufferMut, Module, ParamMut};
use crate::optim::OptimizerState;

pub use error::{CheckpointError, Problem};
pub use state::WithState;

/// How strictly [`load_with`] matches the file to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// `true` (the default): every parameter and buffer must be in the file and every tensor
    /// in the file must be one of them, as PyTorch's `load_state_dict(strict=True)`. `false`:
    /// load the names both have, leave the model's other parameters and buffers as they are,
    /// ignore the file's other tensors. Shapes and dtypes of the shared names are checked
    /// either way.
    pub strict: bool,
    /// `false` (the default): a tensor's dtype must be the model's. `true`: `F32` and `F64`
    /// tensors — parameters and running statistics — are converted to the model's type
    /// (rounding to nearest for `f64 → f32`), as PyTorch's `load_state_dict` does with
    /// `copy_`. Counters (`num_batches_tracked`) must be `I64` either way.
    pub convert_dtypes: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            strict: true,
            convert_dtypes: false,
        }
    }
}

/// One entry of a model's state as a checkpoint sees it: a parameter or float buffer, or a
/// counter (BatchNorm's `num_batches_tracked`, an `I64` scalar in PyTorch's files).
enum Slot<'a, E> {
    Floats(&'a mut [E]),
    Count(&'a mut i64),
}

/// Calls `f` on every parameter (in [`Module::visit_named_params`] order), then every buffer
/// ([`Module::visit_named_buffers`]): the entries of PyTorch's `state_dict()`.
fn visit_state<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    f: &mut dyn FnMut(&str, &[usize], Slot<'_, E>),
) {
    model.visit_named_params("", &mut |name, dims, p| {
        f(name, dims, Slot::Floats(p.value))
    });
    model.visit_named_buffers("", &mut |name, dims, b| match b {
        BufferMut::Values(v) => f(name, dims, Slot::Floats(v)),
        BufferMut::Count(c) => f(name, dims, Slot::Count(c)),
    });
}

fn dtype_of<E: Element>() -> Dtype {
    if E::DTYPE == "F64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Encodes a model's parameters and buffers as the bytes of a safetensors file (metadata
/// `{"format": "pt"}`, as PyTorch tools expect).
pub fn to_bytes<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
) -> Result<Vec<u8>, CheckpointError> {
    let mut tensors: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = Vec::new();
    visit_state(model, &mut |name, dims, slot| {
        let (dtype, bytes) = match slot {
            Slot::Floats(values) => {
                let mut bytes = Vec::with_capacity(std::mem::size_of_val(values));
                for &v in values.iter() {
                    if E::DTYPE == "F64" {
                        bytes.extend_from_slice(&v.as_f64().to_le_bytes());
                    } else {
                        // Exact: the value is an f32 widened to f64 and back.
                        bytes.extend_from_slice(&(v.as_f64() as f32).to_le_bytes());
                    }
                }
                (dtype_of::<E>(), bytes)
            }
            Slot::Count(count) => (Dtype::I64, count.to_le_bytes().to_vec()),
        };
        tensors.push((name.to_string(), dims.to_vec(), dtype, bytes));
    });
    let mut seen = HashSet::new();
    for (name, _, _, _) in &tensors {
        if !seen.insert(name.as_str()) {
            return Err(CheckpointError::DuplicateName { name: name.clone() });
        }
    }
    let encode = |e: safetensors::SafeTensorError| CheckpointError::Encode {
        message: e.to_string(),
    };
    let views = tensors
        .iter()
        .map(|(name, dims, dtype, bytes)| {
            TensorView::new(*dtype, dims.clone(), bytes).map(|v| (name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(encode)?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata)).map_err(encode)
}

/// Saves the model's parameters and buffers to `path` in safetensors format, atomically (see the
/// [module docs](self)): if saving fails, a previous file at `path` is left as it was.
pub fn save<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    save_through(model, path.as_ref(), |f, bytes| f.write_all(bytes))
}

/// [`save`] with the bytes going to the temporary file through `write`: the seam the fault
/// tests use to fail the write at every byte offset (`checkpoint/fault_tests.rs`).
pub(crate) fn save_through<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    path: &Path,
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> Result<(), CheckpointError> {
    let bytes = to_bytes(model)?;
    atomic::write_atomically(path, |f| write(f, &bytes))
}

/// A model, its optimizer and a step count seen as one state dict: the model's parameters
/// and buffers under their own names, then `optimizer.` + each name of
/// [`OptimizerState::visit_state`], then `train.step`.
struct Training<'a, M: ?Sized, O> {
    model: &'a mut M,
    optimizer: &'a mut O,
    step: &'a mut i64,
}

impl<E: Element, M: Module<E> + ?Sized, O: OptimizerState<E>> Module<E> for Training<'_, M, O> {
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
        self.optimizer
            .visit_state(&mut *self.model, &mut |name, dims, b| {
                f(&format!("{prefix}optimizer.{name}"), dims, b)
            });
        f(
            &format!("{prefix}train.step"),
            &[],
            BufferMut::Count(&mut *self.step),
        );
    }

    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
    }
}

/// Saves a training checkpoint to `path`, atomically: the model's parameters and buffers
/// (under their state-dict names, as [`save`]), the optimizer's state under `optimizer.`
/// (e.g. AdamW's `optimizer.state.fc1.weight.exp_avg`, `….exp_avg_sq` and `optimizer.step`,
/// see [`OptimizerState`]) and `step`, the caller's training step, as the `I64` scalar
/// `train.step`.
///
/// An optimizer that has taken no step yet is saved as zeros and step 0 (the state it would
/// start from). Learning-rate schedules need no state here: they are functions of the step.
///
/// ```
/// use nanotorch::optim::{AdamW, Optimizer};
/// use nanotorch::{Init, Linear, Module, checkpoint, seeded_rng, shape::{U2, U3}};
///
/// let dir = std::env::temp_dir().join(format!("nanotorch-doc-train-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("train.safetensors");
///
/// let mut model = Linear::<U3, U2>::init(&mut seeded_rng(0));
/// let mut opt: AdamW = AdamW::new();
/// model.visit_params(&mut |p| p.grad.fill(0.5));
/// opt.step(&mut model);
/// checkpoint::save_training(&mut model, &mut opt, 1, &path)?;
///
/// let (mut model2, mut opt2) = (Linear::<U3, U2>::init(&mut seeded_rng(9)), AdamW::new());
/// assert_eq!(checkpoint::load_training(&mut model2, &mut opt2, &path)?, 1);
/// assert_eq!(model.weight.value, model2.weight.value);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), checkpoint::CheckpointError>(())
/// ```
pub fn save_training<E: Element, M: Module<E> + ?Sized, O: OptimizerState<E>>(
    model: &mut M,
    optimizer: &mut O,
    step: u64,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let mut step = i64::try_from(step).unwrap_or(i64::MAX);
    let mut state = Training {
        model,
        optimizer,
        step: &mut step,
    };
    save(&mut state, path)
}

/// Loads a training checkpoint written by [`save_training`] into `model` and `optimizer`, and
/// returns the training step it holds. The checks are those of [`load`] (strict names, same
/// shapes and dtypes, every mismatch listed); nothing in the model changes unless the whole
/// file fits. The optimizer must be of the kind and options that saved the file (AdamW with
/// amsgrad has one more tensor per parameter, a mismatch otherwise).
pub fn load_training<E: Element, M: Module<E> + ?Sized, O: OptimizerState<E>>(
    model: &mut M,
    optimizer: &mut O,
    path: impl AsRef<Path>,
) -> Result<u64, CheckpointError> {
    let mut step = 0i64;
    let mut state = Training {
        model,
        optimizer,
        step: &mut step,
    };
    load(&mut state, path)?;
    Ok(u64::try_from(step).unwrap_or(0))
}

/// Loads parameters and buffers from `path` into the model: strict names, same shapes, same
/// dtype.
/// Nothing in the model changes unless the whole file fits.
pub fn load<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    load_with(model, path, LoadOptions::default())
}

/// [`load`] with [`LoadOptions`] (non-strict names, dtype conversion).
pub fn load_with<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
    options: LoadOptions,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    load_bytes(model, &bytes, &path.display().to_string(), options)
}

/// Loads parameters and buffers from the bytes of a safetensors file (same checks as
/// [`load_with`]).
pub fn from_bytes<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<(), CheckpointError> {
    load_bytes(model, bytes, "the checkpoint bytes", options)
}

fn load_bytes<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    bytes: &[u8],
    origin: &str,
    options: LoadOptions,
) -> Result<(), CheckpointError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Corrupt {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    let problems = check(model, &file, options)?;
    if !problems.is_empty() {
        return Err(CheckpointError::Mismatch {
            origin: origin.to_string(),
            problems,
        });
    }
    // Everything fits: copy.
    visit_state(model, &mut |name, _dims, slot| {
        if let Ok(view) = file.tensor(name) {
            match slot {
                Slot::Floats(values) => decode_into(&view, values),
                Slot::Count(count) => {
                    let bytes = view.data()[..8].try_into().expect("checked: one I64");
                    *count = i64::from_le_bytes(bytes);
                }
            }
        }
    });
    Ok(())
}

/// Every way the file does not fit the model, in the model's order (parameters, then
/// buffers), then the unexpected tensors sorted by name.
fn check<E: Element, M: Module<E> + ?Sized>(
    model: &mut M,
    file: &SafeTensors<'_>,
    options: LoadOptions,
) -> Result<Vec<Problem>, CheckpointError> {
    let mut problems = Vec::new();
    let mut names: Vec<String> = Vec::new();
    visit_state(model, &mut |name, dims, slot| {
        names.push(name.to_string());
        let Ok(view) = file.tensor(name) else {
            if options.strict {
                problems.push(Problem::Missing {
                    name: name.to_string(),
                    shape: dims.to_vec(),
                });
            }
            return;
        };
        match slot {
            Slot::Floats(_) => {
                let convertible = matches!(view.dtype(), Dtype::F32 | Dtype::F64);
                if view.dtype() != dtype_of::<E>() && !(options.convert_dtypes && convertible) {
                    problems.push(Problem::Dtype {
                        name: name.to_string(),
                        expected: E::DTYPE,
                        found: dtype_name(view.dtype()),
                    });
                }
            }
            // A counter is PyTorch's int64, whatever the model's float type.
            Slot::Count(_) if view.dtype() != Dtype::I64 => problems.push(Problem::Dtype {
                name: name.to_string(),
                expected: "I64",
                found: dtype_name(view.dtype()),
            }),
            Slot::Count(_) => {}
        }
        if view.shape() != dims {
            problems.push(Problem::Shape {
                name: name.to_string(),
                expected: dims.to_vec(),
                found: view.shape().to_vec(),
            });
        }
    });
    let known: HashSet<&str> = names.iter().map(String::as_str).collect();
    if known.len() != names.len() {
        let mut seen = HashSet::new();
        let dup = names.iter().find(|n| !seen.insert(n.as_str())).cloned();
        return Err(CheckpointError::DuplicateName {
            name: dup.unwrap_or_default(),
        });
    }
    if options.strict {
        let mut unexpected: Vec<(&str, TensorView<'_>)> =
            file.iter().filter(|(n, _)| !known.contains(n)).collect();
        unexpected.sort_by(|a, b| a.0.cmp(b.0));
        problems.extend(unexpected.into_iter().map(|(n, v)| Problem::Unexpected {
            name: n.to_string(),
            shape: v.shape().to_vec(),
        }));
    }
    Ok(problems)
}

/// Copies a checked `F32` or `F64` little-endian tensor into `out`, converting to `E`.
fn decode_into<E: Element>(view: &TensorView<'_>, out: &mut [E]) {
    let data = view.data();
    match view.dtype() {
        Dtype::F64 => {
            for (o, b) in out.iter_mut().zip(data.chunks_exact(8)) {
                let bytes = b.try_into().expect("chunks of 8 bytes");
                *o = E::cast(f64::from_le_bytes(bytes));
            }
        }
        _ => {
            for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
                let bytes = b.try_into().expect("chunks of 4 bytes");
                *o = E::cast(f64::from(f32::from_le_bytes(bytes)));
            }
        }
    }
}
