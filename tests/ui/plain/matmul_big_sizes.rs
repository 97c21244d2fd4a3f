// Sizes above 1024 are types too, and are printed as the numbers they are.
use nanotorch::prelude::*;

fn main() -> Result<(), ShapeError> {
    let x = Tensor::<(Dyn, Const<3136>)>::zeros((Dyn(2), Const));
    let w = Tensor::<(Const<3137>, Const<10>)>::zeros((Const, Const));
    let y = matmul(&x, &w)?;
    println!("{y}");
    Ok(())
}
