// A scan runs over the time axis of `[B, T, F]`; `[B, F]` has none.
use nanotorch::prelude::*;

network! {
    pub struct Cell {
        wx: Linear<3, 4>,
        wh: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 4] {
        tanh(wx(x) + wh(h))
    }
}

network! {
    pub struct Rnn {
        cell: Cell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 3], h0: [B, 4]) -> [B, 2] {
        let (_hs, h) = scan(cell, x, h0);
        head(h)
    }
}

fn main() {}
