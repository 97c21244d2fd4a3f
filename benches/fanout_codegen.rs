//! What the residual network's backward would cost with a different code generation at its
//! fan-out (`h` feeds both the skip and the block): the step `network!` generates today
//! against the same step hand-written the suggested way. Run:
//! `cargo bench --bench fanout_codegen` (add `-- --quick` for a short run).
//!
//! Generated today, at the fan-out:
//!
//! ```text
//! d_h.assign(d_r); d_relu_block.assign(d_r);             // two copies of ∂L/∂r
//! relu_backward_into(relu_block, d_relu_block, d_block_out)
//! linear_backward_input_into(W_block, d_block_out, d_h_via_block_out)
//! accumulate(d_h, d_h_via_block_out)                     // third buffer + a pass
//! ```
//!
//! Suggested: no copies — `+` passes its gradient through by reference, and the product writes
//! `d_h` directly before the other contribution is added (`a + b == b + a` exactly in IEEE
//! arithmetic, so the gradients are bit-identical):
//!
//! ```text
//! relu_backward_into(relu_block, d_r, d_block_out)
//! linear_backward_input_into(W_block, d_block_out, d_h)
//! accumulate(d_h, d_r)
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nanotorch::ops::{
    add_into, linear_backward_input_into, linear_backward_params, linear_into, relu_backward_into,
    relu_into,
};
use nanotorch::prelude::*;
use nanotorch::{Linear, codegen::accumulate};
use nanotorch_suite::bench_models::Residual;

type Rows<F> = Tensor<(Dyn, F)>;

/// The residual network of `bench_models`, hand-written with the suggested fan-out code.
struct HandResidual {
    inp: Linear<U64, U32>,
    block: Linear<U32, U32>,
    head: Linear<U32, U10>,
    x: Rows<U64>,
    inp_out: Rows<U32>,
    h: Rows<U32>,
    block_out: Rows<U32>,
    relu_block: Rows<U32>,
    r: Rows<U32>,
    head_out: Rows<U10>,
    d_r: Rows<U32>,
    d_block_out: Rows<U32>,
    d_h: Rows<U32>,
    d_inp_out: Rows<U32>,
}

impl Module<f32> for HandResidual {
    fn visit_params(&mut self, f: &mut dyn FnMut(nanotorch::ParamMut<'_, f32>)) {
        self.inp.visit_params(f);
        self.block.visit_params(f);
        self.head.visit_params(f);
    }
    fn visit_named_params(
        &mut self,
        _prefix: &str,
        _f: &mut dyn FnMut(&str, &[usize], nanotorch::ParamMut<'_, f32>),
    ) {
    }
    fn set_training(&mut self, _training: bool) {}
}

impl HandResidual {
    fn new(seed: u64) -> Self {
        // The same generator, in the same field order, as `Residual::new`.
        let mut rng = seeded_rng(seed);
        Self {
            inp: Init::init(&mut rng),
            block: Init::init(&mut rng),
            head: Init::init(&mut rng),
            x: Tensor::default(),
            inp_out: Tensor::default(),
            h: Tensor::default(),
            block_out: Tensor::default(),
            relu_block: Tensor::default(),
            r: Tensor::default(),
            head_out: Tensor::default(),
            d_r: Tensor::default(),
            d_block_out: Tensor::default(),
            d_h: Tensor::default(),
            d_inp_out: Tensor::default(),
        }
    }

    fn forward(&mut self, x: &Rows<U64>) -> &Rows<U10> {
        self.x.assign(x);
        let (inp, block, head) = (&self.inp, &self.block, &self.head);
        linear_into(
            x,
            &inp.weight.value,
            Some(&inp.bias.value),
            &mut self.inp_out,
        )
        .unwrap();
        relu_into(&self.inp_out, &mut self.h);
        linear_into(
            &self.h,
            &block.weight.value,
            Some(&block.bias.value),
            &mut self.block_out,
        )
        .unwrap();
        relu_into(&self.block_out, &mut self.relu_block);
        add_into(&self.h, &self.relu_block, &mut self.r).unwrap();
        linear_into(
            &self.r,
            &head.weight.value,
            Some(&head.bias.value),
            &mut self.head_out,
        )
        .unwrap();
        &self.head_out
    }

    fn backward(&mut self, d_head_out: &Rows<U10>) {
        let (inp, block, head) = (&mut self.inp, &mut self.block, &mut self.head);
        linear_backward_params(
            &self.r,
            d_head_out,
            &mut head.weight.grad,
            Some(&mut head.bias.grad),
        )
        .unwrap();
        linear_backward_input_into(&head.weight.value, d_head_out, &mut self.d_r);
        relu_backward_into(&self.relu_block, &self.d_r, &mut self.d_block_out);
        linear_backward_params(
            &self.h,
            &self.d_block_out,
            &mut block.weight.grad,
            Some(&mut block.bias.grad),
        )
        .unwrap();
        linear_backward_input_into(&block.weight.value, &self.d_block_out, &mut self.d_h);
        accumulate(&mut self.d_h, &self.d_r);
        relu_backward_into(&self.h, &self.d_h, &mut self.d_inp_out);
        linear_backward_params(
            &self.x,
            &self.d_inp_out,
            &mut inp.weight.grad,
            Some(&mut inp.bias.grad),
        )
        .unwrap();
    }
}

fn data() -> (Rows<U64>, Vec<usize>) {
    let mut rng = seeded_rng(1);
    let x = Tensor::rand_uniform((Dyn(64), U64::default()), -1.0, 1.0, &mut rng);
    let labels = (0..64).map(|i| (i * 7) % 10).collect();
    (x, labels)
}

fn grads<M: Module<f32>>(m: &mut M) -> Vec<f32> {
    let mut all = Vec::new();
    m.visit_params(&mut |p| all.extend_from_slice(p.grad));
    all
}

fn fanout(c: &mut Criterion) {
    let (x, labels) = data();
    let mut generated: Residual = Residual::new(0);
    let mut hand = HandResidual::new(0);
    let mut dy: Rows<U10> = Tensor::default();

    // The two compute the same gradients, bit for bit.
    let out = generated.forward(&x);
    cross_entropy_into(out, &labels, Reduction::Mean, &mut dy).unwrap();
    generated.backward(&dy).unwrap();
    let out = hand.forward(&x);
    cross_entropy_into(out, &labels, Reduction::Mean, &mut dy).unwrap();
    hand.backward(&dy);
    assert_eq!(grads(&mut generated), grads(&mut hand));

    let mut group = c.benchmark_group("residual forward+backward");
    group.bench_function("generated", |b| {
        b.iter(|| {
            generated.zero_grad();
            let out = generated.forward(black_box(&x));
            cross_entropy_into(out, &labels, Reduction::Mean, &mut dy).unwrap();
            generated.backward(&dy).unwrap();
        })
    });
    group.bench_function("suggested fan-out", |b| {
        b.iter(|| {
            hand.zero_grad();
            let out = hand.forward(black_box(&x));
            cross_entropy_into(out, &labels, Reduction::Mean, &mut dy).unwrap();
            hand.backward(&dy);
        })
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
