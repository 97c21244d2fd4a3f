#![doc = include_str!("../lessons/00-index.md")]

#[doc = include_str!("../lessons/01-tensors.md")]
pub mod l01_tensors {}

/// scratch
pub mod l03_chain {
    use nanotorch::prelude::*;

    network! {
        /// The lesson's network: two layers with a ReLU between.
        pub struct TwoLayer {
            fc1: Linear<4, 8>,
            fc2: Linear<8, 3>,
        }
        fn forward(x: [B, 4]) -> [B, 3] {
            let h = relu(fc1(x));
            fc2(h)
        }
    }
}
