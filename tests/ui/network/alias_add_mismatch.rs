// `+` between values whose sizes are aliases: the compiler compares them, once, at the `+`.
use nanotorch::prelude::*;

type Wide = U8;
type Narrow = U6;

network! {
    pub struct TwoBranches {
        inp: Linear<4, Wide>,
        side: Linear<4, Narrow>,
        head: Linear<8, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        let h = inp(x);
        let s = side(x);
        head(h + s)
    }
}

fn main() {}
