use nanotorch::prelude::*;

network! {
    pub struct Mlp {
        fc1: Linear<784, 64>,
        fc2: Linear<128, 10>,
    }
    fn forward(x: [B, 784]) -> [B, 10] {
        let h = relu(fc1(x));
        fc2(h)
    }
}

fn main() {}
