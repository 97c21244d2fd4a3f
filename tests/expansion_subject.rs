//! The subject of the expansion snapshot: only the README's `Regressor`, so that
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
