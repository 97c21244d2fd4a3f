// Lesson 20: multi-head attention splits the width into equal heads, so the head count must
// divide it.
use nanotorch::prelude::*;

network! {
    pub struct Block {
        ln1: LayerNorm<48>,
        attn: CausalSelfAttention<48, 5>,
        ln2: LayerNorm<48>,
        fc: Linear<48, 192>,
        proj: Linear<192, 48>,
    }
    fn forward(x: [B, 11, 48]) -> [B, 11, 48] {
        let h = x + attn(ln1(x));
        h + proj(gelu_tanh(fc(ln2(h))))
    }
}

fn main() {}
