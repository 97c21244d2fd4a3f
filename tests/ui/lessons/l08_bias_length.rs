// Lesson 8: a bias is broadcast over the rows of a batch, so its length must be the number
// of features (columns), here 3, not 4.
use nanotorch::prelude::*;

fn main() -> Result<(), ShapeError> {
    let x = Tensor::<(Dyn, U3)>::zeros((Dyn(2), U3::default()));
    let b = Tensor::<(U4,)>::zeros((U4::default(),));
    let y = add_bias(&x, &b)?;
    println!("{y}");
    Ok(())
}
