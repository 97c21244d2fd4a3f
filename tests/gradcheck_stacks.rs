//! Finite-difference gradient checks (f64) of stacks (`blocks: [Block; N]`) and of networks
//! with several inputs and outputs: the loops and tuple calls `network!` writes are compared
//! with central differences of `L = Σ gᵢ ⊙ outputᵢ`, for every parameter and every input.

#[macro_use]
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
            let (a, b) = n.predict(x, h).unwrap();
            dot(&gh, &a) + dot(&gc, &b)
        };
        assert_model_grads(
            "cell",
            &mut net,
            |n| {
                n.forward(&x, &h).unwrap();
                n.backward(&gh, &gc).unwrap();
            },
            |n| loss(n, &x, &h),
        );
        net.zero_grad();
        let (a, b) = net.forward(&x, &h).unwrap();
        let (a, b) = (a.clone(), b.clone());
        assert_eq!(net.predict(&x, &h).unwrap().0.as_slice(), a.as_slice());
        assert_eq!(net.predict(&x, &h).unwrap().1.as_slice(), b.as_slice());
        let (dx, dh) = net.backward_with_input(&gh, &gc).unwrap();
        let (dx, dh) = (dx.clone(), dh.clone());
        assert_grad("cell.x", &x, &dx, |x| loss(&net, x, &h));
        assert_grad("cell.h", &h, &dh, |h| loss(&net, &x, h));
    }
}

/// Checks all parameters and both input gradients of a network taking `[B, 3]` and `[B, 4]`
/// and returning `[B, 2]`.
fn check_two_inputs<N: Module<f64>>(
    name: &str,
    mut net: N,
    seed: u64,
    forward: impl Fn(&mut N, &Tensor<(Dyn, U3), f64>, &Tensor<(Dyn, U4), f64>),
    backward: impl Fn(
        &mut N,
        &Tensor<(Dyn, U2), f64>,
    ) -> (Tensor<(Dyn, U3), f64>, Tensor<(Dyn, U4), f64>),
    predict: impl Fn(&N, &Tensor<(Dyn, U3), f64>, &Tensor<(Dyn, U4), f64>) -> Tensor<(Dyn, U2), f64>,
) {
    let mut r = rng(seed);
    for batch in [1usize, 3] {
        let x = rand_tensor((Dyn(batch), U3::default()), -1.5, 1.5, &mut r);
        let h = rand_tensor((Dyn(batch), U4::default()), -1.5, 1.5, &mut r);
        let g = rand_tensor((Dyn(batch), U2::default()), -1.0, 1.0, &mut r);
        assert_model_grads(
            name,
            &mut net,
            |n| {
                forward(n, &x, &h);
                backward(n, &g);
            },
            |n| dot(&g, &predict(n, &x, &h)),
        );
        net.zero_grad();
        forward(&mut net, &x, &h);
        let (dx, dh) = backward(&mut net, &g);
        assert_grad(&format!("{name}.x"), &x, &dx, |x| {
            dot(&g, &predict(&net, x, &h))
        });
        assert_grad(&format!("{name}.h"), &h, &dh, |h| {
            dot(&g, &predict(&net, &x, h))
        });
    }
}

/// The input gradients as owned tensors.
fn owned<A: Clone, B: Clone>((a, b): (&A, &B)) -> (A, B) {
    (a.clone(), b.clone())
}

#[test]
fn a_two_input_network_as_a_field() {
    check_two_inputs(
        "two steps",
        TwoSteps::<f64>::new(17),
        17,
        |n, x, h| {
            n.forward(x, h).unwrap();
        },
        |n, g| owned(n.backward_with_input(g).unwrap()),
        |n, x, h| n.predict(x, h).unwrap(),
    );
}

#[test]
fn tuple_outputs_summed_then_a_stack() {
    check_two_inputs(
        "cell then stack",
        CellThenStack::<f64>::new(18),
        18,
        |n, x, h| {
            n.forward(x, h).unwrap();
        },
        |n, g| owned(n.backward_with_input(g).unwrap()),
        |n, x, h| n.predict(x, h).unwrap(),
    );
}

#[test]
fn backward_rejects_a_wrong_gradient_for_any_output() {
    let mut net = Cell::<f64>::new(0);
    let x = Tensor::<(Dyn, U3), f64>::zeros((Dyn(2), U3::default()));
    let h = Tensor::<(Dyn, U4), f64>::zeros((Dyn(2), U4::default()));
    net.forward(&x, &h).unwrap();
    let good = Tensor::<(Dyn, U4), f64>::zeros((Dyn(2), U4::default()));
    let bad = Tensor::<(Dyn, U4), f64>::zeros((Dyn(3), U4::default()));
    assert!(net.backward(&good, &good).is_ok());
    assert!(net.backward(&good, &bad).is_err());
    assert!(net.backward(&bad, &good).is_err());
}
