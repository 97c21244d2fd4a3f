//! The subject of the expansion snapshot: the README's `Regressor`, a small stack and a small
//! scan over time (whose forward and backward are loops), so that
//! `cargo expand --test expansion_subject` prints exactly the code `network!` writes for it.
//! `tests/expansion_snapshot.rs` compares that output with `tests/expansion/regressor.expanded.rs`.

use nanotorch::prelude::*;

network! {
    /// The Python NanoTorch's README model: fits y = x·[1, 2, 3].
    pub struct Regressor {
        fc1: Linear<3, 3>,
        fc2: Linear<3, 5>,
        fc3: Linear<5, 1>,
    }
    fn forward(x: [B, 3]) -> [B, 1] {
        let h = sigmoid(fc1(x));
        fc3(sigmoid(fc2(h)))
    }
}

network! {
    /// A residual block, for the stack below.
    pub struct Block {
        fc: Linear<4, 4>,
    }
    fn forward(x: [B, 4]) -> [B, 4] {
        x + relu(fc(x))
    }
}

network! {
    /// Two blocks in a stack: its forward and backward are loops over the blocks.
    pub struct Stacked {
        inp: Linear<3, 4>,
        blocks: [Block; 2],
        head: Linear<4, 1>,
    }
    fn forward(x: [B, 3]) -> [B, 1] = inp -> blocks -> head;
}

network! {
    /// An Elman cell: the new state from a time step and the old state.
    pub struct RnnCell {
        wx: Linear<2, 3>,
        wh: Linear<3, 3>,
    }
    fn forward(x: [B, 2], h: [B, 3]) -> [B, 3] {
        tanh(wx(x) + wh(h))
    }
}

network! {
    /// The cell scanned over 4 time steps: forward is a loop over time, backward the same loop
    /// reversed (backpropagation through time).
    pub struct Rnn {
        cell: RnnCell,
        head: Linear<3, 1>,
    }
    fn forward(x: [B, 4, 2], h0: [B, 3]) -> [B, 4, 1] {
        let (hs, _h) = scan(cell, x, h0);
        head(hs)
    }
}
