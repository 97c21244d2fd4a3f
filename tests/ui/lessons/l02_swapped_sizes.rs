// Lesson 2: `Linear<IN, OUT>` takes the input size first. Its weight is stored [out, in],
// but the type is written in the order data flows.
use nanotorch::prelude::*;

network! {
    pub struct Mlp {
        fc1: Linear<784, 64>,
        fc2: Linear<10, 64>,
    }
    fn forward(x: [B, 784]) -> [B, 10] {
        let h = relu(fc1(x));
        fc2(h)
    }
}

fn main() {}
