//! Layers: [`Linear`] and the parameter-free activations.

mod activation;
mod linear;

pub use activation::*;
pub use linear::Linear;
