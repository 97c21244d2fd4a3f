// A residual sum around a convolution of stride 2: the branch halves the image, so the two
// sides of `+` differ in height and width.
use nanotorch::prelude::*;

network! {
    pub struct Net {
        c1: Conv2d<1, 8, 3, padding = 1>,
        c2: Conv2d<8, 8, 3, stride = 2, padding = 1>,
        pool: GlobalAvgPool2d,
        head: Linear<8, 10>,
    }
    fn forward(x: [B, 1, 8, 8]) -> [B, 10] {
        let h = relu(c1(x));
        let r = h + relu(c2(h));
        head(pool(r))
    }
}

fn main() {}
