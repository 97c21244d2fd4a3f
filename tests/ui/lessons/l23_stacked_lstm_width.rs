// Lesson 23: the second layer of a stacked LSTM reads the first layer's states, 256 wide, not
// the 64-wide embeddings the first layer reads.
use nanotorch::prelude::*;

network! {
    pub struct CharLstm {
        wte: Embedding<73, 64>,
        lstm1: Lstm<64, 256>,
        lstm2: Lstm<64, 256>,
        head: Linear<256, 73>,
    }
    fn forward(
        idx: [B, 64] tokens<73>,
        h1: [B, 256],
        c1: [B, 256],
        h2: [B, 256],
        c2: [B, 256],
    ) -> [B, 64, 73] {
        let (hs1, _h1, _c1) = lstm1(wte(idx), h1, c1);
        let (hs2, _h2, _c2) = lstm2(hs1, h2, c2);
        head(hs2)
    }
}

fn main() {}
