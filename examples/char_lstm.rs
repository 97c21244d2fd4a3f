//! char-rnn on eight Shakespeare tragedies: a two-layer LSTM over characters, declared in
//! `network!`, trained with truncated backpropagation through time over consecutive windows.
//!
//! ```sh
//! cargo run --release --example char_lstm                      # train 2,000 steps, then sample
//! cargo run --release --example char_lstm -- --resume          # continue from runs/char_lstm/train.safetensors
//! cargo run --release --example char_lstm -- --show-samples    # also a sample at step 0 and every 250 steps
//! cargo run --release --example char_lstm -- --sample "ROMEO:" --tokens 500 --temperature 0.8 --top-k 40 --seed 1
//! cargo run --release --example char_lstm -- --text my.txt     # any UTF-8 text of at most 73 distinct characters
//! ```
//!
//! The model (Karpathy's char-rnn, `-model lstm -num_layers 2 -rnn_size 256`, no dropout): an
//! embedding of the 73 characters into 64, two LSTM layers (`Lstm<64, 256>`, then
//! `Lstm<256, 256>`: PyTorch's `nn.LSTM` layer, fused gates and its parameter names) and a
//! linear head back to the 73 characters at every position. PyTorch's default initialisation.
//!
//! Training: the first 90 % of the text is cut into 32 streams of equal length, one per batch
//! row (`CharStreams`); batch `k` holds the `k`-th window of 64 characters of every stream, and
//! the loss is the cross-entropy of the next character at every position. The state `(h, c)`
//! each layer ends a batch in is the state it starts the next batch from — the window
//! continues the same stream — but as values only: the gradient stops at the window's start
//! (truncated BPTT, [`CarriedState::carry`]). A new epoch starts every stream again from the
//! beginning and from a zero state. Adam (lr 2e-3, 100 warm-up steps, then a cosine decay to
//! 2e-4), gradient clipping at 1, 2,000 steps (about 3.9 epochs). Every 250 steps: the
//! validation loss on the first 16 windows of the last 10 % cut the same way into 32 streams
//! (state carried, from zero); at the end, on all its windows.
//!
//! Writes `runs/char_lstm/model.safetensors` (PyTorch state-dict names: `lstm1.weight_ih_l0`,
//! …), `runs/char_lstm/vocab.txt`, `runs/char_lstm/train.safetensors` (model, Adam's moments,
//! step and the carried state, for `--resume`; saved at every evaluation) and
//! `runs/char_lstm/curves.svg`. A run resumed from step 250 ends byte for byte where the
//! uninterrupted run ends. `scripts/char_lstm_torch.py` is the same run in PyTorch.
//!
//! Sampling carries the state one character at a time: each character is a sequence of length
//! 1 through the layers' `forward_into` with kept buffers, so a character costs the same
//! however long the text so far, and the loop allocates nothing per character.

use nanotorch::checkpoint::{self, WithState};
use nanotorch::data::{CharCorpus, CharStreams};
use nanotorch::prelude::*;
use nanotorch_suite::char_lm::{NextChar, Result, Schedule, Spec, Trainer, generate};

network! {
    /// char-rnn's two-layer LSTM: 64 character ids and each layer's initial state in; logits
    /// over the 73 characters at every position and each layer's final state out.
    pub struct CharLstm {
        wte: Embedding<73, 64>,
        lstm1: Lstm<64, 256>,
        lstm2: Lstm<256, 256>,
        head: Linear<256, 73>,
    }
    fn forward(
        idx: [B, 64] tokens<73>,
        h1: [B, 256],
        c1: [B, 256],
        h2: [B, 256],
        c2: [B, 256],
    ) -> ([B, 64, 73], [B, 256], [B, 256], [B, 256], [B, 256]) {
        let (hs1, h1n, c1n) = lstm1(wte(idx), h1, c1);
        let (hs2, h2n, c2n) = lstm2(hs1, h2, c2);
        (head(hs2), h1n, c1n, h2n, c2n)
    }
}

/// Characters per window (the truncation length of backpropagation through time).
type Ctx = U64;
/// Vocabulary size the model is built for (the shipped text has exactly 73 characters).
type Voc = U73;
/// The state width of both layers.
type Hid = U256;
type Window = Tokens<Ctx, Voc>;
type State = Tensor<(Dyn, Hid)>;

const SEED: u64 = 0;
const BATCH: usize = 32;
/// Windows of every validation stream the periodic evaluation reads (of 56).
const EVAL_WINDOWS: usize = 16;

/// Adam at 2e-3 after 100 warm-up steps, a cosine down to 2e-4 at the last step; 2,000 steps,
/// an evaluation every 250.
const SPEC: Spec = Spec {
    name: "char_lstm",
    steps: 2000,
    schedule: Schedule {
        lr: 2e-3,
        min_lr: 2e-4,
        warmup: 100,
    },
    eval_every: 250,
};

fn main() -> std::process::ExitCode {
    SPEC.main(|args| {
        SPEC.run::<Ctx, Voc, _, _>(
            args,
            || CharLstm::<f32>::new(SEED),
            |net, vocab, prompt, args| generate(&mut Sampling::new(net), vocab, prompt, args),
            LstmRun::new,
        )
    })
}

/// The state `(h, c)` of both layers that one batch hands to the next.
#[derive(Default)]
struct CarriedState {
    h1: State,
    c1: State,
    h2: State,
    c2: State,
}

impl CarriedState {
    /// A zero state for `batch` streams.
    fn zeros(batch: usize) -> Self {
        let zero = || State::zeros((Dyn(batch), Hid::default()));
        Self {
            h1: zero(),
            c1: zero(),
            h2: zero(),
            c2: zero(),
        }
    }

    fn reset(&mut self) {
        for t in [&mut self.h1, &mut self.c1, &mut self.h2, &mut self.c2] {
            t.as_slice_mut().fill(0.0);
        }
    }

    /// Truncated BPTT: the final states of this window become the initial states of the next
    /// one — copied as values, so the next window's backward stops here. The gradient the
    /// network could return for its initial state is never asked for (`backward`, not
    /// `backward_with_input`): nothing flows into the window before.
    fn carry(&mut self, (h1, c1, h2, c2): (&State, &State, &State, &State)) {
        self.h1.assign(h1);
        self.c1.assign(c1);
        self.h2.assign(h2);
        self.c2.assign(c2);
    }

    /// The state as named buffers of a training checkpoint.
    fn named(&mut self) -> Vec<(&'static str, &mut State)> {
        vec![
            ("state.h1", &mut self.h1),
            ("state.c1", &mut self.c1),
            ("state.h2", &mut self.h2),
            ("state.c2", &mut self.c2),
        ]
    }
}

/// A training run: the model, Adam, the streams, the carried state and the reused buffers.
struct LstmRun {
    corpus: CharCorpus,
    net: CharLstm<f32>,
    optimizer: Adam,
    train: CharStreams<Ctx, Voc>,
    validation: CharStreams<Ctx, Voc>,
    state: CarriedState,
    /// The validation streams' own state.
    eval_state: CarriedState,
    /// `∂L/∂h` and `∂L/∂c` of the final states: zero, the loss does not read them.
    zeros: State,
    x: Window,
    y: Vec<Option<usize>>,
    d_logits: Tensor<(Dyn, Ctx, Voc)>,
}

impl LstmRun {
    fn new(corpus: CharCorpus) -> Result<Self> {
        let (train, validation) = (corpus.train().len(), corpus.validation().len());
        Ok(Self {
            train: CharStreams::new(corpus.origin(), "training", train, BATCH)?,
            validation: CharStreams::new(corpus.origin(), "validation", validation, BATCH)?,
            corpus,
            net: CharLstm::<f32>::new(SEED),
            optimizer: Adam::new().with_lr(SPEC.schedule.lr).validated()?,
            state: CarriedState::zeros(BATCH),
            eval_state: CarriedState::zeros(BATCH),
            zeros: State::zeros((Dyn(BATCH), Hid::default())),
            x: Window::default(),
            y: Vec::new(),
            d_logits: Tensor::default(),
        })
    }

    /// Mean cross-entropy (nats per character) of the first `windows` windows of the
    /// validation streams, from a zero state carried from window to window.
    fn loss_on(&mut self, windows: usize) -> Result<f64> {
        self.eval_state.reset();
        let mut sum = 0.0;
        for k in 0..windows {
            let s = &mut self.eval_state;
            self.validation
                .fill(self.corpus.validation(), k, &mut self.x, &mut self.y)?;
            let (logits, h1, c1, h2, c2) = self.net.forward(&self.x, &s.h1, &s.c1, &s.h2, &s.c2)?;
            sum += f64::from(cross_entropy_seq_into(logits, &self.y, &mut self.d_logits)?);
            s.carry((h1, c1, h2, c2));
        }
        Ok(sum / windows as f64)
    }
}

impl Trainer for LstmRun {
    type Generator<'a>
        = Sampling<'a>
    where
        Self: 'a;

    fn describe(&mut self) -> String {
        format!(
            "a {}-parameter LSTM (2 layers, 256 wide), batch {BATCH} streams of {} characters, \
             windows of {}, {} windows per epoch, Adam",
            self.net.num_params(),
            self.train.stream_len(),
            Ctx::SIZE,
            self.train.windows(),
        )
    }

    fn batch(&self) -> usize {
        BATCH
    }

    /// Step `s` reads window `s mod windows` of every stream: the data is a function of the
    /// step, so a resumed run (with the carried state from its checkpoint) sees what an
    /// uninterrupted one would.
    fn step(&mut self, step: u64, lr: f64) -> Result<f32> {
        let window = (step % self.train.windows() as u64) as usize;
        if window == 0 {
            // A new epoch: every stream starts again at its beginning, from a zero state.
            self.state.reset();
        }
        self.train
            .fill(self.corpus.train(), window, &mut self.x, &mut self.y)?;
        self.optimizer.set_lr(lr);
        self.net.zero_grad();
        let s = &mut self.state;
        let (logits, h1, c1, h2, c2) = self.net.forward(&self.x, &s.h1, &s.c1, &s.h2, &s.c2)?;
        let loss = cross_entropy_seq_into(logits, &self.y, &mut self.d_logits)?;
        s.carry((h1, c1, h2, c2));
        let z = &self.zeros;
        self.net.backward(&self.d_logits, z, z, z, z)?;
        clip_grad_norm(&mut self.net, 1.0);
        self.optimizer.step(&mut self.net);
        Ok(loss)
    }

    fn validation_loss(&mut self, full: bool) -> Result<(f64, String)> {
        let all = self.validation.windows();
        if full {
            let what = format!(
                "all {all} windows of the validation part's {BATCH} streams ({} characters)",
                all * BATCH * Ctx::SIZE
            );
            Ok((self.loss_on(all)?, what))
        } else {
            Ok((self.loss_on(EVAL_WINDOWS.min(all))?, String::new()))
        }
    }

    fn save_training(&mut self, step: u64, path: &str) -> Result<()> {
        let mut with_state = WithState::new(&mut self.net, self.state.named());
        Ok(checkpoint::save_training(
            &mut with_state,
            &mut self.optimizer,
            step,
            path,
        )?)
    }

    fn load_training(&mut self, path: &str) -> Result<u64> {
        let mut with_state = WithState::new(&mut self.net, self.state.named());
        Ok(checkpoint::load_training(
            &mut with_state,
            &mut self.optimizer,
            path,
        )?)
    }

    fn save_model(&mut self, path: &str) -> Result<()> {
        Ok(checkpoint::save(&mut self.net, path)?)
    }

    fn graph_svg(&self) -> &'static str {
        CharLstm::graph_svg()
    }

    fn generator(&mut self) -> Sampling<'_> {
        Sampling::new(&mut self.net)
    }
}

/// The LSTM as the sampling loop sees it: one character at a time (sequences of length 1,
/// batch 1) through the layers' `forward_into`, the state carried in kept buffers. The
/// prompt is fed character by character; after it, each call feeds the one character just
/// drawn. Nothing is allocated per character.
struct Sampling<'n> {
    net: &'n mut CharLstm<f32>,
    /// How many of the ids the state has read.
    fed: usize,
    x: Tokens<U1, Voc>,
    emb: Tensor<(Dyn, U1, U64)>,
    hs1: Tensor<(Dyn, U1, Hid)>,
    hs2: Tensor<(Dyn, U1, Hid)>,
    logits: Tensor<(Dyn, U1, Voc)>,
    state: CarriedState,
    next: CarriedState,
}

impl<'n> Sampling<'n> {
    fn new(net: &'n mut CharLstm<f32>) -> Self {
        Self {
            net,
            fed: 0,
            x: Tokens::default(),
            emb: Tensor::default(),
            hs1: Tensor::default(),
            hs2: Tensor::default(),
            logits: Tensor::default(),
            state: CarriedState::zeros(1),
            next: CarriedState::zeros(1),
        }
    }

    /// One character through the embedding and both layers, from `state` into `next`; then
    /// `next` becomes the state.
    fn feed(&mut self, id: usize) -> Result<()> {
        let (s, n, net) = (&self.state, &mut self.next, &mut *self.net);
        self.x.assign_from_slice(1, &[id])?;
        net.wte.forward_into(&self.x, &mut self.emb);
        let (emb, hs1, hs2) = (&self.emb, &mut self.hs1, &mut self.hs2);
        net.lstm1
            .forward_state_into(emb, &s.h1, &s.c1, hs1, &mut n.h1, &mut n.c1)?;
        net.lstm2
            .forward_state_into(hs1, &s.h2, &s.c2, hs2, &mut n.h2, &mut n.c2)?;
        std::mem::swap(&mut self.state, &mut self.next);
        Ok(())
    }
}

impl NextChar for Sampling<'_> {
    fn next_logits(&mut self, ids: &[usize]) -> Result<&[f32]> {
        for &id in &ids[self.fed..] {
            self.feed(id)?;
        }
        self.fed = ids.len();
        self.net.head.forward_into(&self.hs2, &mut self.logits);
        Ok(self.logits.as_slice())
    }
}
