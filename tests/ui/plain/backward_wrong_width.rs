// `backward` takes the gradient of the output: [B, 3] for a model with 3 outputs, not [B, 2].
use nanotorch::prelude::*;

network! {
    pub struct Classifier {
        fc1: Linear<4, 16>,
        fc2: Linear<16, 3>,
    }
    fn forward(x: [B, 4]) -> [B, 3] = fc1 -> relu -> fc2;
}

fn main() -> Result<(), ShapeError> {
    let mut model = Classifier::<f32>::new(0);
    let x = Tensor::<(Dyn, U4)>::zeros((Dyn(8), U4::default()));
    model.forward(&x);
    let dy = Tensor::<(Dyn, U2)>::ones((Dyn(8), U2::default()));
    model.backward(&dy)
}
