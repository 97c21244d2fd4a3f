// Sizes written as type aliases are not numbers the macro can read: the compiler checks them,
// and the error still points at the call.
use nanotorch::prelude::*;

type Hidden = U64;
type HeadIn = U32;

network! {
    pub struct Mlp {
        fc1: Linear<784, Hidden>,
        fc2: Linear<HeadIn, 10>,
    }
    fn forward(x: [B, 784]) -> [B, 10] {
        let h = relu(fc1(x));
        fc2(h)
    }
}

fn main() {}
