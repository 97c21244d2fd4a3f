//! # The `network!` language
//!
//! A learner declares layers as fields and writes the forward pass as PyTorch would; the macro
//! writes the rest — the struct, `forward`, `backward` (by the chain rule, at compile time),
//! `predict`, and the [`Module`](crate::Module)/[`Layer`](crate::Layer) impls (or
//! [`Network`](crate::Network) for several inputs or outputs).
//!
//! ```
//! use nanotorch::prelude::*;
//!
//! network! {
//!     /// The Python NanoTorch's README model: fits y = x·[1, 2, 3].
//!     pub struct Regressor {
//!         fc1: Linear<3, 3>,
//!         fc2: Linear<3, 5>,
//!         fc3: Linear<5, 1>,
//!     }
//!     fn forward(x: [B, 3]) -> [B, 1] {
//!         let h = sigmoid(fc1(x));
//!         fc3(sigmoid(fc2(h)))
//!     }
//! }
//!
//! let mut net = Regressor::<f32>::new(0);
//! let x = Tensor::<(Dyn, U3)>::from_vec(&[2, 3], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6])?;
//! let y = net.forward(&x).clone();
//! assert_eq!(y.dims(), &[2, 1]);
//! net.backward(&Tensor::ones(y.shape()))?;
//! # Ok::<(), nanotorch::ShapeError>(())
//! ```
//!
//! ## Declaring
//!
//! - **Fields** are layers: `Linear<IN, OUT>` with literal sizes of any magnitude (784, 3136,
//!   12288) or size types (`U64`, `Const<3136>`, an alias, a size parameter), or another
//!   `network!` struct (written by its bare name; it gets the element type as its generic
//!   argument), or an activation layer such as `Relu<(Dyn, U8), E>`, or a custom layer. A value
//!   passed to a field other than `Linear` is checked against the input width the field
//!   declares through [`codegen::Declared`](crate::codegen::Declared) — one error at the call,
//!   naming both sizes; a custom layer called on `[B, F]` values implements that trait too.
//! - **Size parameters**: `pub struct Mlp<H> { fc1: Linear<784, H>, fc2: Linear<H, 10> }`
//!   makes the hidden size a type parameter (`Mlp::<U128>::new(0)`, `Mlp::<U![3000]>::new(0)`);
//!   the element type stays the last parameter (`Mlp<H, E = f32>`). A nested network with size
//!   parameters is written with all its arguments, `inner: Inner<H, E>`.
//! - **`fn forward(x: [B, 3]) -> [B, 1]`**: the first dim is the batch. A name (`B`) is a size
//!   known at run time ([`Dyn`](crate::Dyn)); a number (`[32, 3]`) fixes it in the type.
//! - **The body**: `let` bindings and a final expression, built from calls of the layer fields,
//!   the primitives `relu`, `leaky_relu(x, slope)`, `sigmoid`, `tanh`, `gelu`, `gelu_tanh`,
//!   `softmax`, `log_softmax`, `exp`, `log`, `flatten`, `concat(a, b)`, `dropout(x, p)`,
//!   and `+`, `-`, `*` (elementwise), `* c` or `/ c` by a number.
//! - **Sequential shorthand** for a plain chain: `fn forward(x: [B, 64]) -> [B, 10] = fc1 -> relu -> fc2;`
//! - **Stacks**: a field `blocks: [Block; 4]` (or `[Block; L]` with a size parameter `L`) is
//!   four blocks applied in order by `blocks(h)` ([`Stack`](crate::Stack); PyTorch's
//!   `nn.ModuleList` and a `for` loop). Each block has its own weights and saved values, and
//!   must return the shape it takes; state-dict names are `blocks.0.…`, `blocks.1.…`. The
//!   generated `forward` and `backward` are loops over the blocks.
//! - **Several inputs and outputs**: `fn forward(x: [B, 64], h: [B, 128]) -> ([B, 128],
//!   [B, 128]) { …; (a, b) }`. `forward` then takes one argument per input and returns a
//!   tuple, `backward` takes one gradient per output, `backward_with_input` returns one per
//!   input. Such a network is a field of another like any layer, called with several values
//!   and unpacked with `let (a, b) = cell(x, h);` (through the [`Network`](crate::Network)
//!   trait, which checks the inputs: one error at the call if their number or shapes differ).
//! - **Scans over time**: `let (hs, h) = scan(cell, x, h0);` runs the network field `cell`
//!   (`fn forward(x: [B, F], h: [B, H]) -> [B, H]`) at every time step of `x: [B, T, F]`,
//!   carrying the state; `hs: [B, T, H]` is the sequence of states, `h` the last one (name one
//!   you do not need `_h`). Several states (an LSTM's `(h, c)`) are passed and returned
//!   together: `let (hs, h, c) = scan(lstm, x, h0, c0);`; without initial states, `scan(cell, x)`
//!   starts from zeros. The generated forward is a loop over
//!   the steps, and backward the reversed loop (backpropagation through time), with gradients
//!   into the sequence and the initial states. The cell keeps one buffer of saved values per
//!   step ([`StepState`](crate::StepState)); its fields are `Linear`s and other such networks.
//!
//! A value used twice (fan-out, residual connections) gets the sum of both gradient
//! contributions. A `Linear` applied twice shares its weights, and its gradients accumulate.
//!
//! ## What it generates
//!
//! - the struct, generic over the element type `E` (default `f32`), with `pub` fields named
//!   after the layers, plus private buffers: `saved` (exactly what backward reads), `work`
//!   (forward temporaries), `grads` (gradient buffers) — all reused from step to step;
//! - `new(seed)`: PyTorch's default initialisation from a seed;
//! - `forward(&mut self, x) -> &Output`, `backward(&mut self, d_output) -> Result<(), ShapeError>`
//!   (accumulates parameter gradients; computes no input gradient; a gradient whose sizes differ
//!   from the last output's is an error, not a panic), `backward_with_input` (also returns ∂L/∂x),
//!   `predict(&self, x) -> Output` (saves nothing);
//! - `Net::graph_svg() -> &'static str`: the graph the macro differentiated, drawn at compile
//!   time as an SVG picture — forward values with their shapes, the values backward reads,
//!   the gradients in reverse with their fan-out sums, the parameters and their gradients; a
//!   stack or a scan is one box with a back edge. The struct's docs show the same picture;
//! - impls of [`Init`](crate::Init), [`Module`](crate::Module) (parameter visitor with
//!   PyTorch state-dict names such as `fc1.weight`, `zero_grad`, train/eval) and
//!   [`Layer`](crate::Layer), so networks nest.
//!
//! The generated items carry docs with the derivation; `cargo doc` shows them, and
//! `cargo expand` shows the code.
//!
//! ## Mistakes are compile errors
//!
//! A size mismatch between literals is reported by the macro at the offending call, with both
//! numbers: "`fc2` expects 128 input features, but `h` has 64". Sizes the macro cannot read
//! (aliases, generics) are checked by the compiler through traits whose messages say which
//! dims must agree.
