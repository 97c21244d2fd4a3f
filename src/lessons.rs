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

pub mod l24_fast_convolution {
    #![doc = include_str!("../lessons/24-fast-convolution.md")]

    use nanotorch::train::roofline_svg;

    /// The sizes of a convolution of stride 1 and dilation 1 (LeNet's two), and what its
    /// stages cost: the page's formulas as code, used by `examples/conv_stages.rs`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ConvShape {
        /// Images in the batch, `B`.
        pub batch: usize,
        /// Input channels, `C`.
        pub in_channels: usize,
        /// Output channels, `O`.
        pub out_channels: usize,
        /// Kernel size, `K` (square).
        pub kernel: usize,
        /// Zero pixels added on every side, `P`.
        pub padding: usize,
        /// Input height, `H`.
        pub height: usize,
        /// Input width, `W`.
        pub width: usize,
    }

    /// LeNet's first convolution (`src/bench_models.rs`), batch 64: 1 → 16 channels, 5×5,
    /// padding 2, 28×28 → 28×28.
    pub const LENET_CONV1: ConvShape = ConvShape {
        batch: 64,
        in_channels: 1,
        out_channels: 16,
        kernel: 5,
        padding: 2,
        height: 28,
        width: 28,
    };

    /// LeNet's second convolution, batch 64: 16 → 32 channels, 5×5, 14×14 → 10×10.
    pub const LENET_CONV2: ConvShape = ConvShape {
        batch: 64,
        in_channels: 16,
        out_channels: 32,
        kernel: 5,
        padding: 0,
        height: 14,
        width: 14,
    };

    /// Which arrays a stage reads and writes. The bytes it moves are counted as if each came
    /// from memory and went back to it once: a model of the traffic a stage cannot avoid,
    /// not a hardware count.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Traffic {
        /// Reads `x`, `W` and the bias, writes `y`: the loops, and NanoTorch's forward (a direct
        /// loop for few taps, else im2col in blocks whose patches never leave the cache).
        Direct,
        /// im2col: reads `x`, writes the patches `U`.
        Im2col,
        /// The product `Y = W·U`: reads `W` and `U`, writes `Y` (as large as `y`).
        Product,
        /// im2col, the product and the copy of `Y` into `y`'s layout with the bias, over the
        /// whole batch: `U` is written and read back, `Y` written and read back.
        Unfolded,
        /// NanoTorch's backward: reads `x`, `dy` and `W`, writes `dW`, `dbias` and `dx`.
        Backward,
    }

    impl ConvShape {
        /// Output height, `OH = H + 2P − K + 1`.
        pub fn out_height(&self) -> usize {
            self.height + 2 * self.padding + 1 - self.kernel
        }

        /// Output width, `OW = W + 2P − K + 1`.
        pub fn out_width(&self) -> usize {
            self.width + 2 * self.padding + 1 - self.kernel
        }

        /// Elements of the input `x`, `B·C·H·W`.
        pub fn input_len(&self) -> usize {
            self.batch * self.in_channels * self.height * self.width
        }

        /// Elements of the weight, `O·C·K·K`.
        pub fn weight_len(&self) -> usize {
            self.out_channels * self.in_channels * self.kernel * self.kernel
        }

        /// Elements of the output `y` (and of `Y`, its `[O, B·OH·OW]` form), `B·O·OH·OW`.
        pub fn output_len(&self) -> usize {
            self.batch * self.out_channels * self.out_height() * self.out_width()
        }

        /// Elements of the patch matrix `U` of the whole batch, `C·K·K · B·OH·OW`.
        pub fn patches_len(&self) -> usize {
            self.in_channels
                * self.kernel
                * self.kernel
                * self.batch
                * self.out_height()
                * self.out_width()
        }

        /// FLOPs of the forward, `2·B·O·OH·OW·C·K·K`: one multiply and one add per weight
        /// and output pixel (padding taps included, as every framework counts them). Each of
        /// the backward's two products, `dW` and `dx`, costs as much.
        pub fn flops(&self) -> f64 {
            2.0 * (self.output_len() * self.in_channels * self.kernel * self.kernel) as f64
        }

        /// Elements a stage moves (see [`Traffic`]).
        pub fn elements(&self, traffic: Traffic) -> usize {
            let (x, w, y, u, bias) = (
                self.input_len(),
                self.weight_len(),
                self.output_len(),
                self.patches_len(),
                self.out_channels,
            );
            match traffic {
                Traffic::Direct => x + w + bias + y,
                Traffic::Im2col => x + u,
                Traffic::Product => w + u + y,
                Traffic::Unfolded => x + 2 * u + w + bias + 3 * y,
                Traffic::Backward => 2 * x + y + 2 * w + bias,
            }
        }

        /// Bytes a stage moves in `f32`, 4 per element.
        pub fn bytes_f32(&self, traffic: Traffic) -> f64 {
            4.0 * self.elements(traffic) as f64
        }
    }

    /// The cells of the row under the table header that starts with `header` (`| a | b |` →
    /// `["a", "b"]`), until the table ends; the separator row is skipped.
    fn table_rows<'a>(markdown: &'a str, header: &str) -> Result<Vec<Vec<&'a str>>, String> {
        let mut lines = markdown.lines().skip_while(|l| !l.starts_with(header));
        if lines.next().is_none() {
            return Err(format!("no table whose header starts with {header:?}"));
        }
        Ok(lines
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect()
            })
            .collect())
    }

    /// The header of the table of limits `examples/conv_stages.rs` prints.
    pub const LIMITS_HEADER: &str = "| threads | GEMM 1024³ (GFLOP/s) | copy (GB/s) |";

    /// The header of the table of stages `examples/conv_stages.rs` prints.
    pub const STAGES_HEADER: &str = "| # | conv | stage | threads |";

    /// The roofline picture of the tables `cargo run --release --example conv_stages` prints
    /// (`lessons/plots/l24_roofline.svg`): a roof per thread count from the limits table, a
    /// dot per stage with FLOPs, labelled with its row number. Drawn from the printed text,
    /// so the picture can be checked against the tables pasted on the page
    /// (`tests/lesson_plots.rs`).
    ///
    /// # Errors
    /// A message when a table is missing or a cell is not the number it should be, or when
    /// the chart cannot be drawn.
    pub fn roofline_from_tables(markdown: &str) -> Result<String, String> {
        let number = |cell: &str| -> Result<f64, String> {
            cell.replace(',', "")
                .parse::<f64>()
                .map_err(|e| format!("{cell:?}: {e}"))
        };
        let mut roof_names = Vec::new();
        let mut roofs = Vec::new();
        for row in table_rows(markdown, LIMITS_HEADER)? {
            let [threads, peak, bandwidth, ..] = row[..] else {
                return Err(format!("a short row in the limits table: {row:?}"));
            };
            roof_names.push(format!(
                "{threads} thread{}",
                if threads == "1" { "" } else { "s" }
            ));
            roofs.push((number(peak)?, number(bandwidth)?));
        }
        // Series by convolution and thread count, in order of appearance.
        let mut series: Vec<(String, Vec<(String, f64, f64)>)> = Vec::new();
        for row in table_rows(markdown, STAGES_HEADER)? {
            let [n, conv, _stage, threads, _ms, gflops, _gbs, intensity, ..] = row[..] else {
                return Err(format!("a short row in the stages table: {row:?}"));
            };
            if gflops == "—" {
                continue; // a copy: no FLOPs to place on the chart
            }
            let name = format!(
                "{conv}, {threads} thread{}",
                if threads == "1" { "" } else { "s" }
            );
            let point = (n.to_string(), number(intensity)?, number(gflops)?);
            match series.iter_mut().find(|(s, _)| *s == name) {
                Some((_, points)) => points.push(point),
                None => series.push((name, vec![point])),
            }
        }
        let roofs: Vec<(&str, f64, f64)> = roof_names
            .iter()
            .zip(&roofs)
            .map(|(name, &(peak, bw))| (name.as_str(), peak, bw))
            .collect();
        let points: Vec<Vec<(&str, f64, f64)>> = series
            .iter()
            .map(|(_, points)| {
                points
                    .iter()
                    .map(|(label, x, y)| (label.as_str(), *x, *y))
                    .collect()
            })
            .collect();
        let series: Vec<(&str, &[(&str, f64, f64)])> = series
            .iter()
            .zip(&points)
            .map(|((name, _), points)| (name.as_str(), points.as_slice()))
            .collect();
        roofline_svg(
            "LeNet's convolutions, stage by stage (row numbers of the table)",
            &roofs,
            &series,
        )
        .map_err(|e| e.to_string())
    }
}
