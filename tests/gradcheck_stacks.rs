//! Finite-difference gradient checks (f64) of stacks (`blocks: [Block; N]`) and of networks
//! with several inputs and outputs: the loops and tuple calls `network!` writes are compared
//! with central differences of `L = Σ gᵢ ⊙ outputᵢ`, for every parameter and every input.

mod common;

use common::*;
use nanotorch::prelude::*;

network! {
    /// A residual MLP block: keeps its input's shape, as a stack requires.
    pub struct Block {
        fc: Linear<5, 7>,
        proj: Linear<7, 5>,
    }
    fn forward(x: [B, 5]) -> [B, 5] {
        x + proj(tanh(fc(x)))
    }
}

network! {
    /// Four blocks in a stack between an input and an output layer.
    pub struct Deep {
        inp: Linear<3, 5>,
        blocks: [Block; 4],
        head: Linear<5, 2>,
    }
    fn forward(x: [B, 3]) -> [B, 2] = inp -> blocks -> head;
}

network! {
    /// A stack right at the input (its first block's input gradient is input-only) whose
    /// depth is a size parameter.
    pub struct Tower<L> {
        blocks: [Block; L],
        head: Linear<5, 1>,
    }
    fn forward(x: [B, 5]) -> [B, 1] {
        let h = blocks(x);
        head(sigmoid(h) * h)
    }
}

network! {
    /// A block that holds a stack of its own.
    pub struct Group {
        inner: [Block; 2],
        mix: Linear<5, 5>,
    }
    fn forward(x: [B, 5]) -> [B, 5] {
        let h = inner(x);
        h + tanh(mix(h))
    }
}

network! {
    /// A stack of blocks that hold stacks.
    pub struct Nested {
        inp: Linear<4, 5>,
        groups: [Group; 3],
        head: Linear<5, 3>,
    }
    fn forward(x: [B, 4]) -> [B, 3] = inp -> groups -> head;
}

network! {
    /// Two inputs, two outputs: an LSTM-like cell, `(h, c)` from `x` and the state, with `c`
    /// both returned and read by `h` (its gradient is the given one plus `h`'s).
    pub struct Cell {
        wx: Linear<3, 4>,
        wh: Linear<4, 4>,
        gate: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> ([B, 4], [B, 4]) {
        let pre = wx(x) + wh(h);
        let c = tanh(pre) * sigmoid(gate(h));
        let out = sigmoid(pre) * tanh(c);
        (out, c)
    }
}

network! {
    /// The cell as a field, called with two arguments, its outputs unpacked.
    pub struct TwoSteps {
        cell: Cell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 3], h0: [B, 4]) -> [B, 2] {
        let (h1, c1) = cell(x, h0);
        head(h1 * c1 + h0)
    }
}

network! {
    /// The cell's two outputs summed (the right one is viewed with the left one's type, so
    /// its gradient has a buffer of its own with a single contribution), then a stack.
    pub struct CellThenStack {
        cell: Cell,
        blocks: [Small; 2],
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 3], h0: [B, 4]) -> [B, 2] {
        let (h, c) = cell(x, h0);
        head(blocks(h + c))
    }
}

network! {
    /// A residual block 4 wide.
    pub struct Small {
        fc: Linear<4, 4>,
    }
    fn forward(x: [B, 4]) -> [B, 4] {
        x + tanh(fc(x))
    }
}

/// Checks all parameters and the input gradient of a one-input network.
macro_rules! check_network {
    ($name:literal, $net:ty, $in_shape:expr, $out_shape:expr, $seed:expr) => {{
        let mut r = rng($seed);
        for batch in [1usize, 3] {
            let mut net = <$net>::new($seed);
            let x = rand_tensor($in_shape(batch), -1.5, 1.5, &mut r);
            let g = rand_tensor($out_shape(batch), -1.0, 1.0, &mut r);
            assert_model_grads(
                $name,
                &mut net,
                |n| {
                    n.forward(&x);
                    n.backward(&g).unwrap();
                },
                |n| dot(&g, &n.predict(&x)),
            );
            net.zero_grad();
            net.forward(&x);
            let dx = net.backward_with_input(&g).unwrap().clone();
            assert_grad(concat!($name, ".input"), &x, &dx, |x| {
                dot(&g, &net.predict(x))
            });
        }
    }};
}

#[test]
fn four_block_stack() {
    check_network!(
        "stack of 4",
        Deep<f64>,
        |b| (Dyn(b), U3::default()),
        |b| (Dyn(b), U2::default()),
        11
    );
}

#[test]
fn stack_at_the_input_with_a_size_parameter() {
    check_network!(
        "stack of L = 3",
        Tower<U3, f64>,
        |b| (Dyn(b), U5::default()),
        |b| (Dyn(b), U1::default()),
        12
    );
    check_network!(
        "stack of L = 1",
        Tower<U1, f64>,
        |b| (Dyn(b), U5::default()),
        |b| (Dyn(b), U1::default()),
        13
    );
}

#[test]
fn stack_nested_in_a_stack() {
    check_network!(
        "stack in stack",
        Nested<f64>,
        |b| (Dyn(b), U4::default()),
        |b| (Dyn(b), U3::default()),
        14
    );
}

#[test]
fn predict_and_forward_agree_through_a_stack() {
    let mut net = Deep::<f64>::new(3);
    let x = rand_tensor((Dyn(4), U3::default()), -1.0, 1.0, &mut rng(15));
    let y = net.forward(&x).clone();
    assert_eq!(y.as_slice(), net.predict(&x).as_slice());
}

#[test]
fn stack_blocks_are_separate_and_named_like_a_module_list() {
    let mut net = Deep::<f32>::new(0);
    let mut names = Vec::new();
    net.visit_named_params("", &mut |name, dims, _| {
        names.push(format!("{name} {dims:?}"))
    });
    let want: Vec<String> = std::iter::once("inp.weight [5, 3]".to_string())
        .chain(std::iter::once("inp.bias [5]".to_string()))
        .chain((0..4).flat_map(|k| {
            [
                format!("blocks.{k}.fc.weight [7, 5]"),
                format!("blocks.{k}.fc.bias [7]"),
                format!("blocks.{k}.proj.weight [5, 7]"),
                format!("blocks.{k}.proj.bias [5]"),
            ]
        }))
        .chain([
            "head.weight [2, 5]".to_string(),
            "head.bias [2]".to_string(),
        ])
        .collect();
    assert_eq!(names, want);
    // Each block drew its own initial weights.
    assert_ne!(
        net.blocks[0].fc.weight.value.as_slice(),
        net.blocks[1].fc.weight.value.as_slice()
    );
    let mut nested = Nested::<f32>::new(0);
    let mut names = Vec::new();
    nested.visit_named_params("", &mut |name, _, _| names.push(name.to_string()));
    assert!(
        names.contains(&"groups.2.inner.1.proj.bias".to_string()),
        "{names:?}"
    );
    assert_eq!(names.len(), 2 + 3 * (4 * 2 + 2) + 2);
}

#[test]
fn two_inputs_two_outputs() {
    let mut r = rng(16);
    for batch in [1usize, 3] {
        let mut net = Cell::<f64>::new(16);
        let x = rand_tensor((Dyn(batch), U3::default()), -1.5, 1.5, &mut r);
        let h = rand_tensor((Dyn(batch), U4::default()), -1.5, 1.5, &mut r);
        let gh = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let gc = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let loss = |n: &Cell<f64>, x: &Tensor<(Dyn, U3), f64>, h: &Tensor<(Dyn, U4), f64>| {
            let (a, b) = n.predict(x, h);
            dot(&gh, &a) + dot(&gc, &b)
        };
        assert_model_grads(
            "cell",
            &mut net,
            |n| {
                n.forward(&x, &h);
                n.backward(&gh, &gc).unwrap();
            },
            |n| loss(n, &x, &h),
        );
        net.zero_grad();
        let (a, b) = net.forward(&x, &h);
        let (a, b) = (a.clone(), b.clone());
        assert_eq!(net.predict(&x, &h).0.as_slice(), a.as_slice());
        assert_eq!(net.predict(&x, &h).1.as_slice(), b.as_slice());
        let (dx, dh) = net.backward_with_input(&gh, &gc).unwrap();
        let (dx, dh) = (dx.clone(), dh.clone());
        assert_grad("cell.x", &x, &dx, |x| loss(&net, x, &h));
        assert_grad("cell.h", &h, &dh, |h| loss(&net, &x, h));
    }
}

#[test]
fn a_two_input_network_as_a_field() {
    let mut r = rng(17);
    for batch in [1usize, 2] {
        let mut net = TwoSteps::<f64>::new(17);
        let x = rand_tensor((Dyn(batch), U3::default()), -1.5, 1.5, &mut r);
        let h = rand_tensor((Dyn(batch), U4::default()), -1.5, 1.5, &mut r);
        let g = rand_tensor((Dyn(batch), U2::default()), -1.0, 1.0, &mut r);
        assert_model_grads(
            "two steps",
            &mut net,
            |n| {
                n.forward(&x, &h);
                n.backward(&g).unwrap();
            },
            |n| dot(&g, &n.predict(&x, &h)),
        );
        net.zero_grad();
        net.forward(&x, &h);
        let (dx, dh) = net.backward_with_input(&g).unwrap();
        let (dx, dh) = (dx.clone(), dh.clone());
        assert_grad("two steps.x", &x, &dx, |x| dot(&g, &net.predict(x, &h)));
        assert_grad("two steps.h", &h, &dh, |h| dot(&g, &net.predict(&x, h)));
    }
}

#[test]
fn tuple_outputs_summed_then_a_stack() {
    let mut r = rng(18);
    for batch in [1usize, 3] {
        let mut net = CellThenStack::<f64>::new(18);
        let x = rand_tensor((Dyn(batch), U3::default()), -1.5, 1.5, &mut r);
        let h = rand_tensor((Dyn(batch), U4::default()), -1.5, 1.5, &mut r);
        let g = rand_tensor((Dyn(batch), U2::default()), -1.0, 1.0, &mut r);
        assert_model_grads(
            "cell then stack",
            &mut net,
            |n| {
                n.forward(&x, &h);
                n.backward(&g).unwrap();
            },
            |n| dot(&g, &n.predict(&x, &h)),
        );
        net.zero_grad();
        net.forward(&x, &h);
        let (dx, dh) = net.backward_with_input(&g).unwrap();
        let (dx, dh) = (dx.clone(), dh.clone());
        assert_grad("cell then stack.x", &x, &dx, |x| {
            dot(&g, &net.predict(x, &h))
        });
        assert_grad("cell then stack.h", &h, &dh, |h| {
            dot(&g, &net.predict(&x, h))
        });
    }
}

#[test]
fn backward_rejects_a_wrong_gradient_for_any_output() {
    let mut net = Cell::<f64>::new(0);
    let x = Tensor::<(Dyn, U3), f64>::zeros((Dyn(2), U3::default()));
    let h = Tensor::<(Dyn, U4), f64>::zeros((Dyn(2), U4::default()));
    net.forward(&x, &h);
    let good = Tensor::<(Dyn, U4), f64>::zeros((Dyn(2), U4::default()));
    let bad = Tensor::<(Dyn, U4), f64>::zeros((Dyn(3), U4::default()));
    assert!(net.backward(&good, &good).is_ok());
    assert!(net.backward(&good, &bad).is_err());
    assert!(net.backward(&bad, &good).is_err());
}
