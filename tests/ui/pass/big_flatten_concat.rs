// Products and sums of literal sizes are computed by `network!`, so flatten and concat have no
// size limit inside it (the type-level arithmetic outside stops at 1024).
use nanotorch::prelude::*;

network! {
    pub struct Big {
        fc: Linear<3136, 10>,
        a: Linear<10, 1000>,
        b: Linear<10, 100>,
        head: Linear<1100, 2>,
    }
    fn forward(x: [B, 64, 7, 7]) -> [B, 2] {
        let h = fc(flatten(x));
        head(concat(a(h), b(h)))
    }
}

fn main() {
    let mut net = Big::<f32>::new(0);
    let x = Tensor::<(Dyn, U64, U7, U7)>::ones((Dyn(2), Const, Const, Const));
    let y = net.forward(&x).clone();
    assert_eq!(y.dims(), &[2, 2]);
    net.backward(&Tensor::ones(y.shape())).unwrap();
    assert_eq!(net.predict(&x), y);
}
