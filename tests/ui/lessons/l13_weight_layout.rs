// Lesson 13: PyTorch stores a linear weight as [out, in]. A weight laid out [in, out] (as
// some other frameworks do) has the wrong type for `Linear<3, 4>`, which wants [4, 3].
use nanotorch::prelude::*;

fn main() {
    let w_in_out = Tensor::<(U3, U4)>::zeros((U3::default(), U4::default()));
    let b = Tensor::<(U4,)>::zeros((U4::default(),));
    let fc: Linear<U3, U4> = Linear::from_tensors(w_in_out, b);
    println!("{:?}", fc.weight.value.dims());
}
