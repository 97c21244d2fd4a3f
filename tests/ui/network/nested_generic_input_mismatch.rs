// A nested network with a size parameter is written with its arguments; it is checked like a
// layer all the same: `Inner<U8>` takes [B, 4], and `h` has 5 features.
use nanotorch::prelude::*;

network! {
    pub struct Inner<H> {
        fc: Linear<4, H>,
    }
    fn forward(x: [B, 4]) -> [B, H] = fc -> relu;
}

network! {
    pub struct Outer {
        stem: Linear<3, 5>,
        inner: Inner<U8, E>,
        head: Linear<8, 2>,
    }
    fn forward(x: [B, 3]) -> [B, 2] {
        let h = relu(stem(x));
        head(inner(h))
    }
}

fn main() {}
