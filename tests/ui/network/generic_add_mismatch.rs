// Two size parameters are different sizes as far as the compiler knows: adding an `[B, H]`
// value to an `[B, W]` value is one error at the `+`, naming both.
use nanotorch::prelude::*;

network! {
    pub struct TwoWidths<H, W> {
        a: Linear<4, H>,
        b: Linear<4, W>,
        head: Linear<H, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        let s = a(x) + b(x);
        head(s)
    }
}

fn main() {}
