// Lesson 1: outside `network!`, a shape is a type, and two tensors of different shape types
// cannot be added; the compiler names both sizes, in decimal.
use nanotorch::prelude::*;

fn main() -> Result<(), ShapeError> {
    let a = Tensor::<(Dyn, U3)>::zeros((Dyn(2), U3::default()));
    let b = Tensor::<(Dyn, U4)>::zeros((Dyn(2), U4::default()));
    let s = add(&a, &b)?;
    println!("{s}");
    Ok(())
}
