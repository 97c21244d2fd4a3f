// A layer applied in plain Rust: `Linear<3136, 10>` takes 3136 features, the value has 3200.
use nanotorch::prelude::*;

fn main() {
    let mut fc = Linear::<Const<3136>, U10>::init(&mut seeded_rng(0));
    let x = Tensor::<(Dyn, Const<3200>)>::zeros((Dyn(2), Const));
    let y = fc.forward(&x);
    println!("{y}");
}
