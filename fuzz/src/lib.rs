//! The entry points the fuzz targets drive, one function per target. Each feeds the bytes to
//! the library exactly as a user's file would reach it, checks what must hold whatever the
//! bytes (a result is an `Ok` or a typed error whose message formats; an `Ok` is
//! self-consistent; a refused checkpoint leaves the model untouched), and returns a short
//! outcome such as `"Ok"` or `"Err(Truncated)"`.
//!
//! `tests/fuzz_regressions.rs` includes this same file (`#[path]`) and feeds it every kept
//! input under `tests/fuzz_regressions/<target>/`, on the stable toolchain.

use nanotorch::checkpoint::{self, CheckpointError, LoadOptions};
use nanotorch::data::{self, CsvHeader, DataError};
use nanotorch::prelude::*;
use nanotorch::{BufferMut, Module};
use std::cell::RefCell;
use std::path::Path;

/// The most bytes a target lets gunzip produce: a 4 KB input cannot reach it except as a gzip
/// bomb, which must then be refused.
pub const FUZZ_GUNZIP_LIMIT: u64 = 1 << 20;

/// A target's entry point: the bytes in, the outcome out.
pub type Target = fn(&[u8]) -> String;

/// The targets, by name, as `fuzz/fuzz_targets/<name>.rs` and `tests/fuzz_regressions/<name>/`.
pub const TARGETS: [(&str, Target); 7] = [
    ("checkpoint", checkpoint),
    ("idx_images", idx_images),
    ("idx_labels", idx_labels),
    ("csv_labelled", csv_labelled),
    ("csv_table", csv_table),
    ("gunzip", gunzip),
    ("text", text),
];

network! {
    /// A small CNN with both kinds of parameter and every kind of buffer (BatchNorm's running
    /// statistics in the model's float type and its `I64` counter): the state dict of
    /// `scripts/make_torch_cnn_checkpoint.py`, whose file `tests/golden/torch_cnn.safetensors`
    /// seeds the corpus.
    pub struct Cnn {
        conv1: Conv2d<1, 4, 3, padding = 1>,
        bn1: BatchNorm2d<4>,
        pool: MaxPool2d<2>,
        conv2: Conv2d<4, 6, 3>,
        bn2: BatchNorm2d<6>,
        fc: Linear<24, 5>,
    }
    fn forward(x: [B, 1, 8, 8]) -> [B, 5] {
        let h = pool(relu(bn1(conv1(x))));
        fc(flatten(relu(bn2(conv2(h)))))
    }
}

/// `"Ok"`, or `"Err(Variant)"` from the error's `Debug` form, after checking that its message
/// formats and is not empty.
fn outcome<E: std::fmt::Debug + std::fmt::Display>(r: &Result<(), E>) -> String {
    match r {
        Ok(()) => "Ok".to_string(),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let debug = format!("{e:?}");
            let variant = debug.split([' ', '(', '{']).next().unwrap_or_default();
            format!("Err({variant})")
        }
    }
}

/// As `mnist::read_images`/`read_labels` do with a file: gunzip if it starts with the gzip
/// signature.
fn maybe_gunzip(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Ok(data::gunzip_with_limit("fuzz.gz", bytes, FUZZ_GUNZIP_LIMIT)?.into())
    } else {
        Ok(bytes.into())
    }
}

/// `checkpoint::from_bytes` into the CNN in `f32` and `f64`, strict and with
/// `strict: false, convert_dtypes: true`.
pub fn checkpoint(bytes: &[u8]) -> String {
    thread_local! {
        // Built once: initializing a model costs more than most loads.
        static MODELS: RefCell<(Pristine<f32>, Pristine<f64>)> =
            RefCell::new((Pristine::new(), Pristine::new()));
    }
    MODELS.with_borrow_mut(|(m32, m64)| {
        let mut outcomes = Vec::new();
        for options in [
            LoadOptions::default(),
            LoadOptions {
                strict: false,
                convert_dtypes: true,
            },
        ] {
            outcomes.push(m32.load(bytes, options));
            outcomes.push(m64.load(bytes, options));
        }
        outcomes.join(" ")
    })
}

/// A model, its state as saved, and its values in one list (cheaper to compare).
struct Pristine<E: Element> {
    model: Cnn<E>,
    bytes: Vec<u8>,
    values: Vec<f64>,
}

impl<E: Element> Pristine<E> {
    fn new() -> Self {
        let mut model = Cnn::<E>::new(0);
        let bytes = checkpoint::to_bytes(&mut model).expect("a valid model encodes");
        let values = values(&mut model);
        Self {
            model,
            bytes,
            values,
        }
    }

    /// Loads `bytes`; checks that a refused load changed nothing and that an accepted one
    /// round-trips; leaves the model as it was.
    fn load(&mut self, bytes: &[u8], options: LoadOptions) -> String {
        let result: Result<(), CheckpointError> =
            checkpoint::from_bytes(&mut self.model, bytes, options);
        match &result {
            // Loading checks everything before changing anything.
            Err(_) => assert!(
                values(&mut self.model) == self.values,
                "a refused load changed the model"
            ),
            // What was loaded saves and loads back to the same state.
            Ok(()) => {
                let saved = checkpoint::to_bytes(&mut self.model).expect("a valid model encodes");
                let mut again = Cnn::<E>::new(1);
                checkpoint::from_bytes(&mut again, &saved, LoadOptions::default())
                    .expect("a saved state loads");
                assert!(checkpoint::to_bytes(&mut again).unwrap() == saved);
                checkpoint::from_bytes(&mut self.model, &self.bytes, LoadOptions::default())
                    .expect("the pristine state loads back");
            }
        }
        outcome(&result)
    }
}

/// Every parameter and buffer value, in state-dict order (counters as floats).
fn values<E: Element>(model: &mut Cnn<E>) -> Vec<f64> {
    let mut out = Vec::new();
    model.visit_named_params("", &mut |_, _, p| {
        out.extend(p.value.iter().map(|v| v.as_f64()));
    });
    model.visit_named_buffers("", &mut |_, _, b| match b {
        BufferMut::Values(v) => out.extend(v.iter().map(|x| x.as_f64())),
        BufferMut::Count(c) => out.push(*c as f64),
    });
    out
}

/// `mnist::parse_images` after gunzip if gzipped, in `f32` and `f64`.
pub fn idx_images(bytes: &[u8]) -> String {
    let path = Path::new("fuzz-images");
    let r = maybe_gunzip(bytes).and_then(|raw| {
        let x32 = data::mnist::parse_images::<f32>(path, &raw)?;
        let x64 = data::mnist::parse_images::<f64>(path, &raw)?;
        assert_eq!(x32.as_slice().len(), x32.dims()[0] * 784);
        assert_eq!(x32.dims(), x64.dims());
        assert!(x32.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(raw.len(), 16 + x32.as_slice().len());
        Ok(())
    });
    outcome(&r)
}

/// `mnist::parse_labels` after gunzip if gzipped.
pub fn idx_labels(bytes: &[u8]) -> String {
    let r = maybe_gunzip(bytes).and_then(|raw| {
        let y = data::mnist::parse_labels(Path::new("fuzz-labels"), &raw)?;
        assert_eq!(raw.len(), 8 + y.len());
        assert!(y.iter().all(|&l| l < 10));
        Ok(())
    });
    outcome(&r)
}

/// `labelled_csv` after gunzip if gzipped: 4 features with scikit-learn's header (iris),
/// 13 (wine), and 64 with given class names (digits).
pub fn csv_labelled(bytes: &[u8]) -> String {
    let Ok(raw) = maybe_gunzip(bytes) else {
        return outcome(&maybe_gunzip(bytes).map(drop));
    };
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let rs = [
        check_labelled(data::labelled_csv::<U4, f32>(
            "fuzz.csv",
            &raw,
            CsvHeader::SklearnCounts,
        )),
        check_labelled(data::labelled_csv::<U13, f64>(
            "fuzz.csv",
            &raw,
            CsvHeader::SklearnCounts,
        )),
        check_labelled(data::labelled_csv::<U64, f32>(
            "fuzz.csv",
            &raw,
            CsvHeader::Names(digits),
        )),
    ];
    rs.iter().map(outcome).collect::<Vec<_>>().join(" ")
}

fn check_labelled<F: Dim + nanotorch::shape::StaticDim, E: Element>(
    r: Result<data::Classification<F, E>, DataError>,
) -> Result<(), DataError> {
    let d = r?;
    assert_eq!(d.features().dims(), &[d.len(), F::SIZE]);
    assert!(d.labels().iter().all(|&l| l < d.num_classes()));
    assert!(d.features().as_slice().iter().all(|v| !v.as_f64().is_nan()));
    Ok(())
}

/// `number_table` after gunzip if gzipped: 10 numbers per line separated by whitespace (the
/// diabetes features), 1 (its target), and 4 separated by commas.
pub fn csv_table(bytes: &[u8]) -> String {
    let Ok(raw) = maybe_gunzip(bytes) else {
        return outcome(&maybe_gunzip(bytes).map(drop));
    };
    let rs = [
        data::number_table::<U10, f64>("fuzz.txt", &raw, None).map(|t| {
            assert_eq!(t.as_slice().len(), t.dims()[0] * 10);
        }),
        data::number_table::<U1, f32>("fuzz.txt", &raw, None).map(drop),
        data::number_table::<U4, f32>("fuzz.txt", &raw, Some(',')).map(drop),
    ];
    rs.iter().map(outcome).collect::<Vec<_>>().join(" ")
}

/// `gunzip_with_limit` at [`FUZZ_GUNZIP_LIMIT`] and at 100 bytes: the small limit refuses
/// exactly the streams the large one returns more than 100 bytes of.
pub fn gunzip(bytes: &[u8]) -> String {
    let big = data::gunzip_with_limit("fuzz.gz", bytes, FUZZ_GUNZIP_LIMIT);
    let small = data::gunzip_with_limit("fuzz.gz", bytes, 100);
    if let Ok(out) = &big {
        assert!(out.len() as u64 <= FUZZ_GUNZIP_LIMIT);
        match &small {
            Ok(s) => assert!(s == out),
            Err(e) => assert!(
                out.len() > 100 && matches!(e, DataError::TooLarge { limit: 100, .. }),
                "{e}"
            ),
        }
    }
    [outcome(&big.map(drop)), outcome(&small.map(drop))].join(" ")
}

/// The character pipeline on any bytes, as `--text FILE` and `--sample PROMPT` take them:
/// `CharCorpus::from_bytes` (UTF-8 and non-empty, or a typed error); for a corpus, the ids
/// decode back to the bytes, `check_fits` for a window of 8 over 73 characters answers, and
/// where it fits a batch of windows is drawn from both parts; and the shipped text's vocabulary
/// encodes the bytes as a prompt, refusing a character it lacks with a typed error.
pub fn text(bytes: &[u8]) -> String {
    use nanotorch::data::{CharBatcher, CharCorpus, CharStreams, CharVocab};
    thread_local! {
        static SHIPPED: CharVocab = data::datasets::shakespeare()
            .expect("the shipped text loads")
            .vocab()
            .clone();
    }
    let corpus = CharCorpus::from_bytes("fuzz.txt", bytes);
    let mut outcomes = vec![outcome(&corpus.as_ref().map(drop))];
    if let Ok(corpus) = &corpus {
        let decoded = corpus
            .vocab()
            .decode(corpus.ids())
            .expect("a corpus's ids decode");
        assert_eq!(
            decoded.as_bytes(),
            bytes,
            "decode(encode(text)) is the text"
        );
        let fits = corpus.check_fits::<U8, U73>();
        outcomes.push(outcome(&fits));
        if fits.is_ok() {
            let mut batcher = CharBatcher::<U8, U73>::new(corpus).expect("it fits");
            let (mut x, mut targets) = (Tokens::<U8, U73>::default(), Vec::new());
            let mut rng = nanotorch::seeded_rng(bytes.len() as u64);
            for part in [corpus.train(), corpus.validation()] {
                let r = batcher.fill(part, 3, &mut rng, &mut x, &mut targets);
                if r.is_ok() {
                    assert_eq!(targets.len(), 3 * 8);
                }
                outcomes.push(outcome(&r));
                // Consecutive streams over the part: either a typed error (too short for 3
                // streams of a window) or every window fills. (Checked, not pinned.)
                if let Ok(mut streams) =
                    CharStreams::<U8, U73>::new("fuzz.txt", "part", part.len(), 3)
                {
                    for k in 0..streams.windows().min(4) {
                        streams
                            .fill(part, k, &mut x, &mut targets)
                            .expect("a window of the corpus's own ids fills");
                        assert_eq!(targets.len(), 3 * 8);
                    }
                }
            }
        }
    }
    if let Ok(prompt) = std::str::from_utf8(bytes) {
        let encoded = SHIPPED.with(|vocab| vocab.encode(prompt).map(|ids| (ids, vocab.clone())));
        if let Ok((ids, vocab)) = &encoded {
            assert_eq!(vocab.decode(ids).expect("encoded ids decode"), prompt);
        }
        outcomes.push(outcome(&encoded.map(drop)));
    }
    outcomes.join(" ")
}
