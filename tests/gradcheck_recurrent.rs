//! Finite-difference gradient checks (f64) of the built-in recurrent layers `Rnn`, `Lstm`,
//! `Gru` — with and without an initial state, through the sequence and through the last state
//! — and of the built-in cells `RnnCell`, `LstmCell`, `GruCell` scanned over a sequence: every
//! parameter, the sequence and the initial states.

#[macro_use]
mod common;

use common::*;
use nanotorch::SeededRng;
use nanotorch::prelude::*;

type T<S> = Tensor<S, f64>;
/// A sequence `[B, 5, 2]`, a state `[B, 3]`.
type X = T<(Dyn, U5, U2)>;
type S = T<(Dyn, U3)>;

network! {
    /// `Rnn` from a given state; the head on every step and the last state out.
    pub struct RnnGiven { rnn: Rnn<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2], h0: [B, 3]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h) = rnn(x, h0);
        (head(hs), h)
    }
}

network! {
    /// `Rnn` from zeros.
    pub struct RnnZero { rnn: Rnn<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h) = rnn(x);
        (head(hs), h)
    }
}

network! {
    /// `Gru` from a given state.
    pub struct GruGiven { gru: Gru<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2], h0: [B, 3]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h) = gru(x, h0);
        (head(hs), h)
    }
}

network! {
    /// `Gru` from zeros.
    pub struct GruZero { gru: Gru<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h) = gru(x);
        (head(hs), h)
    }
}

network! {
    /// `Lstm` from a given state; both last states reach the loss.
    pub struct LstmGiven { lstm: Lstm<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2], h0: [B, 3], c0: [B, 3]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h, c) = lstm(x, h0, c0);
        (head(hs), h + c)
    }
}

network! {
    /// `Lstm` from zeros.
    pub struct LstmZero { lstm: Lstm<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h, c) = lstm(x);
        (head(hs), h * c)
    }
}

network! {
    /// The built-in `GruCell` scanned from a given state.
    pub struct GruCellScan { cell: GruCell<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2], h0: [B, 3]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h) = scan(cell, x, h0);
        (head(hs), h)
    }
}

network! {
    /// The built-in `RnnCell` scanned from zeros.
    pub struct RnnCellScan { cell: RnnCell<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h) = scan(cell, x);
        (head(hs), h)
    }
}

network! {
    /// The built-in `LstmCell` scanned from a given state.
    pub struct LstmCellScan { cell: LstmCell<2, 3>, head: Linear<3, 2> }
    fn forward(x: [B, 5, 2], h0: [B, 3], c0: [B, 3]) -> ([B, 5, 2], [B, 3]) {
        let (hs, h, c) = scan(cell, x, h0, c0);
        (head(hs), h - c)
    }
}

network! {
    /// One GRU layer from zeros as a block: sequence in, sequence out.
    pub struct GruBlock { gru: Gru<2, 2> }
    fn forward(x: [B, 5, 2]) -> [B, 5, 2] {
        let (hs, _h) = gru(x);
        hs
    }
}

network! {
    /// Two GRU layers through a stack, PyTorch's `num_layers = 2` (each layer from zeros).
    pub struct StackedGru { blocks: [GruBlock; 2], head: Linear<2, 2> }
    fn forward(x: [B, 5, 2]) -> [B, 5, 2] {
        head(blocks(x))
    }
}

/// Random inputs and output gradients for one batch size.
struct Case {
    x: X,
    h0: S,
    c0: S,
    gy: X,
    gh: S,
}

impl Case {
    fn new(batch: usize, r: &mut SeededRng) -> Case {
        let seq = (Dyn(batch), U5::default(), U2::default());
        let state = (Dyn(batch), U3::default());
        Case {
            x: rand_tensor(seq, -1.5, 1.5, r),
            h0: rand_tensor(state, -1.0, 1.0, r),
            c0: rand_tensor(state, -1.0, 1.0, r),
            gy: rand_tensor(seq, -1.0, 1.0, r),
            gh: rand_tensor(state, -1.0, 1.0, r),
        }
    }
}

/// The gradients a network returns for `(x, h0, c0)`; `None` for an input it does not take.
type InputGrads = (X, Option<S>, Option<S>);

/// Checks every parameter's gradient and every input's, for batches of 1 and 3. `predict`
/// and `train` adapt one network to the inputs `(x, h0, c0)` (ignoring those it does not
/// take); `train` runs forward and `backward_with_input` and returns the inputs' gradients.
fn check<N: Module<f64>>(
    name: &str,
    new: impl Fn() -> N,
    predict: impl Fn(&N, &X, &S, &S) -> (X, S),
    mut train: impl FnMut(&mut N, &Case) -> InputGrads,
) {
    let mut r = rng(41);
    for batch in [1usize, 3] {
        let case = Case::new(batch, &mut r);
        let loss = |n: &N, x: &X, h0: &S, c0: &S| {
            let (y, h) = predict(n, x, h0, c0);
            dot(&case.gy, &y) + dot(&case.gh, &h)
        };
        let mut net = new();
        assert_model_grads(
            name,
            &mut net,
            |n| {
                train(n, &case);
            },
            |n| loss(n, &case.x, &case.h0, &case.c0),
        );
        net.zero_grad();
        let (dx, dh0, dc0) = train(&mut net, &case);
        let Case { x, h0, c0, .. } = &case;
        assert_grad(&format!("{name}.x"), x, &dx, |x| loss(&net, x, h0, c0));
        if let Some(dh0) = dh0 {
            assert_grad(&format!("{name}.h0"), h0, &dh0, |h| loss(&net, x, h, c0));
        }
        if let Some(dc0) = dc0 {
            assert_grad(&format!("{name}.c0"), c0, &dc0, |c| loss(&net, x, h0, c));
        }
    }
}

/// `check` for a network taking `(x, h0)`.
macro_rules! check_given {
    ($name:literal, $net:ident) => {
        check(
            $name,
            || $net::<f64>::new(7),
            |n, x, h0, _| n.predict(x, h0).unwrap(),
            |n, c| {
                n.forward(&c.x, &c.h0).unwrap();
                let (dx, dh0) = n.backward_with_input(&c.gy, &c.gh).unwrap();
                (dx.clone(), Some(dh0.clone()), None)
            },
        )
    };
}

/// `check` for a network taking `x` alone.
macro_rules! check_zero {
    ($name:literal, $net:ident) => {
        check(
            $name,
            || $net::<f64>::new(8),
            |n, x, _, _| n.predict(x),
            |n, c| {
                n.forward(&c.x);
                (
                    n.backward_with_input(&c.gy, &c.gh).unwrap().clone(),
                    None,
                    None,
                )
            },
        )
    };
}

/// `check` for a network taking `(x, h0, c0)`.
macro_rules! check_lstm {
    ($name:literal, $net:ident) => {
        check(
            $name,
            || $net::<f64>::new(9),
            |n, x, h0, c0| n.predict(x, h0, c0).unwrap(),
            |n, c| {
                n.forward(&c.x, &c.h0, &c.c0).unwrap();
                let (dx, dh0, dc0) = n.backward_with_input(&c.gy, &c.gh).unwrap();
                (dx.clone(), Some(dh0.clone()), Some(dc0.clone()))
            },
        )
    };
}

#[test]
fn rnn_with_and_without_an_initial_state() {
    check_given!("rnn", RnnGiven);
    check_zero!("rnn from zeros", RnnZero);
}

#[test]
fn gru_with_and_without_an_initial_state() {
    check_given!("gru", GruGiven);
    check_zero!("gru from zeros", GruZero);
}

#[test]
fn lstm_with_and_without_an_initial_state() {
    check_lstm!("lstm", LstmGiven);
    check_zero!("lstm from zeros", LstmZero);
}

#[test]
fn builtin_cells_scanned() {
    check_given!("gru cell scanned", GruCellScan);
    check_zero!("rnn cell scanned", RnnCellScan);
    check_lstm!("lstm cell scanned", LstmCellScan);
}

/// The cells are the sequence layers with one step: a `GruCell` scanned over a sequence gives
/// the `Gru` layer's values and gradients when both hold the same weights.
#[test]
fn a_scanned_cell_is_the_layer() {
    let mut r = rng(42);
    let case = Case::new(3, &mut r);
    let mut layer = GruGiven::<f64>::new(5);
    let mut scanned = GruCellScan::<f64>::new(6);
    let mut values = Vec::new();
    layer.visit_params(&mut |p| values.push(p.value.to_vec()));
    let mut from = values.into_iter();
    scanned.visit_params(&mut |p| p.value.copy_from_slice(&from.next().unwrap()));
    let (y1, h1) = layer.forward(&case.x, &case.h0).unwrap();
    let (y1, h1) = (y1.clone(), h1.clone());
    let (y2, h2) = scanned.forward(&case.x, &case.h0).unwrap();
    assert_close("hs", y1.as_slice(), y2.as_slice());
    assert_close("h", h1.as_slice(), h2.as_slice());
    let (dx1, dh1) = layer.backward_with_input(&case.gy, &case.gh).unwrap();
    let (dx1, dh1) = (dx1.clone(), dh1.clone());
    let (dx2, dh2) = scanned.backward_with_input(&case.gy, &case.gh).unwrap();
    assert_close("dx", dx1.as_slice(), dx2.as_slice());
    assert_close("dh0", dh1.as_slice(), dh2.as_slice());
    let mut grads = [Vec::new(), Vec::new()];
    layer.visit_params(&mut |p| grads[0].extend_from_slice(p.grad));
    scanned.visit_params(&mut |p| grads[1].extend_from_slice(p.grad));
    assert_close("parameter gradients", &grads[0], &grads[1]);
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 1e-12, "{what}[{k}]: {x} vs {y}");
    }
}

/// Several layers through a stack: each block a recurrent layer over the previous one's
/// sequence.
#[test]
fn stacked_layers() {
    let mut r = rng(43);
    for batch in [1usize, 3] {
        let case = Case::new(batch, &mut r);
        let mut net = StackedGru::<f64>::new(10);
        assert_model_grads(
            "stacked gru",
            &mut net,
            |n| {
                n.forward(&case.x);
                n.backward(&case.gy).unwrap();
            },
            |n| dot(&case.gy, &n.predict(&case.x)),
        );
        net.zero_grad();
        net.forward(&case.x);
        let dx = net.backward_with_input(&case.gy).unwrap().clone();
        assert_grad("stacked gru.x", &case.x, &dx, |x| {
            dot(&case.gy, &net.predict(x))
        });
    }
}
