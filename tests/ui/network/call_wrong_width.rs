// A network with two inputs called with a state of the wrong width.
use nanotorch::prelude::*;

network! {
    pub struct Cell {
        wx: Linear<3, 4>,
        wh: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> ([B, 4], [B, 4]) {
        let c = tanh(wx(x) + wh(h));
        (sigmoid(c), c)
    }
}

network! {
    pub struct Step {
        cell: Cell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 3], state: [B, 5]) -> [B, 2] {
        let (h, c) = cell(x, state);
        head(h + c)
    }
}

fn main() {}
