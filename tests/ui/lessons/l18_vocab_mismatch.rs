// Lesson 18: an embedding table has one row per token of the vocabulary. The input now has
// ids 0..10 (the digits 0 to 9), but the table still has the 3 rows of the 3-digit task.
use nanotorch::prelude::*;

network! {
    pub struct Bigram {
        wte: Embedding<3, 16>,
        head: Linear<16, 10>,
    }
    fn forward(idx: [B, 6] tokens<10>) -> [B, 6, 10] {
        head(wte(idx))
    }
}

fn main() {}
