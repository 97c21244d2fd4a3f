// Lesson 12: the digits images are 8×8 = 64 pixels, not MNIST's 28×28 = 784.
use nanotorch::prelude::*;

network! {
    pub struct DigitsMlp {
        fc1: Linear<784, 32>,
        fc2: Linear<32, 10>,
    }
    fn forward(x: [B, 64]) -> [B, 10] = fc1 -> relu -> fc2;
}

fn main() {}
