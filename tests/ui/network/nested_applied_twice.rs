// A nested network keeps the saved values of one call, so it cannot be applied twice.
use nanotorch::prelude::*;

network! {
    pub struct Block {
        fc: Linear<8, 8>,
    }
    fn forward(x: [B, 8]) -> [B, 8] = fc -> relu;
}

network! {
    pub struct Twice {
        block: Block,
        head: Linear<8, 2>,
    }
    fn forward(x: [B, 8]) -> [B, 2] {
        let h = block(x);
        head(block(h))
    }
}

fn main() {}
