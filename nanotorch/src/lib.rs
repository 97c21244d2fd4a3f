//! # NanoTorch
//!
//! A small deep-learning library for people who want to *see* how a framework works.
//!
//! - [`shape`]: shapes are types. `Tensor<(Dyn, U3)>` is a batch of rows of 3 features; a
//!   layer that takes 4 features will not accept it, and the compiler says so.
//! - [`Tensor`]: n-dimensional arrays over `ndarray` storage, in `f32` or `f64`.
//! - [`ops`]: the differentiable primitives. Each forward function sits beside its backward
//!   (vector-Jacobian product), and its rustdoc states the math.
//! - [`layer`] and [`layers`]: the layer trait and `Linear` plus the activations.
//! - [`loss`]: losses that return the loss value and its gradient in one call.
//! - [`optim`]: SGD, Adam, AdamW, RMSprop, learning-rate schedules, gradient clipping.
//! - [`gradcheck`]: finite-difference checking of any backward.
//! - [`data`]: embedded data sets, MNIST IDX files, character-level text, data loader,
//!   splits, standardizing.
//! - [`checkpoint`]: save and load parameters as safetensors, with PyTorch's state-dict names.
//! - [`sample`]: drawing the next token of a language model (temperature, top-k, seeded).
//! - [`train`]: accuracy, confusion matrix, epoch summaries, progress bar, SVG curves.
//! - [`set_num_threads`] / [`num_threads`]: how many threads matrix products use (default: the
//!   machine's cores; environment variable `NANOTORCH_NUM_THREADS`). The products run on
//!   NanoTorch's own pure-Rust GEMM, which picks its SIMD kernels when the program starts
//!   ([`gemm_instruction_set`]).
//!
//! Conventions used in every formula: a batch is a matrix whose **rows** are samples
//! (`x` is `[B, in]`); a linear layer's weight is `[out, in]` as in PyTorch, so `y = x·Wᵀ + b`;
//! `dy` is ∂L/∂y for a scalar loss `L`, with the same shape as `y`; `⊙` is the elementwise
//! product.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod codegen;
pub mod data;
mod display;
pub mod element;
pub mod error;
mod gemm;
pub mod gradcheck;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod network;
pub mod ops;
pub mod optim;
mod parallel;
pub mod sample;
pub mod shape;
pub mod tensor;
pub mod tokens;
pub mod train;
mod widest;

pub use element::Element;
pub use error::ShapeError;
pub use gemm::instruction_set as gemm_instruction_set;
pub use gemm::threads::{ENV_VAR as NUM_THREADS_ENV, num_threads, set_num_threads};
pub use gemm::timer as step_timer;
pub use layer::{
    BufferMut, Init, Layer, Module, Network, NetworkIo, Nth, Param, ParamMut, StepState, Tuple,
};
pub use layers::{Linear, Stack};
pub use shape::{Const, Dim, Dyn, Shape};
pub use tensor::Tensor;
pub use tokens::*;

/// The random number generator NanoTorch uses everywhere: ChaCha8, portable and reproducible
/// from a seed across platforms and versions.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`: the same seed gives the same weights, masks and shuffles.
pub fn seeded_rng(seed: u64) -> SeededRng {
    use rand::SeedableRng;
    SeededRng::seed_from_u64(seed)
}

/// The static dim of any size, e.g. `U![3136]` is `Const<3136>` (the aliases `U0` … `U1024`
/// are written out in [`shape`]).
pub use nanotorch_macros::U;
/// Declares a network; see the [`network`](mod@network) guide.
pub use nanotorch_macros::network;

/// Re-exported so generated code and users name the same crate versions.
pub use ndarray;
pub use rand;
/// The type-level binary numbers that [`shape::Prod`], [`shape::Sum`] and [`shape::ConvOut`]
/// compute with behind the surface; sizes in signatures are [`Const`], never these.
pub use typenum;

/// Everything a typical program needs: `use nanotorch::prelude::*;`.
pub mod prelude {
    pub use crate::data::Dataset;
    pub use crate::layer::{Init, Layer, Module};
    pub use crate::layers::*;
    pub use crate::loss::*;
    pub use crate::ops::*;
    pub use crate::optim::*;
    pub use crate::shape::*;
    pub use crate::{Dyn, Element, ShapeError, Tensor, Tokens, U, network, seeded_rng};
}
