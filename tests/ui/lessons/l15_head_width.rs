// Lesson 15: the linear head after the convolutions takes the flattened map, whose width the
// macro computes: 32 channels of 5×5 after two conv + pool blocks on 28×28 images.
use nanotorch::prelude::*;

network! {
    pub struct LeNet {
        conv1: Conv2d<1, 16, 5, padding = 2>,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<16, 32, 5>,
        pool2: MaxPool2d<2>,
        fc1: Linear<400, 128>,
        fc2: Linear<128, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool1(relu(conv1(x)));
        let h = pool2(relu(conv2(h)));
        fc2(relu(fc1(flatten(h))))
    }
}

fn main() {}
