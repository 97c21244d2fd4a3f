// The GRU takes 64 features per step; the embedding gives 32.
use nanotorch::prelude::*;

network! {
    pub struct CharModel {
        gru: Gru<64, 128>,
        head: Linear<128, 10>,
    }
    fn forward(x: [B, 20, 32]) -> [B, 20, 10] {
        let (hs, _h) = gru(x);
        head(hs)
    }
}

fn main() {}
