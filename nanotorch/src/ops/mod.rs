//! Differentiable primitives.
//!
//! Every primitive is a pair: a forward function and, beside it, its backward — the
//! vector-Jacobian product that turns `dy = ∂L/∂y` into `dx = ∂L/∂x`. Each forward has an
//! `_into` variant that writes into an existing tensor (resizing it only if the batch size
//! changed), so a training step can reuse its buffers.
//!
//! The rustdoc of each forward states: the formula, the gradient, what backward must save from
//! the forward pass, and the shapes.

pub mod activation;
pub mod attention;
pub mod batch_norm;
pub mod concat;
pub mod conv;
pub mod dropout;
pub mod elementwise;
pub mod embedding;
pub mod layer_norm;
pub mod matmul;
pub mod pool;
pub mod reduce;
pub mod reshape;
pub mod softmax;
pub mod time;

pub use activation::*;
pub use attention::*;
pub use batch_norm::*;
pub use concat::*;
pub use conv::*;
pub use dropout::*;
pub use elementwise::*;
pub use embedding::*;
pub use layer_norm::*;
pub use matmul::*;
pub use pool::*;
pub use reduce::*;
pub use reshape::*;
pub use softmax::*;
pub use time::*;
