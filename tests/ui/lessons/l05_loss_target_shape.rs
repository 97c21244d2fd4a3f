// Lesson 5: a loss compares predictions with targets of the same shape. A network with one
// output and three target columns does not type-check.
use nanotorch::prelude::*;

fn main() -> Result<(), ShapeError> {
    let pred = Tensor::<(Dyn, U1)>::zeros((Dyn(4), U1::default()));
    let target = Tensor::<(Dyn, U3)>::zeros((Dyn(4), U3::default()));
    let (loss, _grad) = mse_loss(&pred, &target, Reduction::Mean)?;
    println!("{loss}");
    Ok(())
}
