// Sizes beyond the named aliases (U0 … U1024) are written Const<N> or U![N].
use nanotorch::prelude::*;

network! {
    pub struct Wide {
        fc1: Linear<3136, 1500>,
        fc2: Linear<1500, 10>,
    }
    fn forward(x: [B, 3136]) -> [B, 10] = fc1 -> relu -> fc2;
}

fn main() {
    let mut net = Wide::<f32>::new(0);
    let x = Tensor::<(Dyn, U![3136])>::zeros((Dyn(2), Default::default()));
    assert_eq!(net.forward(&x).dims(), &[2, 10]);
}
