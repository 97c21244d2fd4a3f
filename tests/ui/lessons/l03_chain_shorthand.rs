// Lesson 3: in a chain, each layer's input size must be the previous layer's output size.
use nanotorch::prelude::*;

network! {
    pub struct Chain {
        fc1: Linear<8, 16>,
        fc2: Linear<16, 32>,
        fc3: Linear<16, 4>,
    }
    fn forward(x: [B, 8]) -> [B, 4] = fc1 -> relu -> fc2 -> relu -> fc3;
}

fn main() {}
