// A constructor's shape value must match the tensor's type: a [_, 3] tensor cannot be built
// with 4 columns.
use nanotorch::prelude::*;

fn main() {
    let x = Tensor::<(Dyn, U3)>::zeros((Dyn(2), U4::default()));
    println!("{x}");
}
