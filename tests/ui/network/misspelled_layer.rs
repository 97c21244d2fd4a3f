use nanotorch::prelude::*;

network! {
    pub struct Mlp {
        fc1: Linera<4, 8>,
        fc2: Linear<8, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        fc2(relu(fc1(x)))
    }
}

fn main() {}
