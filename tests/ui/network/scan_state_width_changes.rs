// A cell must return states of the widths it takes: this one maps a state of 4 to one of 3.
use nanotorch::prelude::*;

network! {
    pub struct Cell {
        wx: Linear<3, 3>,
        wh: Linear<4, 3>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 3] {
        tanh(wx(x) + wh(h))
    }
}

network! {
    pub struct Rnn {
        cell: Cell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 5, 3], h0: [B, 4]) -> [B, 5, 2] {
        let (hs, _h) = scan(cell, x, h0);
        head(hs)
    }
}

fn main() {}
