//! Multi-head causal self-attention, the layer.

use rand::Rng;

use crate::element::Element;
use crate::gemm::{MatMut, MatRef, gemm};
use crate::layer::{Init, Layer, Module, ParamMut};
use crate::layers::Linear;
use crate::ops::attention::{
    AttentionDims, PackedGrads, Rows, attention_backward, attention_forward,
};
use crate::shape::{Dim, StaticDim};
use crate::tensor::Tensor;

/// Multi-head causal self-attention with the head count in the type, as minGPT's original
/// `CausalSelfAttention` (separate `key`, `query`, `value` and `proj` projections, each
/// `nn.Linear(C, C)`; no dropout): `y = proj(merge(softmax(mask(q·kᵀ/√D))·v))`.
///
/// - `key`, `query`, `value`, `proj`: [`Linear<C, C>`](Linear), state-dict names
///   `key.weight`, `key.bias`, `query.weight`, `query.bias`, `value.weight`, `value.bias`,
///   `proj.weight`, `proj.bias` (after the caller's prefix), visited in that order.
/// - Initialisation as PyTorch: each projection is `nn.Linear`'s default
///   ([`Linear`]'s [`Init`]), drawn in the order key, query, value, proj.
/// - Input `[B, T, C]` (any batch `B`, sequence length `T`) → output `[B, T, C]`.
/// - `HEADS` heads of `D = C / HEADS` features: a head count that is 0 or does not divide `C`
///   does not compile ([`Self::HEAD_DIM`]; `network!` reports it first, in decimal).
///
/// # Forward
///
/// For each position `t` of each sequence `b`:
///
/// ```text
/// q, k, v = x·W_qᵀ + b_q, x·W_kᵀ + b_k, x·W_vᵀ + b_v      [B, T, C] each
/// head h = columns h·D .. (h + 1)·D                        viewed as [B, H, T, D]
/// att = softmax(mask(q·kᵀ/√D))                             [B, H, T, T], 0 where j > i
/// merged = att·v, heads side by side again                 [B, T, C]
/// y = merged·W_pᵀ + b_p                                    [B, T, C]
/// ```
///
/// Position `i` attends to positions `0..=i` only (the causal mask sets the scores `j > i` to
/// `−∞` before the softmax), so `y[b, i]` depends on `x[b, 0..=i]` and on nothing later.
///
/// # Backward
///
/// From `dy = ∂L/∂y`, through the four stages in reverse (the attention's derivation is in
/// [`crate::ops::causal_attention`]):
///
/// ```text
/// proj:       dW_p += dyᵀ·merged,  db_p += Σ_rows dy,  dmerged = dy·W_p
/// attention:  per head, with dY = dmerged's head:
///             dv = attᵀ·dY
///             datt = dY·vᵀ
///             ds = att ⊙ (datt − Σ_j datt ⊙ att)      (the softmax Jacobian; 0 where masked)
///             dq = ds·k/√D,  dk = dsᵀ·q/√D
/// q, k, v:    dW_q += dqᵀ·x, db_q += Σ_rows dq (the same for k and v), and
///             dx = dq·W_q + dk·W_k + dv·W_v  (x feeds all three: their gradients add)
/// ```
///
/// # Saves
///
/// The input `x` (for `dW_q`, `dW_k`, `dW_v`), the projections `q`, `k`, `v` and the weights
/// `att` (every gradient of a product needs the other factor: `dv` needs `att`, `datt` needs
/// `v`, `ds` needs `att`, `dq` needs `k`, `dk` needs `q`), and `merged` (for `dW_p`). The
/// buffers, and the backward's workspaces, are kept and reused: after the first step at the
/// largest batch, `forward_into`, `backward_into` and `backward_params` allocate nothing.
///
/// # How it runs
///
/// The three input projections run as one matrix product with their weights stacked (`x` is
/// read once; the product is `[B·T, C]·[C, 3C]`), and so do their backward products
/// (`dW = d_qkvᵀ·x`, `dx = d_qkv·W_qkv`). The heads are never split into tensors of their
/// own: the attention kernel ([`crate::ops::causal_attention`]'s) reads head `h` in place, as
/// columns of the packed `q | k | v` rows, and writes its output into the rows of `merged`.
///
/// A head's attention at `T = 11, D = 12` is about 3 k multiply-adds — less than a
/// matrix-product call's set-up — so it is not a GEMM call per head: the kernel copies one
/// head's keys (transposed) and values into a workspace with rows padded to whole 8-value
/// blocks, and computes a group of 4 rows at a time with the sums in SIMD registers, under
/// `pulp`'s dispatch so the loops compile to AVX-512 or AVX2; the exponentials of a whole
/// head run as one vectorised loop. At `B = 64, T = 11, C = 48, H = 4` on one thread that took
/// the attention from about 300 µs (one score at a time, scalar `exp`) to 125 µs forward and
/// 230 µs backward, against 160 µs and 335 µs for the layer's matrix products.
///
/// ```compile_fail
/// use nanotorch::Init;
/// use nanotorch::layers::CausalSelfAttention;
/// use nanotorch::shape::U48;
/// // 48 features cannot be split into 5 heads: an error at compile time.
/// let attn = CausalSelfAttention::<U48, 5>::init(&mut nanotorch::seeded_rng(0));
/// ```
#[derive(Clone, Debug)]
pub struct CausalSelfAttention<C: StaticDim, const HEADS: usize, E: Element = f32> {
    /// The key projection, `nn.Linear(C, C)`.
    pub key: Linear<C, C, E>,
    /// The query projection, `nn.Linear(C, C)`.
    pub query: Linear<C, C, E>,
    /// The value projection, `nn.Linear(C, C)`.
    pub value: Linear<C, C, E>,
    /// The output projection, `nn.Linear(C, C)`.
    pub proj: Linear<C, C, E>,
    /// What the last `forward` saved, and the backward's workspaces.
    state: State<E>,
}

/// The saved values of a forward (row-major, rows = `B·T` positions) and the workspaces.
#[derive(Clone, Debug, Default)]
struct State<E> {
    /// `B` and `T` of the last `forward` (0 before the first).
    batch: usize,
    len: usize,
    /// The input, `[B·T, C]`.
    x: Vec<E>,
    /// The three weights stacked `[W_q; W_k; W_v]`, `[3C, C]`, and biases, `[3C]`, as the
    /// forward used them.
    w_qkv: Vec<E>,
    b_qkv: Vec<E>,
    /// `q | k | v` side by side in each row, `[B·T, 3C]`.
    qkv: Vec<E>,
    /// The attention weights, `[B, H, T, T]`.
    att: Vec<E>,
    /// The attention's output with the heads merged, `[B·T, C]` (the input of `proj`).
    merged: Vec<E>,
    /// Backward workspaces: `dmerged` `[B·T, C]`, `dq | dk | dv` `[B·T, 3C]`, the stacked
    /// weight gradient `[3C, C]`.
    d_merged: Vec<E>,
    d_qkv: Vec<E>,
    dw_qkv: Vec<E>,
    /// The attention kernels' workspace (one head's keys and values, padded).
    workspace: Vec<E>,
}

/// `v` holding exactly `n` values (its memory is kept, so this allocates only to grow).
fn sized<E: Element>(v: &mut Vec<E>, n: usize) -> &mut [E] {
    v.resize(n, E::zero());
    &mut v[..]
}

/// Adds `bias` to every row of `y` (`y` being `[rows, bias.len()]`).
fn add_bias<E: Element>(y: &mut [E], bias: &[E]) {
    if bias.is_empty() {
        return;
    }
    for row in y.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// `db += Σ_rows dy` (`dy` being `[rows, db.len()]`).
fn add_column_sums<E: Element>(dy: &[E], db: &mut [E]) {
    if db.is_empty() {
        return;
    }
    for row in dy.chunks_exact(db.len()) {
        for (g, &d) in db.iter_mut().zip(row) {
            *g += d;
        }
    }
}

/// `dst += src`.
fn add_to<E: Element>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

impl<C: StaticDim, const HEADS: usize, E: Element> CausalSelfAttention<C, HEADS, E> {
    /// Features per head, `D = C / HEADS`. Evaluated by every constructor and forward: a head
    /// count of 0, or one that does not divide `C`, stops the build (a compile-time error
    /// when the layer is instantiated).
    pub const HEAD_DIM: usize = {
        assert!(
            HEADS > 0 && C::SIZE % HEADS == 0,
            "CausalSelfAttention<C, HEADS>: HEADS must be at least 1 and divide C"
        );
        C::SIZE / HEADS
    };

    /// A layer from its four projections (e.g. loaded from a checkpoint).
    pub fn from_linears(
        key: Linear<C, C, E>,
        query: Linear<C, C, E>,
        value: Linear<C, C, E>,
        proj: Linear<C, C, E>,
    ) -> Self {
        let _ = Self::HEAD_DIM;
        Self {
            key,
            query,
            value,
            proj,
            state: State::default(),
        }
    }

    /// The attention weights of the last `forward`, `[B, H, T, T]` row-major (row `i` of a
    /// head's `[T, T]` block is what position `i` attends to; zeros above the diagonal).
    /// Empty before the first `forward`.
    pub fn attention_weights(&self) -> &[E] {
        &self.state.att
    }

    fn dims(batch: usize, len: usize) -> AttentionDims {
        AttentionDims {
            batch,
            heads: HEADS,
            len,
            dim: Self::HEAD_DIM,
        }
    }

    /// The forward on a row-major `[B, T, C]` input into `y`, saving into `state`.
    fn forward_pass(&self, x: &[E], batch: usize, len: usize, y: &mut [E], state: &mut State<E>) {
        let c = C::SIZE;
        let rows = batch * len;
        let d = Self::dims(batch, len);
        // The three input projections as one product with the weights stacked.
        let w_qkv = sized(&mut state.w_qkv, 3 * c * c);
        let b_qkv = sized(&mut state.b_qkv, 3 * c);
        for (i, lin) in [&self.query, &self.key, &self.value]
            .into_iter()
            .enumerate()
        {
            w_qkv[i * c * c..][..c * c].copy_from_slice(lin.weight.value.as_slice());
            b_qkv[i * c..][..c].copy_from_slice(lin.bias.value.as_slice());
        }
        let qkv = sized(&mut state.qkv, rows * 3 * c);
        gemm(
            MatRef::row_major(x, rows, c),
            MatRef::row_major(&state.w_qkv, 3 * c, c).t(),
            MatMut::row_major(qkv, rows, 3 * c),
            false,
        );
        add_bias(qkv, &state.b_qkv);
        // Attention, reading the heads in place in the packed rows.
        let merged = sized(&mut state.merged, rows * c);
        let att = sized(&mut state.att, batch * HEADS * len * len);
        let workspace = sized(&mut state.workspace, d.forward_workspace());
        let qkv = &state.qkv;
        attention_forward(
            d,
            (qkv, Rows::merged(d, 3 * c, 0)),
            (qkv, Rows::merged(d, 3 * c, c)),
            (qkv, Rows::merged(d, 3 * c, 2 * c)),
            (merged, Rows::merged(d, c, 0)),
            att,
            workspace,
        );
        // The output projection.
        gemm(
            MatRef::row_major(&state.merged, rows, c),
            MatRef::row_major(self.proj.weight.value.as_slice(), c, c).t(),
            MatMut::row_major(y, rows, c),
            false,
        );
        add_bias(y, self.proj.bias.value.as_slice());
        state.batch = batch;
        state.len = len;
    }

    /// Adds the parameter gradients for `dy` and, if `dx` is given, writes ∂L/∂x into it.
    fn backward_pass(&mut self, dy: &[E], dx: Option<&mut [E]>) {
        let c = C::SIZE;
        let s = &mut self.state;
        let (batch, len) = (s.batch, s.len);
        let rows = batch * len;
        assert_eq!(
            dy.len(),
            rows * c,
            "backward must follow a forward with the same batch size"
        );
        let d = Self::dims(batch, len);
        // proj: dW_p += dyᵀ·merged, db_p += Σ dy, dmerged = dy·W_p.
        gemm(
            MatRef::row_major(dy, rows, c).t(),
            MatRef::row_major(&s.merged, rows, c),
            MatMut::row_major(self.proj.weight.grad.as_slice_mut(), c, c),
            true,
        );
        add_column_sums(dy, self.proj.bias.grad.as_slice_mut());
        let d_merged = sized(&mut s.d_merged, rows * c);
        gemm(
            MatRef::row_major(dy, rows, c),
            MatRef::row_major(self.proj.weight.value.as_slice(), c, c),
            MatMut::row_major(d_merged, rows, c),
            false,
        );
        // Attention: dq | dk | dv, packed as q | k | v.
        let d_qkv = sized(&mut s.d_qkv, rows * 3 * c);
        let workspace = sized(&mut s.workspace, d.backward_workspace());
        let grads = PackedGrads {
            buf: d_qkv,
            rows: [0, c, 2 * c].map(|offset| Rows::merged(d, 3 * c, offset)),
            dim: d.dim,
        };
        let qkv = &s.qkv;
        attention_backward(
            d,
            (qkv, Rows::merged(d, 3 * c, 0)),
            (qkv, Rows::merged(d, 3 * c, c)),
            (qkv, Rows::merged(d, 3 * c, 2 * c)),
            &s.att,
            (&s.d_merged, Rows::merged(d, c, 0)),
            grads,
            workspace,
        );
        // q, k, v: the stacked weight gradient d_qkvᵀ·x, split onto the three layers.
        let dw = sized(&mut s.dw_qkv, 3 * c * c);
        gemm(
            MatRef::row_major(&s.d_qkv, rows, 3 * c).t(),
            MatRef::row_major(&s.x, rows, c),
            MatMut::row_major(dw, 3 * c, c),
            false,
        );
        for (i, lin) in [&mut self.query, &mut self.key, &mut self.value]
            .into_iter()
            .enumerate()
        {
            add_to(
                lin.weight.grad.as_slice_mut(),
                &s.dw_qkv[i * c * c..][..c * c],
            );
            let db = lin.bias.grad.as_slice_mut();
            for row in s.d_qkv.chunks_exact(3 * c) {
                add_to(db, &row[i * c..][..c]);
            }
        }
        // dx = dq·W_q + dk·W_k + dv·W_v, one product with the stacked weights.
        if let Some(dx) = dx {
            gemm(
                MatRef::row_major(&s.d_qkv, rows, 3 * c),
                MatRef::row_major(&s.w_qkv, 3 * c, c),
                MatMut::row_major(dx, rows, c),
                false,
            );
        }
    }
}

impl<C: StaticDim, const HEADS: usize, E: Element> Init for CausalSelfAttention<C, HEADS, E> {
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let key = Linear::init(rng);
        let query = Linear::init(rng);
        let value = Linear::init(rng);
        let proj = Linear::init(rng);
        Self::from_linears(key, query, value, proj)
    }
}

impl<C: StaticDim, const HEADS: usize, E: Element> Module<E> for CausalSelfAttention<C, HEADS, E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        self.key.visit_params(f);
        self.query.visit_params(f);
        self.value.visit_params(f);
        self.proj.visit_params(f);
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        self.key.visit_named_params(&format!("{prefix}key."), f);
        self.query.visit_named_params(&format!("{prefix}query."), f);
        self.value.visit_named_params(&format!("{prefix}value."), f);
        self.proj.visit_named_params(&format!("{prefix}proj."), f);
    }

    fn set_training(&mut self, _training: bool) {}
}

impl<B, T, C, const HEADS: usize, E> Layer<Tensor<(B, T, C), E>, E>
    for CausalSelfAttention<C, HEADS, E>
where
    B: Dim,
    T: Dim,
    C: StaticDim,
    E: Element,
{
    type Output = Tensor<(B, T, C), E>;

    fn forward(&mut self, x: &Tensor<(B, T, C), E>) -> Tensor<(B, T, C), E> {
        let mut y = Tensor::zeros(x.shape());
        self.forward_into(x, &mut y);
        y
    }

    fn forward_into(&mut self, x: &Tensor<(B, T, C), E>, y: &mut Tensor<(B, T, C), E>) {
        let (b, t, _) = x.shape();
        y.resize_to(x.shape());
        let mut state = std::mem::take(&mut self.state);
        self.forward_pass(
            x.as_slice(),
            b.size(),
            t.size(),
            y.as_slice_mut(),
            &mut state,
        );
        // Keeps the allocation: after the first step this copies without allocating.
        state.x.clear();
        state.x.extend_from_slice(x.as_slice());
        self.state = state;
    }

    fn backward(&mut self, dy: &Tensor<(B, T, C), E>) -> Tensor<(B, T, C), E> {
        let mut dx = Tensor::zeros(dy.shape());
        self.backward_into(dy, &mut dx);
        dx
    }

    fn backward_into(&mut self, dy: &Tensor<(B, T, C), E>, dx: &mut Tensor<(B, T, C), E>) {
        dx.resize_to(dy.shape());
        self.backward_pass(dy.as_slice(), Some(dx.as_slice_mut()));
    }

    fn backward_params(&mut self, dy: &Tensor<(B, T, C), E>) {
        self.backward_pass(dy.as_slice(), None);
    }

    fn predict(&self, x: &Tensor<(B, T, C), E>) -> Tensor<(B, T, C), E> {
        let (b, t, _) = x.shape();
        let mut y = Tensor::zeros(x.shape());
        self.forward_pass(
            x.as_slice(),
            b.size(),
            t.size(),
            y.as_slice_mut(),
            &mut State::default(),
        );
        y
    }
}
