//! What the character-level language models `examples/char_gpt.rs` and
//! `examples/char_lstm.rs` share: the command line, the run directory (vocabulary and
//! checkpoints), the learning-rate schedule, the training loop's bookkeeping (progress bar,
//! validation every `eval_every` steps, training checkpoints, curves, the final validation
//! loss) and the sampling loop. Each example supplies only its model: a [`Trainer`] (one
//! training step, the validation loss, its checkpoints) and a [`NextChar`] (the logits of the
//! next character, for sampling).
//!
//! ```text
//! cargo run --release --example NAME                       # train, then sample
//! cargo run --release --example NAME -- --resume           # continue from runs/NAME/train.safetensors
//! cargo run --release --example NAME -- --show-samples     # also a sample at step 0 and at every evaluation
//! cargo run --release --example NAME -- --sample "ROMEO:" --tokens 500 --temperature 0.8 --top-k 40 --seed 1
//! cargo run --release --example NAME -- --text my.txt      # any UTF-8 text that fits the model's vocabulary
//! ```

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nanotorch::data::{CharCorpus, CharVocab, datasets};
use nanotorch::sample::Sampler;
use nanotorch::shape::StaticDim;
use nanotorch::train::{EpochSummary, History, Progress};
use nanotorch::{Module, checkpoint, seeded_rng};

/// A boxed error, as the examples report them.
pub type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// Linear warm-up, then a cosine decay (nanoGPT's `get_lr`): `lr·(s + 1)/(warmup + 1)` for the
/// first `warmup` steps, then from `lr` down to `min_lr` at the last step.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// The peak learning rate.
    pub lr: f64,
    /// The learning rate at the last step.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup: u64,
}

impl Schedule {
    /// The learning rate of step `step` (from 0) of a run of `steps` steps.
    pub fn lr_at(&self, step: u64, steps: u64) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / (self.warmup + 1) as f64;
        }
        let ratio = (step - self.warmup) as f64 / (steps - self.warmup).max(1) as f64;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio.min(1.0)).cos());
        self.min_lr + coeff * (self.lr - self.min_lr)
    }
}

/// One example: its name (the run directory is `runs/NAME`), default step count, schedule and
/// evaluation period.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The example's name, e.g. `"char_gpt"`.
    pub name: &'static str,
    /// Training steps unless `--steps` says otherwise.
    pub steps: u64,
    /// The learning rate per step.
    pub schedule: Schedule,
    /// Steps between evaluations (and training checkpoints).
    pub eval_every: u64,
}

/// The command line of a character model.
#[derive(Clone, Debug)]
pub struct Args {
    /// `--text FILE`: train on this text instead of the shipped Shakespeare.
    pub text: Option<String>,
    /// `--steps N`.
    pub steps: u64,
    /// `--resume`: continue from the run directory's training checkpoint.
    pub resume: bool,
    /// `--show-samples`: print a short sample at step 0 and after every evaluation.
    pub show_samples: bool,
    /// `--sample PROMPT`: sample from the saved model instead of training.
    pub sample: Option<String>,
    /// `--tokens N`: characters to generate.
    pub tokens: usize,
    /// `--temperature T`.
    pub temperature: f64,
    /// `--top-k K` (`0`: off).
    pub top_k: Option<usize>,
    /// `--seed S`: the sampling generator's seed.
    pub seed: u64,
}

impl Spec {
    /// The run directory, `runs/NAME`.
    pub fn run_dir(&self) -> String {
        format!("runs/{}", self.name)
    }

    /// The trained model, `runs/NAME/model.safetensors` (PyTorch state-dict names).
    pub fn model_path(&self) -> String {
        format!("runs/{}/model.safetensors", self.name)
    }

    /// The training checkpoint, `runs/NAME/train.safetensors`.
    pub fn train_path(&self) -> String {
        format!("runs/{}/train.safetensors", self.name)
    }

    /// The vocabulary a model was trained with, saved beside its checkpoint (its characters in
    /// order, as UTF-8), so sampling decodes with the ids training used.
    pub fn vocab_path(&self) -> String {
        format!("runs/{}/vocab.txt", self.name)
    }

    /// How to run the example.
    pub fn usage(&self) -> String {
        let n = self.name;
        format!(
            "usage: cargo run --release --example {n} -- [--text FILE] [--steps N] [--resume] [--show-samples]
       cargo run --release --example {n} -- --sample PROMPT [--tokens N] [--temperature T] [--top-k K] [--seed S]"
        )
    }

    /// Reads the command line (without the program name).
    ///
    /// # Errors
    /// A message for an unknown flag, a missing or malformed value, or too few steps for the
    /// warm-up; an empty message for `--help`.
    pub fn parse_args(&self, argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            text: None,
            steps: self.steps,
            resume: false,
            show_samples: false,
            sample: None,
            tokens: 500,
            temperature: 0.8,
            top_k: Some(40),
            seed: 1,
        };
        let mut it = argv.into_iter();
        while let Some(flag) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
                v.parse()
                    .map_err(|_| format!("{flag}: `{v}` is not a valid number"))
            }
            match flag.as_str() {
                "--text" => args.text = Some(value("--text")?),
                "--steps" => args.steps = num("--steps", value("--steps")?)?,
                "--resume" => args.resume = true,
                "--show-samples" => args.show_samples = true,
                "--sample" => args.sample = Some(value("--sample")?),
                "--tokens" => args.tokens = num("--tokens", value("--tokens")?)?,
                "--temperature" => {
                    args.temperature = num("--temperature", value("--temperature")?)?
                }
                "--top-k" => {
                    let k: usize = num("--top-k", value("--top-k")?)?;
                    args.top_k = (k > 0).then_some(k);
                }
                "--seed" => args.seed = num("--seed", value("--seed")?)?,
                "--help" | "-h" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if args.steps <= self.schedule.warmup {
            return Err(format!(
                "--steps must be more than the {} warm-up steps",
                self.schedule.warmup
            ));
        }
        Ok(args)
    }

    /// The example's `main`: parses the command line (usage and exit code 2 on a mistake),
    /// runs `run`, and prints its error (exit code 1).
    pub fn main(&self, run: impl FnOnce(&Args) -> Result<()>) -> ExitCode {
        let args = match self.parse_args(std::env::args().skip(1)) {
            Ok(a) => a,
            Err(e) => {
                if !e.is_empty() {
                    eprintln!("error: {e}");
                }
                eprintln!("{}", self.usage());
                return ExitCode::from(2);
            }
        };
        match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn train_first(&self) -> String {
        format!("(train first: cargo run --release --example {})", self.name)
    }

    /// The vocabulary saved by the last training run.
    ///
    /// # Errors
    /// The file cannot be read (no training run yet).
    pub fn saved_vocab(&self) -> Result<CharVocab> {
        let chars = std::fs::read_to_string(self.vocab_path()).map_err(|e| {
            format!(
                "cannot read {}: {e}\n{}",
                self.vocab_path(),
                self.train_first()
            )
        })?;
        Ok(CharVocab::from_text(&chars))
    }

    /// Loads the trained model into `net` and returns the saved vocabulary (for `--sample`).
    ///
    /// # Errors
    /// No training run yet, or a checkpoint of another model.
    pub fn load_trained(&self, net: &mut impl Module<f32>) -> Result<CharVocab> {
        let vocab = self.saved_vocab()?;
        checkpoint::load(net, self.model_path())
            .map_err(|e| format!("{e}\n{}", self.train_first()))?;
        Ok(vocab)
    }

    /// The text to train on (`--text`, else the shipped Shakespeare), checked against a model
    /// reading `T` characters over `V` ids; on `--resume`, checked to have the vocabulary of
    /// the run being resumed. Writes the vocabulary into the run directory.
    ///
    /// # Errors
    /// An unreadable or non-UTF-8 file, a text with more than `V` distinct characters or too
    /// short for a window, another vocabulary than the resumed run's.
    pub fn corpus<T: StaticDim, V: StaticDim>(&self, args: &Args) -> Result<CharCorpus> {
        let corpus = match &args.text {
            Some(path) => CharCorpus::from_file(path)?,
            None => datasets::shakespeare()?,
        };
        // A text of more than V distinct characters, or too short for a window, stops here.
        corpus.check_fits::<T, V>()?;
        if args.resume && self.saved_vocab()? != *corpus.vocab() {
            return Err(format!(
                "{} has another vocabulary than the run being resumed ({}): resume with the text it \
                 was trained on",
                corpus.origin(),
                self.vocab_path()
            )
            .into());
        }
        std::fs::create_dir_all(self.run_dir())?;
        std::fs::write(
            self.vocab_path(),
            corpus.vocab().chars().iter().collect::<String>(),
        )?;
        Ok(corpus)
    }

    /// The whole program of a character model. With `--sample`, loads the trained model into
    /// `net()` and hands it to `sample` (which wraps it in the model's [`NextChar`] and calls
    /// [`generate`]). Otherwise reads the text ([`Spec::corpus`], for a model of context `T`
    /// over `V` ids), builds the trainer with `trainer`, trains it ([`Spec::train`]) and
    /// samples 300 characters after a newline.
    ///
    /// # Errors
    /// Those of each part.
    pub fn run<T: StaticDim, V: StaticDim, M: Module<f32>, R: Trainer>(
        &self,
        args: &Args,
        net: impl FnOnce() -> M,
        sample: impl FnOnce(&mut M, &CharVocab, &str, &Args) -> Result<()>,
        trainer: impl FnOnce(CharCorpus) -> Result<R>,
    ) -> Result<()> {
        if let Some(prompt) = &args.sample {
            let mut net = net();
            let vocab = self.load_trained(&mut net)?;
            return sample(&mut net, &vocab, prompt, args);
        }
        let corpus = self.corpus::<T, V>(args)?;
        println!(
            "{}: {} — {} characters, {} distinct; train {} / validation {}",
            self.name,
            corpus.origin(),
            corpus.len(),
            corpus.vocab().len(),
            corpus.train().len(),
            corpus.validation().len()
        );
        let vocab = corpus.vocab().clone();
        let mut run = trainer(corpus)?;
        self.train(&mut run, &vocab, args)?;
        let after = Args {
            tokens: 300,
            ..args.clone()
        };
        generate(&mut run.generator(), &vocab, "\n", &after)
    }

    /// Trains `trainer` for `args.steps` steps (from its training checkpoint on `--resume`):
    /// a progress bar per `eval_every` steps, then the validation loss in nats and bits per
    /// character and a training checkpoint; at the end, the final validation loss, the model
    /// and the curves. `vocab` decodes the samples of `--show-samples`.
    ///
    /// # Errors
    /// Those of the trainer, and of writing the run directory.
    pub fn train<R: Trainer>(&self, trainer: &mut R, vocab: &CharVocab, args: &Args) -> Result<()> {
        let start = Instant::now();
        let resume_path = self.train_path();
        let mut first = 0;
        if args.resume {
            first = trainer.load_training(&resume_path)?;
            println!("resumed from {resume_path} at step {first}");
        }
        let steps = args.steps;
        println!(
            "{}, {steps} steps, {} thread(s)",
            trainer.describe(),
            nanotorch::num_threads()
        );
        std::fs::create_dir_all(self.run_dir())?;
        let mut history = History::new();
        let epochs = steps.div_ceil(self.eval_every) as usize;
        let mut train_time = Duration::ZERO;
        let mut step = first;
        let show = |trainer: &mut R, step: u64| -> Result<()> {
            if args.show_samples {
                let settings = Args {
                    tokens: 200,
                    ..args.clone()
                };
                println!("sample at step {step}:");
                generate(&mut trainer.generator(), vocab, "\n", &settings)?;
            }
            Ok(())
        };
        if step == 0 {
            show(trainer, 0)?;
        }
        while step < steps {
            let epoch = (step / self.eval_every) as usize + 1;
            let end = (epoch as u64 * self.eval_every).min(steps);
            let epoch_start = Instant::now();
            let taken = end - step;
            let mut progress = Progress::new(epoch, epochs, taken as usize);
            for s in step..end {
                let loss = trainer.step(s, self.schedule.lr_at(s, steps))?;
                progress.step(f64::from(loss), trainer.batch(), None);
            }
            let elapsed = epoch_start.elapsed();
            train_time += elapsed;
            let meter = progress.finish();
            step = end;
            let val = trainer.validation_loss(false)?.0;
            let summary =
                EpochSummary::new(epoch, epochs, meter.loss(), elapsed).with_test(val, None);
            println!(
                "step {step:>4}  train loss {:.4}  val loss {val:.4} nats = {:.4} bits/char  lr {:.2e}  {:.1} ms/step",
                meter.loss(),
                val / std::f64::consts::LN_2,
                self.schedule.lr_at(step - 1, steps),
                1e3 * elapsed.as_secs_f64() / taken as f64,
            );
            history.push(summary);
            trainer.save_training(step, &resume_path)?;
            show(trainer, step)?;
        }
        let (val, on) = trainer.validation_loss(true)?;
        let trained = steps - first;
        println!(
            "validation loss {val:.4} nats = {:.4} bits/char on {on}, after {steps} steps; \
             {trained} steps in {:.1} s of training = {:.1} ms/step ({:.1} s in all)",
            val / std::f64::consts::LN_2,
            train_time.as_secs_f64(),
            1e3 * train_time.as_secs_f64() / trained.max(1) as f64,
            start.elapsed().as_secs_f64()
        );
        trainer.save_model(&self.model_path())?;
        let dir = self.run_dir();
        std::fs::write(format!("{dir}/graph.svg"), trainer.graph_svg())?;
        if first == steps {
            println!("saved {dir}/model.safetensors (no step taken: curves.svg left as it was)");
        } else {
            history.write_svg(format!("{dir}/curves.svg"))?;
            println!("saved {dir}/model.safetensors, {dir}/train.safetensors and {dir}/curves.svg");
        }
        Ok(())
    }
}

/// The model-specific half of a training run ([`Spec::train`] is the other).
pub trait Trainer {
    /// What samples the model during training.
    type Generator<'a>: NextChar
    where
        Self: 'a;

    /// One line saying what is trained, e.g. `a 816713-parameter GPT (…), batch 12, AdamW`.
    fn describe(&mut self) -> String;

    /// Sequences per batch.
    fn batch(&self) -> usize;

    /// Training step `step` (from 0) at learning rate `lr`; returns the batch's loss.
    ///
    /// # Errors
    /// A batch that cannot be drawn, a loss that cannot be computed.
    fn step(&mut self, step: u64, lr: f64) -> Result<f32>;

    /// The mean validation loss in nats per character: on the periodic evaluation's part of
    /// the validation text, or (`full`) on all of it, with a phrase saying which
    /// (`"all 1809 non-overlapping windows of the validation part"`).
    ///
    /// # Errors
    /// A batch that cannot be drawn, a loss that cannot be computed.
    fn validation_loss(&mut self, full: bool) -> Result<(f64, String)>;

    /// Saves what an exact resume needs: the model, the optimizer's state, the step, and any
    /// state carried from batch to batch.
    ///
    /// # Errors
    /// The file cannot be written.
    fn save_training(&mut self, step: u64, path: &str) -> Result<()>;

    /// Loads [`Trainer::save_training`]'s file; returns its step.
    ///
    /// # Errors
    /// No such file, or one of another model or optimizer.
    fn load_training(&mut self, path: &str) -> Result<u64>;

    /// Saves the model alone (PyTorch state-dict names).
    ///
    /// # Errors
    /// The file cannot be written.
    fn save_model(&mut self, path: &str) -> Result<()>;

    /// The picture of the model's graph (`network!`'s `graph_svg`), saved as `graph.svg`.
    fn graph_svg(&self) -> &'static str;

    /// The model as a [`NextChar`], for sampling.
    fn generator(&mut self) -> Self::Generator<'_>;
}

/// A language model as the sampling loop sees it.
pub trait NextChar {
    /// The logits over the vocabulary for the character after `ids`. The loop calls it first
    /// with the prompt, then with one more id each time (the one just drawn): a model that
    /// carries a state feeds only the ids it has not seen.
    ///
    /// # Errors
    /// An id outside the model's vocabulary.
    fn next_logits(&mut self, ids: &[usize]) -> Result<&[f32]>;
}

/// Prints `prompt` and `args.tokens` characters drawn from `model` (temperature, top-k and
/// seed from `args`), then the rate in characters per second. Reproducible per seed; after
/// the first character the loop allocates nothing unless the model does.
///
/// # Errors
/// A prompt that is empty or has a character outside `vocab`; bad sampling settings.
pub fn generate(
    model: &mut impl NextChar,
    vocab: &CharVocab,
    prompt: &str,
    args: &Args,
) -> Result<()> {
    let prompt_ids = vocab.encode(prompt)?;
    if prompt_ids.is_empty() {
        return Err("the prompt is empty: give at least one character".into());
    }
    let mut sampler = Sampler::new(args.temperature, args.top_k)?;
    let mut rng = seeded_rng(args.seed);
    // The known characters: the prompt, then each one generated.
    let mut ids = Vec::with_capacity(prompt_ids.len() + args.tokens);
    ids.extend_from_slice(&prompt_ids);
    let mut out = String::with_capacity(4 * args.tokens);
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "--- sample: {} characters, temperature {}, top-k {}, seed {} ---",
        args.tokens,
        args.temperature,
        args.top_k.map_or("off".to_string(), |k| k.to_string()),
        args.seed
    )?;
    write!(stdout, "{prompt}")?;
    let start = Instant::now();
    for _ in 0..args.tokens {
        let next = sampler.sample(model.next_logits(&ids)?, &mut rng)?;
        ids.push(next);
        let before = out.len();
        vocab.decode_into(&ids[ids.len() - 1..], &mut out)?;
        write!(stdout, "{}", &out[before..])?;
    }
    let elapsed = start.elapsed();
    writeln!(stdout)?;
    writeln!(
        stdout,
        "--- {} characters in {:.2} s = {:.0} characters/s ---",
        args.tokens,
        elapsed.as_secs_f64(),
        args.tokens as f64 / elapsed.as_secs_f64()
    )?;
    Ok(())
}
