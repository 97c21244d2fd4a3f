// An LSTM's state is two values, h and c: given only h0.
use nanotorch::prelude::*;

network! {
    pub struct CharModel {
        lstm: Lstm<64, 128>,
        head: Linear<128, 10>,
    }
    fn forward(x: [B, 20, 64], h0: [B, 128]) -> [B, 20, 10] {
        let (hs, _h, _c) = lstm(x, h0);
        head(hs)
    }
}

fn main() {}
