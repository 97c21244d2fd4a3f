// A nested network is checked like a layer: `Block` takes [B, 4], and `h` has 5 features.
// The compiler says so once, at the call inside the outer forward, with both sizes.
use nanotorch::prelude::*;

network! {
    pub struct Block {
        fc: Linear<4, 4>,
    }
    fn forward(x: [B, 4]) -> [B, 4] = fc -> relu;
}

network! {
    pub struct Outer {
        stem: Linear<3, 5>,
        block: Block,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 3]) -> [B, 2] {
        let h = relu(stem(x));
        head(block(h))
    }
}

fn main() {}
