// The cell takes steps of 3 features; the sequence has 2.
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
    fn forward(x: [B, 5, 2], h0: [B, 4]) -> [B, 5, 2] {
        let (hs, _h) = scan(cell, x, h0);
        head(hs)
    }
}

fn main() {}
