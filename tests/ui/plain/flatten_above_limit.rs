// Outside `network!`, sizes are multiplied in types only up to 1024: 64·7·7 = 3136 is beyond.
// The error says so in decimal (448 = 64·7 is the product so far).
use nanotorch::prelude::*;

fn main() {
    let x = Tensor::<(Dyn, U64, U7, U7)>::zeros((Dyn(2), Const, Const, Const));
    let y = flatten(&x);
    println!("{y}");
}
