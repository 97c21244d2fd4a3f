#![doc = include_str!("../lessons/00-index.md")]
//
// Each lesson is a module whose documentation is its page in `lessons/`. A lesson whose page
// shows a network also declares it here, so `cargo doc` puts the docs `network!` generated
// (the forward steps, the backward derivation, what is saved) next to the lesson, and
// `cargo expand --lib -p nanotorch-suite lessons::MODULE` shows its code.
// `tests/lessons_pages.rs` checks that every network here is the one its page shows.

pub mod l01_tensors {
    #![doc = include_str!("../lessons/01-tensors.md")]

    use nanotorch::prelude::*;

    network! {
        /// Two linear views of the input, added, then a linear head.
        pub struct TwoViews {
            a: Linear<4, 3>,
            b: Linear<4, 3>,
            head: Linear<3, 1>,
        }
        fn forward(x: [B, 4]) -> [B, 1] {
            let s = a(x) + b(x);
            head(s)
        }
    }
}

pub mod l02_linear {
    #![doc = include_str!("../lessons/02-linear.md")]

    use nanotorch::prelude::*;

    network! {
        /// One linear layer: y = x·Wᵀ + b.
        pub struct OneLayer {
            fc: Linear<3, 2>,
        }
        fn forward(x: [B, 3]) -> [B, 2] = fc;
    }
}

pub mod l03_chain_rule {
    #![doc = include_str!("../lessons/03-chain-rule.md")]

    use nanotorch::prelude::*;

    network! {
        /// Two layers with a ReLU between: the chain of this lesson.
        pub struct TwoLayer {
            fc1: Linear<4, 8>,
            fc2: Linear<8, 3>,
        }
        fn forward(x: [B, 4]) -> [B, 3] {
            let h = relu(fc1(x));
            fc2(h)
        }
    }
}

pub mod l04_activations {
    #![doc = include_str!("../lessons/04-activations.md")]

    use nanotorch::prelude::*;

    network! {
        /// The README's regressor: sigmoids between three linear layers.
        pub struct SigmoidMlp {
            fc1: Linear<3, 3>,
            fc2: Linear<3, 5>,
            fc3: Linear<5, 1>,
        }
        fn forward(x: [B, 3]) -> [B, 1] {
            let h = sigmoid(fc1(x));
            fc3(sigmoid(fc2(h)))
        }
    }
}

pub mod l05_losses {
    #![doc = include_str!("../lessons/05-losses.md")]

    use nanotorch::prelude::*;

    network! {
        /// Logits for 3 classes from 4 features.
        pub struct Classifier {
            fc1: Linear<4, 16>,
            fc2: Linear<16, 3>,
        }
        fn forward(x: [B, 4]) -> [B, 3] = fc1 -> relu -> fc2;
    }
}

pub mod l06_optimizers {
    #![doc = include_str!("../lessons/06-optimizers.md")]

    use nanotorch::prelude::*;

    network! {
        /// The README model: fits y = x·[1, 2, 3].
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
}

pub mod l07_fan_out {
    #![doc = include_str!("../lessons/07-fan-out.md")]

    use nanotorch::prelude::*;

    network! {
        /// A skip connection around one linear layer.
        pub struct Skip {
            fc: Linear<3, 3>,
        }
        fn forward(x: [B, 3]) -> [B, 3] {
            x + fc(x)
        }
    }

    network! {
        /// A residual block followed by a gate: h feeds the skip, the block and the gate.
        pub struct ResidualGate {
            inp: Linear<6, 8>,
            block: Linear<8, 8>,
            gate: Linear<8, 8>,
            head: Linear<8, 2>,
        }
        fn forward(x: [B, 6]) -> [B, 2] {
            let h = tanh(inp(x));
            let r = h + relu(block(h));
            let g = sigmoid(gate(h)) * r;
            head(g)
        }
    }
}

pub mod l08_concat_flatten {
    #![doc = include_str!("../lessons/08-concat-flatten.md")]

    use nanotorch::prelude::*;

    network! {
        /// Two branches joined by concat: 3 + 2 = 5 features into the head.
        pub struct Branches {
            left: Linear<4, 3>,
            right: Linear<4, 2>,
            head: Linear<5, 2>,
        }
        fn forward(x: [B, 4]) -> [B, 2] {
            let l = relu(left(x));
            let r = tanh(right(x));
            head(concat(l, r))
        }
    }

    network! {
        /// An image classifier's first step: flatten [B, 1, 28, 28] to [B, 784].
        pub struct FlatImage {
            fc: Linear<784, 10>,
        }
        fn forward(x: [B, 1, 28, 28]) -> [B, 10] = flatten -> fc;
    }
}

pub mod l09_gradcheck {
    #![doc = include_str!("../lessons/09-gradcheck.md")]

    use nanotorch::prelude::*;

    network! {
        /// A smooth network to check: tanh has no kinks.
        pub struct Checked {
            fc1: Linear<3, 5>,
            fc2: Linear<5, 2>,
        }
        fn forward(x: [B, 3]) -> [B, 2] = fc1 -> tanh -> fc2;
    }
}

pub mod l10_memory {
    #![doc = include_str!("../lessons/10-memory.md")]

    use nanotorch::prelude::*;

    network! {
        /// What is saved: a sigmoid keeps its output, GELU its input, concat nothing.
        pub struct SavesWhat {
            fc1: Linear<4, 8>,
            fc2: Linear<8, 8>,
            head: Linear<16, 2>,
        }
        fn forward(x: [B, 4]) -> [B, 2] {
            let a = sigmoid(fc1(x));
            let b = gelu(fc2(a));
            head(concat(a, b))
        }
    }
}

pub mod l11_generated_code {
    #![doc = include_str!("../lessons/11-generated-code.md")]

    use nanotorch::prelude::*;

    network! {
        /// The network whose expansion this lesson reads.
        pub struct Explained {
            fc1: Linear<4, 8>,
            fc2: Linear<8, 2>,
        }
        fn forward(x: [B, 4]) -> [B, 2] {
            let h = fc1(x);
            fc2(h + tanh(h))
        }
    }

    network! {
        /// A residual block that keeps its input's width, for the stack below.
        pub struct Residual {
            fc: Linear<8, 8>,
        }
        fn forward(x: [B, 8]) -> [B, 8] {
            x + tanh(fc(x))
        }
    }

    network! {
        /// Three residual blocks in a stack: `forward` and `backward` loop over them.
        pub struct Deep {
            inp: Linear<4, 8>,
            blocks: [Residual; 3],
            head: Linear<8, 2>,
        }
        fn forward(x: [B, 4]) -> [B, 2] = inp -> blocks -> head;
    }

    network! {
        /// Two inputs and two outputs: a new state `h` and a memory `c` from an input and the
        /// old state.
        pub struct Cell {
            wx: Linear<4, 8>,
            wh: Linear<8, 8>,
        }
        fn forward(x: [B, 4], h: [B, 8]) -> ([B, 8], [B, 8]) {
            let c = tanh(wx(x) + wh(h));
            (sigmoid(c) * h, c)
        }
    }

    network! {
        /// The cell as a field of another network, called with two values.
        pub struct Step {
            cell: Cell,
            head: Linear<8, 2>,
        }
        fn forward(x: [B, 4], h0: [B, 8]) -> [B, 2] {
            let (h, c) = cell(x, h0);
            head(h * c)
        }
    }
}

pub mod l12_digits {
    #![doc = include_str!("../lessons/12-digits.md")]

    use nanotorch::prelude::*;

    network! {
        /// A two-layer perceptron for 8×8 digits: 64 pixels → 128 hidden units → 10 classes.
        pub struct DigitsMlp {
            fc1: Linear<64, 128>,
            fc2: Linear<128, 10>,
        }
        fn forward(x: [B, 64]) -> [B, 10] = fc1 -> relu -> fc2;
    }
}

pub mod l13_pytorch_weights {
    #![doc = include_str!("../lessons/13-pytorch-weights.md")]

    use nanotorch::prelude::*;

    network! {
        /// The PyTorch module `fc2(relu(fc1(x)))` of `scripts/make_torch_checkpoint.py`.
        pub struct TorchMlp {
            fc1: Linear<4, 8>,
            fc2: Linear<8, 3>,
        }
        fn forward(x: [B, 4]) -> [B, 3] = fc1 -> relu -> fc2;
    }
}

pub mod l14_limits {
    #![doc = include_str!("../lessons/14-limits.md")]
}

pub mod l15_convolution {
    #![doc = include_str!("../lessons/15-convolution.md")]

    use nanotorch::prelude::*;

    network! {
        /// Two convolutions on 8×8 images: `[B, 1, 8, 8] → [B, 4, 8, 8] → [B, 8, 3, 3] → 10`.
        pub struct SmallConv {
            conv1: Conv2d<1, 4, 3, padding = 1>,
            conv2: Conv2d<4, 8, 3, stride = 2>,
            fc: Linear<72, 10>,
        }
        fn forward(x: [B, 1, 8, 8]) -> [B, 10] {
            let h = relu(conv1(x));
            let h = relu(conv2(h));
            fc(flatten(h))
        }
    }
}

pub mod l16_pooling {
    #![doc = include_str!("../lessons/16-pooling.md")]

    use nanotorch::prelude::*;

    network! {
        /// Max pooling halves the map, average pooling smooths it, global pooling ends it.
        pub struct Pools {
            conv: Conv2d<1, 4, 3, padding = 1>,
            pool: MaxPool2d<2>,
            smooth: AvgPool2d<3, stride = 1, padding = 1>,
            gap: GlobalAvgPool2d,
            head: Linear<4, 3>,
        }
        fn forward(x: [B, 1, 8, 8]) -> [B, 3] {
            let h = pool(relu(conv(x)));
            head(gap(smooth(h)))
        }
    }
}

pub mod l17_batch_norm {
    #![doc = include_str!("../lessons/17-batch-norm.md")]

    use nanotorch::prelude::*;

    network! {
        /// Conv → BatchNorm2d → ReLU → pool, then linear → BatchNorm1d → ReLU → linear.
        pub struct BnNet {
            conv1: Conv2d<1, 4, 3, padding = 1>,
            bn1: BatchNorm2d<4>,
            pool: MaxPool2d<2>,
            fc1: Linear<64, 16>,
            bn2: BatchNorm1d<16>,
            fc2: Linear<16, 3>,
        }
        fn forward(x: [B, 1, 8, 8]) -> [B, 3] {
            let h = pool(relu(bn1(conv1(x))));
            fc2(relu(bn2(fc1(flatten(h)))))
        }
    }
}

pub mod l18_embeddings {
    #![doc = include_str!("../lessons/18-embeddings.md")]

    use nanotorch::prelude::*;

    network! {
        /// A bigram model: each position's logits over the next token come from its own
        /// token's vector, and from nothing else.
        pub struct Bigram {
            wte: Embedding<4, 8>,
            head: Linear<8, 4>,
        }
        fn forward(idx: [B, 6] tokens<4>) -> [B, 6, 4] = wte -> head;
    }
}

pub mod l19_layer_norm {
    #![doc = include_str!("../lessons/19-layer-norm.md")]

    use nanotorch::prelude::*;

    network! {
        /// A layer norm, then a linear layer, at every position of a sequence.
        pub struct NormHead {
            ln: LayerNorm<6>,
            fc: Linear<6, 2>,
        }
        fn forward(x: [B, 4, 6]) -> [B, 4, 2] = ln -> fc;
    }
}

pub mod l20_attention {
    #![doc = include_str!("../lessons/20-attention.md")]

    use nanotorch::prelude::*;

    network! {
        /// Token and position embeddings, one attention layer with a residual, and a head:
        /// enough to output the previous token.
        pub struct Previous {
            wte: Embedding<4, 16>,
            wpe: PositionEmbedding<6, 16>,
            attn: CausalSelfAttention<16, 2>,
            head: Linear<16, 4>,
        }
        fn forward(idx: [B, 6] tokens<4>) -> [B, 6, 4] {
            let x = wpe(wte(idx));
            head(x + attn(x))
        }
    }
}

pub mod l21_transformer {
    #![doc = include_str!("../lessons/21-transformer.md")]

    use nanotorch::prelude::*;

    network! {
        /// A transformer block: causal self-attention and an MLP, each after a LayerNorm and
        /// added back onto its input (pre-norm residuals, as GPT-2).
        pub struct Block {
            ln1: LayerNorm<48>,
            attn: CausalSelfAttention<48, 4>,
            ln2: LayerNorm<48>,
            fc: Linear<48, 192>,
            proj: Linear<192, 48>,
        }
        fn forward(x: [B, 11, 48]) -> [B, 11, 48] {
            let h = x + attn(ln1(x));
            h + proj(gelu_tanh(fc(ln2(h))))
        }
    }

    network! {
        /// The GPT of `examples/sort.rs`: 11 token ids in, logits over the 3 digits at every
        /// position out.
        pub struct Gpt {
            wte: Embedding<3, 48>,
            wpe: PositionEmbedding<11, 48>,
            h: [Block; 2],
            ln_f: LayerNorm<48>,
            head: Linear<48, 3>,
        }
        fn forward(idx: [B, 11] tokens<3>) -> [B, 11, 3] = wte -> wpe -> h -> ln_f -> head;
    }
}

pub mod l22_recurrence {
    #![doc = include_str!("../lessons/22-recurrence.md")]

    use nanotorch::prelude::*;

    network! {
        /// An Elman cell: 8 inputs, a state of 16.
        pub struct RnnCell {
            wx: Linear<8, 16>,
            wh: Linear<16, 16>,
        }
        fn forward(x: [B, 8], h: [B, 16]) -> [B, 16] {
            tanh(wx(x) + wh(h))
        }
    }

    network! {
        /// An LSTM cell, one `Linear` per gate and side (PyTorch's order i, f, g, o).
        pub struct LstmCell {
            xi: Linear<8, 16>,
            xf: Linear<8, 16>,
            xg: Linear<8, 16>,
            xo: Linear<8, 16>,
            hi: Linear<16, 16>,
            hf: Linear<16, 16>,
            hg: Linear<16, 16>,
            ho: Linear<16, 16>,
        }
        fn forward(x: [B, 8], h: [B, 16], c: [B, 16]) -> ([B, 16], [B, 16]) {
            let i = sigmoid(xi(x) + hi(h));
            let f = sigmoid(xf(x) + hf(h));
            let g = tanh(xg(x) + hg(h));
            let o = sigmoid(xo(x) + ho(h));
            let c2 = f * c + i * g;
            (o * tanh(c2), c2)
        }
    }

    network! {
        /// The RNN over 40 steps; the loss reads the last state.
        pub struct Rnn {
            cell: RnnCell,
            head: Linear<16, 1>,
        }
        fn forward(x: [B, 40, 8], h0: [B, 16]) -> [B, 1] {
            let (_hs, h) = scan(cell, x, h0);
            head(h)
        }
    }

    network! {
        /// The LSTM over 40 steps; the loss reads the last state.
        pub struct Lstm {
            cell: LstmCell,
            head: Linear<16, 1>,
        }
        fn forward(x: [B, 40, 8], h0: [B, 16], c0: [B, 16]) -> [B, 1] {
            let (_hs, h, _c) = scan(cell, x, h0, c0);
            head(h)
        }
    }
    network! {
        /// A built-in GRU cell scanned over 12 steps from zeros.
        pub struct Scanned {
            cell: GruCell<8, 16>,
        }
        fn forward(x: [B, 12, 8]) -> ([B, 12, 16], [B, 16]) {
            let (hs, h) = scan(cell, x);
            (hs, h)
        }
    }

    network! {
        /// The built-in GRU layer.
        pub struct Fused {
            gru: Gru<8, 16>,
        }
        fn forward(x: [B, 12, 8]) -> ([B, 12, 16], [B, 16]) {
            let (hs, h) = gru(x);
            (hs, h)
        }
    }

    /// ‖∂L/∂x_t‖ for each of the 40 steps relative to the last step's, for the RNN, the LSTM,
    /// and the LSTM with its forget gates open (bias 3): the page's measurement, as a function
    /// the page checks against and `tests/lesson_plots.rs` draws
    /// (`lessons/plots/l22_gradient_norms.svg`).
    pub fn gradient_norms() -> Result<[Vec<f64>; 3], ShapeError> {
        let per_step = |dx: &Tensor<(Dyn, U40, U8), f64>| {
            let mut sq = [0.0; 40];
            for (k, v) in dx.as_slice().iter().enumerate() {
                sq[(k / 8) % 40] += v * v;
            }
            sq.iter().map(|s| (s / sq[39]).sqrt()).collect::<Vec<f64>>()
        };
        let mut rng = seeded_rng(1);
        let x = Tensor::<(Dyn, U40, U8), f64>::rand_uniform(
            (Dyn(16), Const, Const),
            -1.0,
            1.0,
            &mut rng,
        );
        let zeros = Tensor::<(Dyn, U16), f64>::zeros((Dyn(16), Const));
        let d_out = Tensor::<(Dyn, U1), f64>::ones((Dyn(16), Const));
        let mut rnn = Rnn::<f64>::new(0);
        rnn.forward(&x, &zeros)?;
        let rnn_norms = per_step(rnn.backward_with_input(&d_out)?.0);
        let mut lstm = Lstm::<f64>::new(0);
        lstm.forward(&x, &zeros, &zeros)?;
        let lstm_norms = per_step(lstm.backward_with_input(&d_out)?.0);
        let mut open = Lstm::<f64>::new(0);
        open.cell.xf.bias.value.fill(3.0);
        open.forward(&x, &zeros, &zeros)?;
        let open_norms = per_step(open.backward_with_input(&d_out)?.0);
        Ok([rnn_norms, lstm_norms, open_norms])
    }
}

pub mod l23_language_models {
    #![doc = include_str!("../lessons/23-language-models.md")]

    use nanotorch::prelude::*;

    network! {
        /// A bigram model: the row of the previous character is the logits of the next.
        pub struct Bigram {
            table: Embedding<73, 73>,
        }
        fn forward(idx: [B, 64] tokens<73>) -> [B, 64, 73] = table;
    }
}
