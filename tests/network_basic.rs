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
    pub struct ResidualMlp {
        inp: Linear<64, 32>,
        block: Linear<32, 32>,
        head: Linear<32, 10>,
    }
    fn forward(x: [B, 64]) -> [B, 10] {
        let h = relu(inp(x));
        let r = h + relu(block(h));   // h is used twice: its gradient sums both paths
        head(r)
    }
}

#[test]
fn builds_and_runs() {
    let mut net = Regressor::<f64>::new(0);
    let x =
        Tensor::<(Dyn, U3), f64>::from_vec(&[2, 3], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap();
    let y = net.forward(&x).clone();
    assert_eq!(y.dims(), &[2, 1]);
    net.backward(&Tensor::ones(y.shape()));
    let mut r = ResidualMlp::<f64>::new(1);
    let x = Tensor::<(Dyn, U64), f64>::zeros((Dyn(4), U64::default()));
    let y = r.forward(&x).clone();
    assert_eq!(y.dims(), &[4, 10]);
}
