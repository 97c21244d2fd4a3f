// Lesson 8: concat adds the feature counts: [B, 3] and [B, 2] give [B, 5].
use nanotorch::prelude::*;

network! {
    pub struct Branches {
        left: Linear<4, 3>,
        right: Linear<4, 2>,
        head: Linear<6, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        let l = relu(left(x));
        let r = tanh(right(x));
        head(concat(l, r))
    }
}

fn main() {}
