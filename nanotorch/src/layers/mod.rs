//! Layers: [`Linear`], the parameter-free activations, and the convolutional building blocks
//! [`Conv2d`], [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool2d`], [`BatchNorm1d`] and
//! [`BatchNorm2d`]; the recurrent layers [`Rnn`], [`Lstm`], [`Gru`] and their one-step cells
//! ([`recurrent`]); and [`Stack`], `N` blocks of one type applied in order.

mod activation;
mod attention;
mod batch_norm;
mod conv;
mod embedding;
mod layer_norm;
mod linear;
mod pool;
pub mod recurrent;
mod stack;

pub use activation::*;
pub use attention::*;
pub use batch_norm::{BatchNorm1d, BatchNorm2d, BatchNormState};
pub use conv::{Conv2d, Conv2dOut};
pub use embedding::*;
pub use layer_norm::*;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool2d, MaxPool2d, PoolOut};
pub use recurrent::{Gru, GruCell, Lstm, LstmCell, Rnn, RnnCell};
pub use stack::Stack;
