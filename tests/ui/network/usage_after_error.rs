// After a declaration error, code that uses the network reports nothing more: the macro
// emits a stub with the declared signatures, so the one mistake gives one error.
use nanotorch::prelude::*;

network! {
    pub struct Mlp {
        fc1: Linear<4, 8>,
        fc2: Linear<6, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] {
        fc2(relu(fc1(x)))
    }
}

fn main() {
    let mut net = Mlp::<f32>::new(0);
    let x = Tensor::<(Dyn, U4)>::zeros((Dyn(1), U4::default()));
    let y = net.forward(&x).clone();
    net.backward(&y).unwrap();
}
