// Lesson 17: BatchNorm1d normalises feature rows [B, C]; feature maps [B, C, H, W] need
// BatchNorm2d, whose statistics also run over every pixel of a channel.
use nanotorch::prelude::*;

network! {
    pub struct ConvBn1d {
        conv1: Conv2d<1, 16, 5, padding = 2>,
        bn1: BatchNorm1d<16>,
        pool: MaxPool2d<2>,
        fc: Linear<3136, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] {
        let h = pool(relu(bn1(conv1(x))));
        fc(flatten(h))
    }
}

fn main() {}
