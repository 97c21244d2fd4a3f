// Lesson 16: 2×2 windows with stride 2 tile a map only when its size is even. Two 3×3
// convolutions without padding take 28 to 26, the pool to 13, the second convolution to 11.
use nanotorch::prelude::*;

network! {
    pub struct OddMap {
        conv1: Conv2d<1, 16, 3>,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<16, 32, 3>,
        pool2: MaxPool2d<2>,
        fc: Linear<800, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool1(relu(conv1(x)));
        let h = pool2(relu(conv2(h)));
        fc(flatten(h))
    }
}

fn main() {}
