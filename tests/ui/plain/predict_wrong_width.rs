// `predict` takes the same input as `forward`: 4 features, not 5.
use nanotorch::prelude::*;

network! {
    pub struct Classifier {
        fc1: Linear<4, 16>,
        fc2: Linear<16, 3>,
    }
    fn forward(x: [B, 4]) -> [B, 3] = fc1 -> relu -> fc2;
}

fn main() {
    let model = Classifier::<f32>::new(0);
    let x = Tensor::<(Dyn, U5)>::zeros((Dyn(8), U5::default()));
    println!("{}", model.predict(&x));
}
