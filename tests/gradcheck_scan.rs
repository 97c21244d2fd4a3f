//! Finite-difference gradient checks (f64) of scans — a cell run at every time step, and the
//! backpropagation through time `network!` writes as a reversed loop: every parameter, the
//! sequence and the initial states, through the sequence of states and through the last ones.

#[macro_use]
mod common;

use common::*;
use nanotorch::prelude::*;

network! {
    /// An Elman RNN cell: `h' = tanh(W_x x + W_h h)`.
    pub struct RnnCell {
        wx: Linear<3, 4>,
        wh: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4]) -> [B, 4] {
        tanh(wx(x) + wh(h))
    }
}

network! {
    /// The cell scanned over 5 steps, a head on every step's state.
    pub struct Rnn {
        cell: RnnCell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 5, 3], h0: [B, 4]) -> [B, 5, 2] {
        let (hs, _h) = scan(cell, x, h0);
        head(hs)
    }
}

network! {
    /// An LSTM cell from `Linear`, `sigmoid`, `tanh` and `*` (PyTorch's gate equations).
    pub struct LstmCell {
        xi: Linear<3, 4>,
        hi: Linear<4, 4>,
        xf: Linear<3, 4>,
        hf: Linear<4, 4>,
        xg: Linear<3, 4>,
        hg: Linear<4, 4>,
        xo: Linear<3, 4>,
        ho: Linear<4, 4>,
    }
    fn forward(x: [B, 3], h: [B, 4], c: [B, 4]) -> ([B, 4], [B, 4]) {
        let i = sigmoid(xi(x) + hi(h));
        let f = sigmoid(xf(x) + hf(h));
        let g = tanh(xg(x) + hg(h));
        let o = sigmoid(xo(x) + ho(h));
        let c2 = f * c + i * g;
        (o * tanh(c2), c2)
    }
}

network! {
    /// The LSTM over 4 steps: a head on the states, and the last `(h, c)` returned too.
    pub struct Lstm {
        cell: LstmCell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 4, 3], h0: [B, 4], c0: [B, 4]) -> ([B, 4, 2], [B, 4], [B, 4]) {
        let (hs, h, c) = scan(cell, x, h0, c0);
        (head(hs), h, c)
    }
}

network! {
    /// A classifier that reads only the last state: the sequence of states is not used.
    pub struct LastOnly {
        inp: Linear<2, 3>,
        cell: RnnCell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 6, 2], h0: [B, 4]) -> [B, 2] {
        let (_hs, h) = scan(cell, inp(x), h0);
        head(h)
    }
}

network! {
    /// The LSTM from a zero state (`scan(cell, x)`), two layers: the second scans the first's
    /// sequence of states.
    pub struct TwoLayers {
        inp: Linear<3, 3>,
        first: LstmCell,
        second: Layer2Cell,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 4, 3]) -> [B, 2] {
        let (hs, _h, _c) = scan(first, inp(x));
        let (_hs2, h2) = scan(second, hs);
        head(h2)
    }
}

network! {
    /// An RNN cell on the first layer's states (4 wide).
    pub struct Layer2Cell {
        wx: Linear<4, 4>,
        wh: Linear<4, 4>,
    }
    fn forward(x: [B, 4], h: [B, 4]) -> [B, 4] {
        tanh(wx(x) + wh(h))
    }
}

network! {
    /// The built-in `Lstm` layer (fused gates, PyTorch's layout) between two `Linear`s.
    pub struct BuiltIn {
        inp: Linear<2, 3>,
        lstm: Lstm<3, 4>,
        head: Linear<4, 2>,
    }
    fn forward(x: [B, 5, 2], h0: [B, 4], c0: [B, 4]) -> ([B, 5, 2], [B, 4]) {
        let (hs, h, c) = lstm(inp(x), h0, c0);
        (head(hs), h * c)
    }
}

type T<S> = Tensor<S, f64>;

#[test]
fn rnn_through_the_sequence() {
    let mut r = rng(31);
    for batch in [1usize, 3] {
        let mut net = Rnn::<f64>::new(31);
        let x: T<(Dyn, U5, U3)> = rand_tensor(
            (Dyn(batch), U5::default(), U3::default()),
            -1.5,
            1.5,
            &mut r,
        );
        let h0: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let g: T<(Dyn, U5, U2)> = rand_tensor(
            (Dyn(batch), U5::default(), U2::default()),
            -1.0,
            1.0,
            &mut r,
        );
        assert_model_grads(
            "rnn",
            &mut net,
            |n| {
                n.forward(&x, &h0).unwrap();
                n.backward(&g).unwrap();
            },
            |n| dot(&g, &n.predict(&x, &h0).unwrap()),
        );
        net.zero_grad();
        let y = net.forward(&x, &h0).unwrap().clone();
        assert_eq!(
            y,
            net.predict(&x, &h0).unwrap(),
            "forward and predict agree"
        );
        let (dx, dh0) = net.backward_with_input(&g).unwrap();
        let (dx, dh0) = (dx.clone(), dh0.clone());
        assert_grad("rnn.x", &x, &dx, |x| dot(&g, &net.predict(x, &h0).unwrap()));
        assert_grad("rnn.h0", &h0, &dh0, |h| {
            dot(&g, &net.predict(&x, h).unwrap())
        });
    }
}

#[test]
fn lstm_through_the_sequence_and_the_last_state() {
    let mut r = rng(32);
    for batch in [1usize, 2] {
        let mut net = Lstm::<f64>::new(32);
        let x: T<(Dyn, U4, U3)> = rand_tensor(
            (Dyn(batch), U4::default(), U3::default()),
            -1.5,
            1.5,
            &mut r,
        );
        let h0: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let c0: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let gy: T<(Dyn, U4, U2)> = rand_tensor(
            (Dyn(batch), U4::default(), U2::default()),
            -1.0,
            1.0,
            &mut r,
        );
        let gh: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let gc: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let loss = |n: &Lstm<f64>, x: &T<(Dyn, U4, U3)>, h0: &T<(Dyn, U4)>, c0: &T<(Dyn, U4)>| {
            let (y, h, c) = n.predict(x, h0, c0).unwrap();
            dot(&gy, &y) + dot(&gh, &h) + dot(&gc, &c)
        };
        assert_model_grads(
            "lstm",
            &mut net,
            |n| {
                n.forward(&x, &h0, &c0).unwrap();
                n.backward(&gy, &gh, &gc).unwrap();
            },
            |n| loss(n, &x, &h0, &c0),
        );
        net.zero_grad();
        net.forward(&x, &h0, &c0).unwrap();
        let (dx, dh0, dc0) = net.backward_with_input(&gy, &gh, &gc).unwrap();
        let (dx, dh0, dc0) = (dx.clone(), dh0.clone(), dc0.clone());
        assert_grad("lstm.x", &x, &dx, |x| loss(&net, x, &h0, &c0));
        assert_grad("lstm.h0", &h0, &dh0, |h| loss(&net, &x, h, &c0));
        assert_grad("lstm.c0", &c0, &dc0, |c| loss(&net, &x, &h0, c));
    }
}

#[test]
fn last_state_only() {
    let mut r = rng(33);
    for batch in [1usize, 3] {
        let mut net = LastOnly::<f64>::new(33);
        let x: T<(Dyn, U6, U2)> = rand_tensor(
            (Dyn(batch), U6::default(), U2::default()),
            -1.5,
            1.5,
            &mut r,
        );
        let h0: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let g: T<(Dyn, U2)> = rand_tensor((Dyn(batch), U2::default()), -1.0, 1.0, &mut r);
        assert_model_grads(
            "last only",
            &mut net,
            |n| {
                n.forward(&x, &h0).unwrap();
                n.backward(&g).unwrap();
            },
            |n| dot(&g, &n.predict(&x, &h0).unwrap()),
        );
        net.zero_grad();
        net.forward(&x, &h0).unwrap();
        let (dx, dh0) = net.backward_with_input(&g).unwrap();
        let (dx, dh0) = (dx.clone(), dh0.clone());
        assert_grad("last only.x", &x, &dx, |x| {
            dot(&g, &net.predict(x, &h0).unwrap())
        });
        assert_grad("last only.h0", &h0, &dh0, |h| {
            dot(&g, &net.predict(&x, h).unwrap())
        });
    }
}

#[test]
fn zero_initial_states_and_two_layers() {
    let mut r = rng(35);
    for batch in [1usize, 3] {
        let mut net = TwoLayers::<f64>::new(35);
        let x: T<(Dyn, U4, U3)> = rand_tensor(
            (Dyn(batch), U4::default(), U3::default()),
            -1.5,
            1.5,
            &mut r,
        );
        let g: T<(Dyn, U2)> = rand_tensor((Dyn(batch), U2::default()), -1.0, 1.0, &mut r);
        assert_model_grads(
            "two layers from zero",
            &mut net,
            |n| {
                n.forward(&x);
                n.backward(&g).unwrap();
            },
            |n| dot(&g, &n.predict(&x)),
        );
        net.zero_grad();
        let y = net.forward(&x).clone();
        assert_eq!(y, net.predict(&x));
        let dx = net.backward_with_input(&g).unwrap().clone();
        assert_grad("two layers from zero.x", &x, &dx, |x| {
            dot(&g, &net.predict(x))
        });
    }
}

#[test]
fn builtin_lstm_layer() {
    let mut r = rng(36);
    for batch in [1usize, 3] {
        let mut net = BuiltIn::<f64>::new(36);
        let x: T<(Dyn, U5, U2)> = rand_tensor(
            (Dyn(batch), U5::default(), U2::default()),
            -1.5,
            1.5,
            &mut r,
        );
        let h0: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let c0: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let gy: T<(Dyn, U5, U2)> = rand_tensor(
            (Dyn(batch), U5::default(), U2::default()),
            -1.0,
            1.0,
            &mut r,
        );
        let gh: T<(Dyn, U4)> = rand_tensor((Dyn(batch), U4::default()), -1.0, 1.0, &mut r);
        let loss =
            |n: &BuiltIn<f64>, x: &T<(Dyn, U5, U2)>, h0: &T<(Dyn, U4)>, c0: &T<(Dyn, U4)>| {
                let (y, hc) = n.predict(x, h0, c0).unwrap();
                dot(&gy, &y) + dot(&gh, &hc)
            };
        assert_model_grads(
            "builtin lstm",
            &mut net,
            |n| {
                n.forward(&x, &h0, &c0).unwrap();
                n.backward(&gy, &gh).unwrap();
            },
            |n| loss(n, &x, &h0, &c0),
        );
        net.zero_grad();
        net.forward(&x, &h0, &c0).unwrap();
        let (dx, dh0, dc0) = net.backward_with_input(&gy, &gh).unwrap();
        let (dx, dh0, dc0) = (dx.clone(), dh0.clone(), dc0.clone());
        assert_grad("builtin lstm.x", &x, &dx, |x| loss(&net, x, &h0, &c0));
        assert_grad("builtin lstm.h0", &h0, &dh0, |h| loss(&net, &x, h, &c0));
        assert_grad("builtin lstm.c0", &c0, &dc0, |c| loss(&net, &x, &h0, c));
    }
}

/// Truncated backpropagation through time: the last state of one batch is the next batch's
/// initial state — a plain copy (`assign`), with nothing linking it to the batch that made it.
/// Two chunks of 4 steps with the state carried over give the states of one run of 8 steps.
#[test]
fn carrying_the_state_into_the_next_batch_continues_the_sequence() {
    let mut r = rng(34);
    let mut net = Lstm::<f64>::new(34);
    let x1: T<(Dyn, U4, U3)> =
        rand_tensor((Dyn(2), U4::default(), U3::default()), -1.0, 1.0, &mut r);
    let x2: T<(Dyn, U4, U3)> =
        rand_tensor((Dyn(2), U4::default(), U3::default()), -1.0, 1.0, &mut r);
    let (mut h, mut c) = (
        T::<(Dyn, U4)>::zeros((Dyn(2), U4::default())),
        T::zeros((Dyn(2), U4::default())),
    );
    for x in [&x1, &x2] {
        let (_, h_last, c_last) = net.forward(x, &h, &c).unwrap();
        let (h_last, c_last) = (h_last.clone(), c_last.clone());
        h.assign(&h_last);
        c.assign(&c_last);
    }
    // The same 8 steps, one at a time through the cell.
    let (mut h8, mut c8) = (
        T::<(Dyn, U4)>::zeros((Dyn(2), U4::default())),
        T::zeros((Dyn(2), U4::default())),
    );
    let mut step = T::<(Dyn, U3)>::default();
    for x in [&x1, &x2] {
        for t in 0..4 {
            time_step_into(x, t, &mut step);
            (h8, c8) = net.cell.predict(&step, &h8, &c8).unwrap();
        }
    }
    assert_eq!((h, c), (h8, c8));
}
