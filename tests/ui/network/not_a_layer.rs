use nanotorch::prelude::*;

network! {
    pub struct Mlp {
        fc1: Linear<4, 8>,
        head: Vec<f32>,
    }
    fn forward(x: [B, 4]) -> [B, 8] {
        head(relu(fc1(x)))
    }
}

fn main() {}
