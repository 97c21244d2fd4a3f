//! The original (Python) NanoTorch README example, line for line in NanoTorch-rs: a
//! 3 → 3 → 5 → 1 network with sigmoid activations learns y = x·[1, 2, 3] with MSE and SGD.
//!
//! ```sh
//! cargo run --release --example regression
//! ```

use nanotorch::prelude::*;

network! {
    /// The Python NanoTorch's README model: fits y = x·[1, 2, 3].
    pub struct Regressor {
        fc1: Linear<3, 3>,
        fc2: Linear<3, 5>,
        fc3: Linear<5, 1>,
    }
    fn forward(x: [B, 3]) -> [B, 1] {
        let h = sigmoid(fc1(x));
        fc3(sigmoid(fc2(h)))
    }
}

fn main() -> Result<(), ShapeError> {
    // Data: 50 random points in [0, 1)³ and their targets x·[1, 2, 3].
    let mut rng = seeded_rng(0);
    let x = Tensor::<(Dyn, U3)>::rand_uniform((Dyn(50), U3::default()), 0.0, 1.0, &mut rng);
    let w = Tensor::<(U3, U1)>::from_vec(&[3, 1], vec![1.0, 2.0, 3.0])?;
    let y = matmul(&x, &w)?;

    // Model, loss, optimizer — as `model = Regressor(); optimizer = SGD(lr=0.1)` in Python.
    let mut model = Regressor::<f32>::new(0);
    let mut optimizer = Sgd::new(0.1);
    let mut d_pred = Tensor::default();

    for epoch in 0..=5000 {
        model.zero_grad(); //                          optimizer.zero_grad()
        let pred = model.forward(&x); //               pred = model(x)
        let loss = mse_loss_into(pred, &y, Reduction::Mean, &mut d_pred)?; // loss = mse(pred, y)
        model.backward(&d_pred)?; //                    loss.backward()
        optimizer.step(&mut model); //                 optimizer.step()
        if epoch % 1000 == 0 {
            println!("epoch {epoch:>4}  loss {loss:.6}");
        }
    }

    let test = Tensor::<(Dyn, U3)>::from_vec(&[2, 3], vec![0.5, 0.5, 0.5, 0.1, 0.2, 0.3])?;
    println!("\npredictions for [0.5, 0.5, 0.5] and [0.1, 0.2, 0.3] (targets 3.0 and 1.4):");
    println!("{}", model.predict(&test));
    Ok(())
}
