// Lesson 17: BatchNorm2d<C> normalises C channels: one mean, variance, scale and shift each.
use nanotorch::prelude::*;

network! {
    pub struct ConvBn {
        conv1: Conv2d<1, 16, 5, padding = 2>,
        bn1: BatchNorm2d<32>,
        pool: MaxPool2d<2>,
        fc: Linear<3136, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool(relu(bn1(conv1(x))));
        fc(flatten(h))
    }
}

fn main() {}
