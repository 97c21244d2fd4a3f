use nanotorch::prelude::*;

network! {
    pub struct Residual {
        inp: Linear<16, 32>,
        block: Linear<32, 16>,
        head: Linear<32, 4>,
    }
    fn forward(x: [B, 16]) -> [B, 4] {
        let h = relu(inp(x));
        let r = h + relu(block(h));
        head(r)
    }
}

fn main() {}
