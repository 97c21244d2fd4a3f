use nanotorch::prelude::*;

network! {
    pub struct Mlp {
        fc1: Linear<4, 8>,
        fc2: Linear<8, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        fc2(softplus(fc1(x)))
    }
}

fn main() {}
