// Lesson 15: a convolution's input channels are the previous convolution's output channels.
use nanotorch::prelude::*;

network! {
    pub struct TwoConvs {
        conv1: Conv2d<1, 16, 5, padding = 2>,
        pool: MaxPool2d<2>,
        conv2: Conv2d<6, 32, 5>,
        fc: Linear<3200, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool(relu(conv1(x)));
        let h = relu(conv2(h));
        fc(flatten(h))
    }
}

fn main() {}
