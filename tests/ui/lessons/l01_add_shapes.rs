// Lesson 1: adding two values whose feature counts differ.
use nanotorch::prelude::*;

network! {
    pub struct TwoViews {
        a: Linear<4, 3>,
        b: Linear<4, 5>,
        head: Linear<3, 1>,
    }
    fn forward(x: [B, 4]) -> [B, 1] {
        let s = a(x) + b(x);
        head(s)
    }
}

fn main() {}
