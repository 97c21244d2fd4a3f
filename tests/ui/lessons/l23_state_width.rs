// Lesson 23: an LSTM layer's state (h, c) is as wide as the layer (H = 256), not as its
// input (the 64-wide embeddings).
use nanotorch::prelude::*;

network! {
    pub struct CharLstm {
        wte: Embedding<73, 64>,
        lstm: Lstm<64, 256>,
        head: Linear<256, 73>,
    }
    fn forward(idx: [B, 64] tokens<73>, h0: [B, 64], c0: [B, 64]) -> [B, 64, 73] {
        let (hs, _h, _c) = lstm(wte(idx), h0, c0);
        head(hs)
    }
}

fn main() {}
