// Losses compare tensors of one shape: 1 logit per sample against 2 target columns.
use nanotorch::prelude::*;

fn main() -> Result<(), ShapeError> {
    let logits = Tensor::<(Dyn, U1)>::zeros((Dyn(4), U1::default()));
    let target = Tensor::<(Dyn, U2)>::zeros((Dyn(4), U2::default()));
    let (loss, _grad) = bce_with_logits(&logits, &target, Reduction::Mean)?;
    println!("{loss}");
    Ok(())
}
