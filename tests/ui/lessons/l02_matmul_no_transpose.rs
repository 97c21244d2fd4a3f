// Lesson 2: the weight of a linear layer is [out, in], so `y = x·Wᵀ`. Forgetting the
// transpose multiplies [B, 3] by [4, 3]: the inner dims 3 and 4 do not agree.
use nanotorch::prelude::*;

fn main() -> Result<(), ShapeError> {
    let x = Tensor::<(Dyn, U3)>::zeros((Dyn(2), U3::default()));
    let w = Tensor::<(U4, U3)>::zeros((U4::default(), U3::default()));
    let y = matmul(&x, &w)?;
    println!("{y}");
    Ok(())
}
