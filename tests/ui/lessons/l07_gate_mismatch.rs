// Lesson 7: a gate multiplies a value elementwise, so it needs the value's width.
use nanotorch::prelude::*;

network! {
    pub struct Gated {
        inp: Linear<6, 8>,
        gate: Linear<8, 4>,
        head: Linear<8, 2>,
    }
    fn forward(x: [B, 6]) -> [B, 2] {
        let h = tanh(inp(x));
        let g = sigmoid(gate(h)) * h;
        head(g)
    }
}

fn main() {}
