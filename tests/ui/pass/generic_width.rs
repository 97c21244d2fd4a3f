// One declaration, several widths: the hidden size is a generic parameter.
use nanotorch::prelude::*;

network! {
    pub struct Mlp<H> {
        fc1: Linear<4, H>,
        fc2: Linear<H, 2>,
    }
    fn forward(x: [B, 4]) -> [B, 2] = fc1 -> relu -> fc2;
}

fn main() {
    let x = Tensor::<(Dyn, U4)>::ones((Dyn(3), U4::default()));
    let mut narrow = Mlp::<U8, f32>::new(0);
    let mut wide = Mlp::<U![2048], f32>::new(0);
    assert_eq!(narrow.forward(&x).dims(), wide.forward(&x).dims());
}
