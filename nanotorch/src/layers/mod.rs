//! Layers: [`Linear`], the parameter-free activations, and the convolutional building blocks
//! [`Conv2d`], [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool2d`], [`BatchNorm1d`] and
//! [`BatchNorm2d`].

mod activation;
mod batch_norm;
mod conv;
mod linear;
mod pool;

pub use activation::*;
pub use batch_norm::{BatchNorm1d, BatchNorm2d, BatchNormState};
pub use conv::{Conv2d, Conv2dOut};
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d, PoolOut};
