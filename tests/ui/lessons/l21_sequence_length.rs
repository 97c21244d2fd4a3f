// Lesson 21: a learned position embedding has one row per position, so it fixes the
// sequence length the model reads.
use nanotorch::prelude::*;

network! {
    pub struct TinyGpt {
        wte: Embedding<3, 48>,
        wpe: PositionEmbedding<12, 48>,
        ln_f: LayerNorm<48>,
        head: Linear<48, 3>,
    }
    fn forward(idx: [B, 11] tokens<3>) -> [B, 11, 3] {
        head(ln_f(wpe(wte(idx))))
    }
}

fn main() {}
