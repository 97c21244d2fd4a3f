// Lesson 15: every 5×5 convolution without padding shrinks the map by 4, every 2×2 pool
// halves it: a third block finds a 4×4 map, too small for its kernel.
use nanotorch::prelude::*;

network! {
    pub struct TooDeep {
        conv1: Conv2d<1, 8, 5>,
        conv2: Conv2d<8, 16, 5>,
        conv3: Conv2d<16, 32, 5>,
        pool1: MaxPool2d<2>,
        pool2: MaxPool2d<2>,
        fc: Linear<32, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool1(relu(conv1(x)));
        let h = pool2(relu(conv2(h)));
        let h = relu(conv3(h));
        fc(flatten(h))
    }
}

fn main() {}
