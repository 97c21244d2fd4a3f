// `forward` declares two outputs but returns one value.
use nanotorch::prelude::*;

network! {
    pub struct Cell {
        wx: Linear<3, 4>,
        wh: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> ([B, 4], [B, 4]) {
        let c = tanh(wx(x) + wh(h));
        sigmoid(c)
    }
}

fn main() {}
