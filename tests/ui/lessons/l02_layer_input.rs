// Lesson 2: calling a layer by hand (outside `network!`) with a value of the wrong width.
// `Linear<U4, U2>` takes 4 features; `x` has 3.
use nanotorch::prelude::*;

fn main() {
    let mut fc = Linear::<U4, U2>::init(&mut seeded_rng(0));
    let x = Tensor::<(Dyn, U3)>::zeros((Dyn(2), U3::default()));
    let y = fc.forward(&x);
    println!("{y}");
}
