// A size given as a generic parameter cannot be promised equal to a literal: the compiler says
// so at the call, naming the parameter.
use nanotorch::prelude::*;

network! {
    pub struct Mlp<H> {
        fc1: Linear<4, H>,
        fc2: Linear<8, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        let h = relu(fc1(x));
        fc2(h)
    }
}

fn main() {}
