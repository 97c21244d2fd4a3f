//! Resuming training from a checkpoint is exact: a tiny GPT (f64) trained 10 AdamW steps,
//! saved with `checkpoint::save_training`, loaded into a fresh model and a fresh optimizer and
//! trained 10 more steps ends with bit-for-bit the parameters of 20 uninterrupted steps. Also:
//! the names a training checkpoint holds, mismatches refused, and `DecayOn::Matrices` (weight
//! decay on parameters of 2 or more dimensions only). A two-layer LSTM trained with truncated
//! backpropagation through time over consecutive windows (`CharStreams`, its final state
//! carried into the next batch, as `examples/char_lstm.rs`) resumes exactly too, with the
//! carried state saved beside the model (`checkpoint::WithState`).

use nanotorch::checkpoint::{self, CheckpointError, Problem, WithState};
use nanotorch::data::{CharBatcher, CharCorpus, CharStreams};
use nanotorch::optim::{AdamW, DecayOn, Optimizer, OptimizerState, RmsProp, Sgd, clip_grad_norm};
use nanotorch::prelude::*;

network! {
    /// A pre-norm transformer block, 8 wide, 2 heads, context 6.
    pub struct Block {
        ln1: LayerNorm<8>,
        attn: CausalSelfAttention<8, 2>,
        ln2: LayerNorm<8>,
        fc: Linear<8, 32>,
        proj: Linear<32, 8>,
    }
    fn forward(x: [B, 6, 8]) -> [B, 6, 8] {
        let h = x + attn(ln1(x));
        h + proj(gelu_tanh(fc(ln2(h))))
    }
}

network! {
    /// One block between embeddings and a head: 6 characters over a vocabulary of 12.
    pub struct TinyGpt {
        wte: Embedding<12, 8>,
        wpe: PositionEmbedding<6, 8>,
        h0: Block,
        ln_f: LayerNorm<8>,
        head: Linear<8, 12>,
    }
    fn forward(idx: [B, 6] tokens<12>) -> [B, 6, 12] = wte -> wpe -> h0 -> ln_f -> head;
}

/// 9 distinct characters, within the model's vocabulary of 12.
const TEXT: &str = "the cat ate the hat; a cat hates the heat. ";

fn corpus() -> CharCorpus {
    CharCorpus::new("resume text", &TEXT.repeat(4)).unwrap()
}

fn optimizer() -> AdamW<f64> {
    AdamW::new()
        .with_lr(3e-3)
        .betas(0.9, 0.99)
        .weight_decay(0.1)
        .decay_on(DecayOn::Matrices)
}

/// The step's learning rate: warm-up then cosine decay, a function of the step only.
fn lr_at(step: u64) -> f64 {
    let warmup = 5.0;
    let s = step as f64;
    if s < warmup {
        3e-3 * (s + 1.0) / warmup
    } else {
        1e-4 + 0.5 * (3e-3 - 1e-4) * (1.0 + (std::f64::consts::PI * (s - warmup) / 15.0).cos())
    }
}

/// Training steps `from..to`, each batch drawn from a generator seeded by the step, so the
/// data after a resume is the data the uninterrupted run saw.
fn train<O: Optimizer<f64>>(
    net: &mut TinyGpt<f64>,
    opt: &mut O,
    corpus: &CharCorpus,
    from: u64,
    to: u64,
) {
    type Cx = Tokens<U6, U12>;
    let mut batcher = CharBatcher::<U6, U12>::new(corpus).unwrap();
    let (mut x, mut y) = (Cx::default(), Vec::new());
    let mut d_logits = Tensor::default();
    for step in from..to {
        batcher
            .fill(
                corpus.train(),
                4,
                &mut seeded_rng(1000 + step),
                &mut x,
                &mut y,
            )
            .unwrap();
        opt.set_lr(lr_at(step));
        net.zero_grad();
        let logits = net.forward(&x);
        cross_entropy_seq_into(logits, &y, &mut d_logits).unwrap();
        net.backward(&d_logits).unwrap();
        clip_grad_norm(net, 1.0);
        opt.step(net);
    }
}

fn params(net: &mut TinyGpt<f64>) -> Vec<u64> {
    let mut out = Vec::new();
    net.visit_params(&mut |p| out.extend(p.value.iter().map(|v| v.to_bits())));
    out
}

fn moments<O: OptimizerState<f64>>(opt: &mut O, net: &mut TinyGpt<f64>) -> Vec<u64> {
    let mut out = Vec::new();
    opt.visit_state(net, &mut |_, _, b| match b {
        BufferMut::Values(v) => out.extend(v.iter().map(|v| v.to_bits())),
        BufferMut::Count(c) => out.push(*c as u64),
    });
    out
}

use nanotorch::BufferMut;

/// 20 straight steps against 10 + save + load (into a differently initialised model and a
/// fresh optimizer) + 10: the same parameters and optimizer state, bit for bit.
fn resume_is_exact<O: Optimizer<f64> + OptimizerState<f64>>(make: impl Fn() -> O) {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.safetensors");

    let mut straight = TinyGpt::<f64>::new(3);
    let mut opt = make();
    train(&mut straight, &mut opt, &corpus, 0, 20);

    let mut first = TinyGpt::<f64>::new(3);
    let mut opt1 = make();
    train(&mut first, &mut opt1, &corpus, 0, 10);
    checkpoint::save_training(&mut first, &mut opt1, 10, &path).unwrap();
    drop((first, opt1));

    let mut resumed = TinyGpt::<f64>::new(99);
    let mut opt2 = make();
    let step = checkpoint::load_training(&mut resumed, &mut opt2, &path).unwrap();
    assert_eq!(step, 10);
    train(&mut resumed, &mut opt2, &corpus, step, 20);

    assert_eq!(params(&mut resumed), params(&mut straight));
    assert_eq!(
        moments(&mut opt2, &mut resumed),
        moments(&mut opt, &mut straight)
    );
}

#[test]
fn ten_steps_save_load_ten_steps_equal_twenty_steps() {
    resume_is_exact(optimizer);

    // Without the optimizer state (fresh moments, step 1 again) the run differs: the check
    // above can fail.
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.safetensors");
    let mut straight = TinyGpt::<f64>::new(3);
    train(&mut straight, &mut optimizer(), &corpus, 0, 20);
    let mut first = TinyGpt::<f64>::new(3);
    let mut opt1 = optimizer();
    train(&mut first, &mut opt1, &corpus, 0, 10);
    checkpoint::save_training(&mut first, &mut opt1, 10, &path).unwrap();
    let mut model_only = TinyGpt::<f64>::new(99);
    let lenient = checkpoint::LoadOptions {
        strict: false,
        convert_dtypes: false,
    };
    checkpoint::load_with(&mut model_only, &path, lenient).unwrap();
    train(&mut model_only, &mut optimizer(), &corpus, 10, 20);
    assert_ne!(params(&mut model_only), params(&mut straight));
}

#[test]
fn sgd_and_rmsprop_resume_exactly_too() {
    // Dampening makes SGD's first momentum step (buffer = g) differ from the later ones.
    resume_is_exact(|| Sgd::<f64>::new(0.05).momentum(0.9).dampening(0.1));
    resume_is_exact(|| Sgd::<f64>::new(0.05).momentum(0.9).nesterov(true));
    resume_is_exact(|| {
        RmsProp::<f64>::new()
            .with_lr(1e-3)
            .centered(true)
            .momentum(0.5)
    });
    resume_is_exact(|| AdamW::<f64>::new().amsgrad(true));
}

/// The tensor names of a safetensors file, from its JSON header.
fn names(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut names: Vec<String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn a_training_checkpoint_names_model_optimizer_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let mut net = Linear::<U3, U2, f64>::init(&mut seeded_rng(0));
    let mut opt: AdamW<f64> = AdamW::new();
    // Saving before any step writes the state a first step starts from.
    checkpoint::save_training(&mut net, &mut opt, 0, &path).unwrap();
    assert_eq!(
        names(&path),
        [
            "bias",
            "optimizer.state.bias.exp_avg",
            "optimizer.state.bias.exp_avg_sq",
            "optimizer.state.weight.exp_avg",
            "optimizer.state.weight.exp_avg_sq",
            "optimizer.step",
            "train.step",
            "weight"
        ]
    );
    // RMSprop, centered with momentum, and SGD with momentum name theirs as PyTorch does.
    let mut rms: RmsProp<f64> = RmsProp::new().centered(true).momentum(0.9);
    checkpoint::save_training(&mut net, &mut rms, 0, &path).unwrap();
    let state: Vec<String> = names(&path)
        .into_iter()
        .filter(|n| n.starts_with("optimizer.state.bias"))
        .collect();
    assert_eq!(
        state,
        [
            "optimizer.state.bias.grad_avg",
            "optimizer.state.bias.momentum_buffer",
            "optimizer.state.bias.square_avg"
        ]
    );
    let mut sgd: Sgd<f64> = Sgd::new(0.1).momentum(0.9);
    checkpoint::save_training(&mut net, &mut sgd, 0, &path).unwrap();
    assert!(names(&path).contains(&"optimizer.state.weight.momentum_buffer".to_string()));
    let mut plain: Sgd<f64> = Sgd::new(0.1);
    checkpoint::save_training(&mut net, &mut plain, 0, &path).unwrap();
    assert_eq!(
        names(&path),
        ["bias", "optimizer.step", "train.step", "weight"]
    );
    checkpoint::save_training(&mut net, &mut opt, 0, &path).unwrap();
    // The model part loads as a plain model checkpoint, non-strictly.
    let mut other = Linear::<U3, U2, f64>::init(&mut seeded_rng(5));
    let lenient = checkpoint::LoadOptions {
        strict: false,
        convert_dtypes: false,
    };
    checkpoint::load_with(&mut other, &path, lenient).unwrap();
    assert_eq!(other.weight.value, net.weight.value);
}

#[test]
fn a_training_checkpoint_of_another_optimizer_or_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let mut net = Linear::<U3, U2, f64>::init(&mut seeded_rng(0));
    let mut opt: AdamW<f64> = AdamW::new();
    checkpoint::save_training(&mut net, &mut opt, 7, &path).unwrap();

    // AMSGrad keeps one more moment per parameter: missing from the file.
    let mut ams: AdamW<f64> = AdamW::new().amsgrad(true);
    let before = net.weight.value.clone();
    let err = checkpoint::load_training(&mut net, &mut ams, &path).unwrap_err();
    let missing: Vec<&str> = err.problems().iter().map(Problem::name).collect();
    assert_eq!(
        missing,
        [
            "optimizer.state.weight.max_exp_avg_sq",
            "optimizer.state.bias.max_exp_avg_sq"
        ]
    );
    assert_eq!(net.weight.value, before);

    // Another model: shapes differ, every one listed.
    let mut wide = Linear::<U4, U2, f64>::init(&mut seeded_rng(0));
    let err = checkpoint::load_training(&mut wide, &mut AdamW::<f64>::new(), &path).unwrap_err();
    assert!(matches!(err, CheckpointError::Mismatch { .. }));
    let shapes = err
        .problems()
        .iter()
        .filter(|p| matches!(p, Problem::Shape { .. }))
        .count();
    assert_eq!(shapes, 3, "{err}"); // weight, its exp_avg, its exp_avg_sq

    // A plain model file has no optimizer state.
    let model_only = dir.path().join("m.safetensors");
    checkpoint::save(&mut net, &model_only).unwrap();
    let err =
        checkpoint::load_training(&mut net, &mut AdamW::<f64>::new(), &model_only).unwrap_err();
    assert!(
        err.problems().iter().any(|p| p.name() == "train.step"),
        "{err}"
    );
}

#[test]
fn decay_on_matrices_leaves_biases_and_norms_alone() {
    // With zero gradients the moments stay 0 and AdamW's update is its decay alone:
    // θ ← θ·(1 − γλ) on the parameters it applies to.
    let mut net = TinyGpt::<f64>::new(1);
    let mut shapes: Vec<(String, usize)> = Vec::new();
    net.visit_named_params("", &mut |name, dims, _| {
        shapes.push((name.into(), dims.len()))
    });
    let before = {
        let mut v = Vec::new();
        net.visit_params(&mut |p| v.push(p.value.to_vec()));
        v
    };
    let mut opt: AdamW<f64> = AdamW::new()
        .with_lr(0.5)
        .weight_decay(0.1)
        .decay_on(DecayOn::Matrices);
    net.zero_grad();
    opt.step(&mut net);
    let mut k = 0;
    let (mut decayed, mut kept) = (0, 0);
    net.visit_params(&mut |p| {
        let (name, rank) = &shapes[k];
        for (after, was) in p.value.iter().zip(&before[k]) {
            let want = if *rank >= 2 {
                was * (1.0 - 0.5 * 0.1)
            } else {
                *was
            };
            assert_eq!(*after, want, "{name}");
        }
        if *rank >= 2 {
            decayed += 1
        } else {
            kept += 1
        }
        k += 1;
    });
    // wte, wpe, attention's key, query, value and proj weights, fc, proj, head; the 7 biases
    // and the gains and shifts of the 3 LayerNorms.
    assert_eq!((decayed, kept), (9, 13));
    assert!(DecayOn::All.applies(1) && !DecayOn::Matrices.applies(1));
}

network! {
    /// char-rnn's model in miniature: 6 characters over 12, two LSTM layers 8 wide.
    pub struct TinyLstm {
        wte: Embedding<12, 4>,
        lstm1: Lstm<4, 8>,
        lstm2: Lstm<8, 8>,
        head: Linear<8, 12>,
    }
    fn forward(
        idx: [B, 6] tokens<12>,
        h1: [B, 8],
        c1: [B, 8],
        h2: [B, 8],
        c2: [B, 8],
    ) -> ([B, 6, 12], [B, 8], [B, 8], [B, 8], [B, 8]) {
        let (hs1, h1n, c1n) = lstm1(wte(idx), h1, c1);
        let (hs2, h2n, c2n) = lstm2(hs1, h2, c2);
        (head(hs2), h1n, c1n, h2n, c2n)
    }
}

type LstmState = [Tensor<(Dyn, U8), f64>; 4];

/// Steps `from..to` of truncated BPTT over 3 consecutive streams: step `s` reads window
/// `s mod windows`, a new epoch starts from a zero state, and each step's final state is
/// copied into the next step's initial state.
fn train_lstm(
    net: &mut TinyLstm<f64>,
    opt: &mut AdamW<f64>,
    state: &mut LstmState,
    corpus: &CharCorpus,
    from: u64,
    to: u64,
) {
    let ids = corpus.train();
    let mut streams = CharStreams::<U6, U12>::new("t", "training", ids.len(), 3).unwrap();
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    let mut d_logits = Tensor::default();
    let zeros = Tensor::zeros((Dyn(3), U8::default()));
    for step in from..to {
        let window = (step % streams.windows() as u64) as usize;
        if window == 0 {
            state.iter_mut().for_each(|t| t.as_slice_mut().fill(0.0));
        }
        streams.fill(ids, window, &mut x, &mut y).unwrap();
        opt.set_lr(lr_at(step));
        net.zero_grad();
        let [h1, c1, h2, c2] = &mut *state;
        let (logits, h1n, c1n, h2n, c2n) = net.forward(&x, h1, c1, h2, c2).unwrap();
        cross_entropy_seq_into(logits, &y, &mut d_logits).unwrap();
        for (carried, last) in [h1, c1, h2, c2].into_iter().zip([h1n, c1n, h2n, c2n]) {
            carried.assign(last);
        }
        net.backward(&d_logits, &zeros, &zeros, &zeros, &zeros)
            .unwrap();
        clip_grad_norm(net, 1.0);
        opt.step(net);
    }
}

fn named(state: &mut LstmState) -> Vec<(&str, &mut Tensor<(Dyn, U8), f64>)> {
    ["state.h1", "state.c1", "state.h2", "state.c2"]
        .into_iter()
        .zip(state.iter_mut())
        .collect()
}

fn bits(net: &mut TinyLstm<f64>, state: &LstmState) -> Vec<u64> {
    let mut out = Vec::new();
    net.visit_params(&mut |p| out.extend(p.value.iter().map(|v| v.to_bits())));
    for t in state {
        out.extend(t.as_slice().iter().map(|v| v.to_bits()));
    }
    out
}

#[test]
fn truncated_bptt_with_a_carried_state_resumes_exactly() {
    let corpus = corpus();
    // 154 training characters: 3 streams of 51, 8 windows of 6 per epoch; 20 steps cross
    // two epoch starts (steps 8 and 16), the resume (step 10) falls mid-epoch.
    assert_eq!(
        CharStreams::<U6, U12>::new("t", "training", corpus.train().len(), 3)
            .unwrap()
            .windows(),
        8
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.safetensors");
    let zero = || -> LstmState { std::array::from_fn(|_| Tensor::zeros((Dyn(3), U8::default()))) };

    let (mut straight, mut opt, mut state) = (TinyLstm::<f64>::new(3), optimizer(), zero());
    train_lstm(&mut straight, &mut opt, &mut state, &corpus, 0, 20);

    let (mut first, mut opt1, mut state1) = (TinyLstm::<f64>::new(3), optimizer(), zero());
    train_lstm(&mut first, &mut opt1, &mut state1, &corpus, 0, 10);
    assert!(
        state1
            .iter()
            .all(|t| t.as_slice().iter().any(|&v| v != 0.0))
    );
    let mut saved = WithState::new(&mut first, named(&mut state1));
    checkpoint::save_training(&mut saved, &mut opt1, 10, &path).unwrap();

    let (mut resumed, mut opt2, mut state2) = (TinyLstm::<f64>::new(99), optimizer(), zero());
    let mut loading = WithState::new(&mut resumed, named(&mut state2));
    let step = checkpoint::load_training(&mut loading, &mut opt2, &path).unwrap();
    assert_eq!(step, 10);
    assert_eq!(bits(&mut resumed, &state2), bits(&mut first, &state1));
    train_lstm(&mut resumed, &mut opt2, &mut state2, &corpus, step, 20);
    assert_eq!(bits(&mut resumed, &state2), bits(&mut straight, &state));

    // Resumed from a zero state instead of the carried one, the run differs.
    let (mut forgetful, mut opt3, mut state3) = (TinyLstm::<f64>::new(99), optimizer(), zero());
    let mut scratch = zero();
    let mut loading = WithState::new(&mut forgetful, named(&mut scratch));
    checkpoint::load_training(&mut loading, &mut opt3, &path).unwrap();
    train_lstm(&mut forgetful, &mut opt3, &mut state3, &corpus, 10, 20);
    assert_ne!(bits(&mut forgetful, &state3), bits(&mut straight, &state));

    // A checkpoint without the state is refused, naming what is missing.
    let mut bare = TinyLstm::<f64>::new(1);
    let plain = dir.path().join("plain.safetensors");
    checkpoint::save_training(&mut bare, &mut optimizer(), 10, &plain).unwrap();
    let mut loading = WithState::new(&mut bare, named(&mut scratch));
    let err = checkpoint::load_training(&mut loading, &mut optimizer(), &plain).unwrap_err();
    let missing: Vec<&str> = err.problems().iter().map(Problem::name).collect();
    assert_eq!(
        missing,
        ["state.h1", "state.c1", "state.h2", "state.c2"],
        "{err}"
    );
}
