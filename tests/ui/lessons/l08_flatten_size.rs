// Lesson 8: flatten multiplies the dims after the batch: [B, 1, 28, 28] becomes [B, 784].
use nanotorch::prelude::*;

network! {
    pub struct Flat {
        fc: Linear<768, 10>,
    }
    fn forward(x: [B, 1, 28, 28]) -> [B, 10] = flatten -> fc;
}

fn main() {}
