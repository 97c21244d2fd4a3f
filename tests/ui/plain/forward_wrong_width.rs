// The first mistake with real data: the model takes 4 features, the data has 5.
use nanotorch::prelude::*;

network! {
    pub struct Classifier {
        fc1: Linear<4, 16>,
        fc2: Linear<16, 3>,
    }
    fn forward(x: [B, 4]) -> [B, 3] = fc1 -> relu -> fc2;
}

fn main() {
    let mut model = Classifier::<f32>::new(0);
    let x = Tensor::<(Dyn, U5)>::zeros((Dyn(8), U5::default()));
    let y = model.forward(&x);
    println!("{y}");
}
