//! The optimizers' contract beyond PyTorch parity: argument checks, schedule construction,
//! learning-rate changes, misuse with another model, and a real training loop
//! (`Linear` + `mse_loss` + each optimizer) that must fit a linear map.

mod train_support;

use nanotorch::loss::{Reduction, mse_loss};
use nanotorch::optim::*;
use nanotorch::shape::{U1, U3};
use nanotorch::{Dyn, Init, Layer, Linear, Module, ShapeError, Tensor, seeded_rng};
use train_support::TwoParams;

fn invalid(r: Result<impl std::fmt::Debug, ShapeError>) -> String {
    match r {
        Err(ShapeError::Invalid { what, found }) => format!("{what}: {found}"),
        other => panic!("expected ShapeError::Invalid, got {other:?}"),
    }
}

#[test]
fn validated_rejects_what_pytorch_rejects() {
    assert_eq!(
        invalid(Sgd::<f32>::new(0.1).nesterov(true).validated()),
        "SGD: nesterov needs momentum > 0: 0"
    );
    assert_eq!(
        invalid(
            Sgd::<f32>::new(0.1)
                .momentum(0.9)
                .dampening(0.1)
                .nesterov(true)
                .validated()
        ),
        "SGD: nesterov needs dampening = 0: 0.1"
    );
    assert_eq!(
        invalid(Sgd::<f32>::new(-1.0).validated()),
        "SGD: lr must be >= 0: -1"
    );
    assert_eq!(
        invalid(Adam::<f32>::new().betas(0.9, 1.0).validated()),
        "Adam: beta2 must be in [0, 1): 1"
    );
    assert_eq!(
        invalid(AdamW::<f32>::new().weight_decay(-0.1).validated()),
        "AdamW: weight_decay must be >= 0: -0.1"
    );
    assert_eq!(
        invalid(RmsProp::<f32>::new().eps(-1e-8).validated()),
        "RMSprop: eps must be >= 0: -0.00000001"
    );
    assert!(
        Sgd::<f32>::new(0.1)
            .momentum(0.9)
            .nesterov(true)
            .validated()
            .is_ok()
    );
    assert!(RmsProp::<f64>::default().validated().is_ok());
}

#[test]
fn schedules_reject_a_zero_period() {
    let opt = Sgd::<f32>::new(0.1);
    assert_eq!(
        invalid(StepLr::new(&opt, 0, 0.5)),
        "StepLR: step_size must be >= 1: 0"
    );
    assert_eq!(
        invalid(CosineAnnealingLr::new(&opt, 0, 0.0)),
        "CosineAnnealingLR: t_max must be >= 1: 0"
    );
}

#[test]
fn schedules_start_from_the_optimizers_rate() {
    let mut opt = Adam::<f32>::new().with_lr(0.02);
    let mut sched = StepLr::new(&opt, 2, 0.1).unwrap();
    assert_eq!((sched.last_epoch(), sched.last_lr()), (0, 0.02));
    let mut seen = Vec::new();
    for _ in 0..5 {
        sched.step(&mut opt);
        seen.push(opt.lr());
    }
    let expected = [0.02, 0.002, 0.002, 0.0002, 0.0002];
    for (a, b) in seen.iter().zip(expected) {
        assert!((a - b).abs() <= 1e-15, "{seen:?} vs {expected:?}");
    }
}

#[test]
fn set_lr_changes_the_next_step() {
    let mut m = TwoParams::<f64>::new(&[1.0; 12], &[1.0; 4]);
    m.set_grads(&[2.0; 12], &[2.0; 4]);
    let mut opt = Sgd::new(0.25);
    opt.step(&mut m);
    assert_eq!(m.bias.value.as_slice(), &[0.5; 4]);
    opt.set_lr(0.0);
    assert_eq!(opt.lr(), 0.0);
    opt.step(&mut m);
    assert_eq!(m.bias.value.as_slice(), &[0.5; 4]);
}

#[test]
#[should_panic(expected = "optimizer used with another model")]
fn an_optimizer_belongs_to_one_model() {
    let mut a = TwoParams::<f32>::new(&[0.0; 12], &[0.0; 4]);
    let mut opt = Adam::<f32>::new();
    opt.step(&mut a);
    let mut other: Linear<U3, U1> = Linear::init(&mut seeded_rng(0));
    opt.step(&mut other);
}

/// Fits `y = x·[1, −2, 0.5]ᵀ + 0.3` with a `Linear<3, 1>` and each optimizer.
fn fit<O: Optimizer<f64>>(name: &str, mut opt: O, epochs: usize) -> (f64, f64) {
    let mut rng = seeded_rng(42);
    let x = Tensor::<(Dyn, U3), f64>::rand_uniform((Dyn(32), U3::default()), -1.0, 1.0, &mut rng);
    let y_data: Vec<f64> = x
        .as_slice()
        .chunks_exact(3)
        .map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2] + 0.3)
        .collect();
    let y = Tensor::<(Dyn, U1), f64>::from_vec(&[32, 1], y_data).unwrap();
    let mut layer: Linear<U3, U1, f64> = Linear::init(&mut rng);
    let mut grad = Tensor::zeros(y.shape());
    let mut losses = Vec::new();
    for _ in 0..epochs {
        layer.zero_grad();
        let pred = layer.forward(&x);
        let loss = nanotorch::loss::mse_loss_into(&pred, &y, Reduction::Mean, &mut grad).unwrap();
        Layer::<Tensor<(Dyn, U3), f64>, f64>::backward_params(&mut layer, &grad);
        opt.step(&mut layer);
        losses.push(loss);
    }
    let final_loss = mse_loss(&layer.predict(&x), &y, Reduction::Mean).unwrap().0;
    println!("{name:<8} loss {:.3e} -> {final_loss:.3e}", losses[0]);
    (losses[0], final_loss)
}

#[test]
fn every_optimizer_fits_a_linear_map() {
    let cases = [
        fit("sgd", Sgd::new(0.1).momentum(0.9), 300),
        fit("adam", Adam::new().with_lr(0.05), 300),
        fit("adamw", AdamW::new().with_lr(0.05), 300),
        fit("rmsprop", RmsProp::new().with_lr(0.01), 300),
    ];
    for (start, end) in cases {
        assert!(end < 1e-3 * start, "loss went from {start} to only {end}");
    }
}
