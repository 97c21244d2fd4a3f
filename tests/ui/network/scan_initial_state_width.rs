// The initial state is 5 wide; the cell's state is 4.
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
        head: Linear<5, 2>,
    }
    fn forward(x: [B, 5, 3], h0: [B, 5]) -> [B, 2] {
        let (_hs, h) = scan(cell, x, h0);
        head(h)
    }
}

fn main() {}
