// The second declared output is 5 wide, but the value returned there is 4 wide.
use nanotorch::prelude::*;

network! {
    pub struct Cell {
        wx: Linear<3, 4>,
        wh: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> ([B, 4], [B, 5]) {
        let c = tanh(wx(x) + wh(h));
        (sigmoid(c), c)
    }
}

fn main() {}
