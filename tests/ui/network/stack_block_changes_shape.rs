// A stack applies its blocks one after the other, so each block must return the shape it
// takes; this block narrows 8 features to 4.
use nanotorch::prelude::*;

network! {
    pub struct Narrow {
        fc: Linear<8, 4>,
    }
    fn forward(x: [B, 8]) -> [B, 4] = fc -> relu;
}

network! {
    pub struct Deep {
        inp: Linear<3, 8>,
        blocks: [Narrow; 3],
        head: Linear<8, 1>,
    }
    fn forward(x: [B, 3]) -> [B, 1] {
        let h = inp(x);
        head(blocks(h))
    }
}

fn main() {}
