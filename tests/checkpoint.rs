//! Checkpoints: save → load round trips, and every way a file can fail to fit a model —
//! each reported by name, all at once, without touching the model or the old file. Buffers
//! (BatchNorm's running statistics and its int64 `num_batches_tracked`) are saved and checked
//! like parameters.

use nanotorch::checkpoint::{self, CheckpointError, LoadOptions, Problem};
use nanotorch::prelude::*;
use nanotorch::shape::StaticDim;
use nanotorch::shape::{U2, U3, U4, U8};
use nanotorch::{BufferMut, Element, Init, Linear, Module, ParamMut, seeded_rng};

/// Two linear layers under chosen state-dict names.
struct Two<E: Element, I: StaticDim, H: StaticDim, O: StaticDim> {
    names: (&'static str, &'static str),
    a: Linear<I, H, E>,
    b: Linear<H, O, E>,
}

impl<E: Element, I: StaticDim, H: StaticDim, O: StaticDim> Module<E> for Two<E, I, H, O> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        self.a.visit_params(f);
        self.b.visit_params(f);
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        self.a
            .visit_named_params(&format!("{prefix}{}.", self.names.0), f);
        self.b
            .visit_named_params(&format!("{prefix}{}.", self.names.1), f);
    }

    fn set_training(&mut self, _training: bool) {}
}

fn two<E: Element, I: StaticDim, H: StaticDim, O: StaticDim>(
    names: (&'static str, &'static str),
    seed: u64,
) -> Two<E, I, H, O> {
    let mut rng = seeded_rng(seed);
    Two {
        names,
        a: Linear::init(&mut rng),
        b: Linear::init(&mut rng),
    }
}

fn params<E: Element, M: Module<E>>(m: &mut M) -> Vec<(String, Vec<usize>, Vec<E>)> {
    let mut out = Vec::new();
    m.visit_named_params("", &mut |n, d, p| {
        out.push((n.to_string(), d.to_vec(), p.value.to_vec()))
    });
    out
}

type Mlp<E> = Two<E, U4, U8, U3>;
const FC: (&str, &str) = ("fc1", "fc2");

fn names(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(Problem::name).collect()
}

#[test]
fn save_then_load_round_trips_f32_and_f64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");

    let mut a: Mlp<f32> = two(FC, 1);
    let mut b: Mlp<f32> = two(FC, 2);
    assert_ne!(params(&mut a), params(&mut b));
    checkpoint::save(&mut a, &path).unwrap();
    checkpoint::load(&mut b, &path).unwrap();
    assert_eq!(params(&mut a), params(&mut b));

    let mut c: Mlp<f64> = two(FC, 3);
    let mut d: Mlp<f64> = two(FC, 4);
    checkpoint::save(&mut c, &path).unwrap();
    checkpoint::load(&mut d, &path).unwrap();
    assert_eq!(params(&mut c), params(&mut d));
}

#[test]
fn the_file_has_pytorch_names_shapes_and_dtype() {
    let mut m: Mlp<f32> = two(FC, 1);
    let bytes = checkpoint::to_bytes(&mut m).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["__metadata__"]["format"], "pt");
    for (name, shape) in [
        ("fc1.weight", vec![8, 4]),
        ("fc1.bias", vec![8]),
        ("fc2.weight", vec![3, 8]),
        ("fc2.bias", vec![3]),
    ] {
        assert_eq!(header[name]["dtype"], "F32", "{name}");
        assert_eq!(header[name]["shape"], serde_json::json!(shape), "{name}");
    }
    // Row-major data: fc1.weight[0][1] is the second f32 of that tensor's bytes.
    let offsets = &header["fc1.weight"]["data_offsets"];
    let start = 8 + n + offsets[0].as_u64().unwrap() as usize + 4;
    let w01 = f32::from_le_bytes(bytes[start..start + 4].try_into().unwrap());
    assert_eq!(w01, m.a.weight.value.as_slice()[1]);
}

#[test]
fn renamed_layers_list_every_missing_and_unexpected_name() {
    let mut saved: Mlp<f32> = two(FC, 1);
    let bytes = checkpoint::to_bytes(&mut saved).unwrap();
    let mut other: Mlp<f32> = two(("fc1", "head"), 2);
    let before = params(&mut other);
    let err = checkpoint::from_bytes(&mut other, &bytes, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err.problems(),
        &[
            Problem::Missing {
                name: "head.weight".into(),
                shape: vec![3, 8]
            },
            Problem::Missing {
                name: "head.bias".into(),
                shape: vec![3]
            },
            Problem::Unexpected {
                name: "fc2.bias".into(),
                shape: vec![3]
            },
            Problem::Unexpected {
                name: "fc2.weight".into(),
                shape: vec![3, 8]
            },
        ]
    );
    let text = err.to_string();
    assert!(text.contains("(4 problems)"), "{text}");
    for n in ["head.weight", "head.bias", "fc2.weight", "fc2.bias"] {
        assert!(text.contains(n), "{n} not in: {text}");
    }
    // All or nothing: even fc1, which fits, was not loaded.
    assert_eq!(params(&mut other), before);

    // Non-strict loading takes what fits and leaves the rest.
    let opts = LoadOptions {
        strict: false,
        ..LoadOptions::default()
    };
    checkpoint::from_bytes(&mut other, &bytes, opts).unwrap();
    let after = params(&mut other);
    assert_eq!(after[..2], params(&mut saved)[..2]);
    assert_eq!(after[2..], before[2..]);
}

#[test]
fn wrong_shapes_are_listed_by_name() {
    let mut saved: Mlp<f32> = two(FC, 1);
    let bytes = checkpoint::to_bytes(&mut saved).unwrap();
    let mut narrow: Two<f32, U4, U8, U2> = two(FC, 2);
    let err = checkpoint::from_bytes(&mut narrow, &bytes, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err.problems(),
        &[
            Problem::Shape {
                name: "fc2.weight".into(),
                expected: vec![2, 8],
                found: vec![3, 8]
            },
            Problem::Shape {
                name: "fc2.bias".into(),
                expected: vec![2],
                found: vec![3]
            },
        ]
    );
    assert!(
        err.to_string()
            .contains("shape of `fc2.weight`: the model's is [2, 8], the file's is [3, 8]"),
        "{err}"
    );
}

#[test]
fn wrong_dtypes_are_listed_by_name_or_converted_on_request() {
    let mut wide: Mlp<f64> = two(FC, 1);
    let bytes = checkpoint::to_bytes(&mut wide).unwrap();
    let mut narrow: Mlp<f32> = two(FC, 2);
    let before = params(&mut narrow);
    let err = checkpoint::from_bytes(&mut narrow, &bytes, LoadOptions::default()).unwrap_err();
    assert_eq!(
        names(err.problems()),
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    );
    assert!(err.problems().iter().all(|p| matches!(
        p,
        Problem::Dtype { expected: "F32", found, .. } if found == "F64"
    )));
    assert_eq!(params(&mut narrow), before);

    let opts = LoadOptions {
        convert_dtypes: true,
        ..LoadOptions::default()
    };
    checkpoint::from_bytes(&mut narrow, &bytes, opts).unwrap();
    for ((_, _, w), (_, _, n)) in params(&mut wide).iter().zip(params(&mut narrow).iter()) {
        let rounded: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        assert_eq!(&rounded, n);
    }
}

#[test]
fn all_kinds_of_problem_are_reported_together() {
    let mut saved: Mlp<f64> = two(FC, 1);
    let bytes = checkpoint::to_bytes(&mut saved).unwrap();
    let mut m: Two<f32, U4, U2, U3> = two(("fc1", "out"), 2);
    let err = checkpoint::from_bytes(&mut m, &bytes, LoadOptions::default()).unwrap_err();
    let kinds: Vec<String> = err
        .problems()
        .iter()
        .map(|p| {
            let kind = match p {
                Problem::Missing { .. } => "missing",
                Problem::Unexpected { .. } => "unexpected",
                Problem::Shape { .. } => "shape",
                Problem::Dtype { .. } => "dtype",
            };
            format!("{kind} {}", p.name())
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "dtype fc1.weight",
            "shape fc1.weight",
            "dtype fc1.bias",
            "shape fc1.bias",
            "missing out.weight",
            "missing out.bias",
            "unexpected fc2.bias",
            "unexpected fc2.weight",
        ]
    );
}

#[test]
fn truncated_or_garbage_files_are_errors_not_panics() {
    let mut m: Mlp<f32> = two(FC, 1);
    let good = checkpoint::to_bytes(&mut m).unwrap();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<Vec<u8>> = [0, 3, 8, 9, 8 + n - 1, 8 + n, good.len() - 1]
        .iter()
        .map(|&k| good[..k].to_vec())
        .collect();
    let mut extra = good.clone();
    extra.push(0);
    cases.push(extra);
    cases.push(b"\xff\xff\xff\xff\xff\xff\xff\x7fhello".to_vec()); // absurd header length
    let mut bad_json = good.clone();
    bad_json[8] = b'[';
    cases.push(bad_json);

    for (i, bytes) in cases.iter().enumerate() {
        let err = checkpoint::from_bytes(&mut m, bytes, LoadOptions::default()).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Corrupt { .. }),
            "case {i}: {err}"
        );
    }

    // The same through a file, naming it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.safetensors");
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let err = checkpoint::load(&mut m, &path).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("cut.safetensors"), "{err}");
}

#[test]
fn missing_file_and_missing_directory_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut m: Mlp<f32> = two(FC, 1);
    let err = checkpoint::load(&mut m, dir.path().join("nope.safetensors")).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Io { action: "read", .. }),
        "{err}"
    );
    let err = checkpoint::save(&mut m, dir.path().join("no/such/dir/m.safetensors")).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Io {
                action: "create",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_failed_save_leaves_the_old_checkpoint_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut good: Mlp<f32> = two(FC, 1);
    checkpoint::save(&mut good, &path).unwrap();
    let old = std::fs::read(&path).unwrap();

    // A model whose two layers share a name cannot be a state dict: the save fails.
    let mut clash: Mlp<f32> = two(("fc", "fc"), 2);
    let err = checkpoint::save(&mut clash, &path).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::DuplicateName { name } if name == "fc.weight"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), old);

    // A save that fails at the rename (the target is now a non-empty directory) leaves no
    // temporary file behind.
    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep"), b"x").unwrap();
    assert!(checkpoint::save(&mut good, &occupied).is_err());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let mut back: Mlp<f32> = two(FC, 3);
    checkpoint::load(&mut back, &path).unwrap();
    assert_eq!(params(&mut back), params(&mut good));
}

network! {
    /// A small CNN with both kinds of BatchNorm, so it has buffers: `bn1.running_mean`,
    /// `bn1.running_var`, `bn1.num_batches_tracked`, the same for `bn2`.
    pub struct BnNet {
        conv: Conv2d<1, 3, 3, padding = 1>,
        bn1: BatchNorm2d<3>,
        pool: MaxPool2d<2>,
        fc1: Linear<48, 8>,
        bn2: BatchNorm1d<8>,
        fc2: Linear<8, 3>,
    }
    fn forward(x: [B, 1, 8, 8]) -> [B, 3] {
        let h = pool(relu(bn1(conv(x))));
        fc2(relu(bn2(fc1(flatten(h)))))
    }
}

/// A buffer's state: float values with their sizes, or a counter.
#[derive(Clone, Debug, PartialEq)]
enum Buf<E> {
    Values(Vec<usize>, Vec<E>),
    Count(i64),
}

fn bufs<E: Element, M: Module<E>>(m: &mut M) -> Vec<(String, Buf<E>)> {
    let mut out = Vec::new();
    m.visit_named_buffers("", &mut |n, d, b| {
        let b = match b {
            BufferMut::Values(v) => Buf::Values(d.to_vec(), v.to_vec()),
            BufferMut::Count(c) => Buf::Count(*c),
        };
        out.push((n.to_string(), b));
    });
    out
}

/// A `BnNet` after `steps` SGD steps with momentum in training mode: every running statistic
/// has moved and each counter is `steps`.
fn trained_bn_net<E: Element>(seed: u64, steps: usize) -> BnNet<E> {
    let mut net = BnNet::<E>::new(seed);
    let mut rng = seeded_rng(seed + 100);
    let mut opt = Sgd::new(0.1).momentum(0.9);
    let mut dy = Tensor::default();
    net.train();
    for k in 0..steps {
        let x: Tensor<(Dyn, U1, U8, U8), E> = Tensor::rand_uniform(
            (Dyn(4), U1::default(), U8::default(), U8::default()),
            E::cast(-1.0),
            E::cast(2.0),
            &mut rng,
        );
        let y = [k % 3, (k + 1) % 3, 2, 0];
        net.zero_grad();
        let logits = net.forward(&x);
        cross_entropy_into(logits, &y, Reduction::Mean, &mut dy).unwrap();
        net.backward(&dy).unwrap();
        opt.step(&mut net);
    }
    net
}

/// The bytes of a safetensors file with its header edited by `f` (the data left as it is):
/// a way to write files NanoTorch would not, e.g. a counter stored as `I32`.
fn edit_header(
    bytes: &[u8],
    f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    f(header.as_object_mut().unwrap());
    let mut text = serde_json::to_vec(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn a_trained_cnn_round_trips_running_statistics_and_counters_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.safetensors");

    let mut net = trained_bn_net::<f32>(1, 5);
    let fresh = bufs(&mut BnNet::<f32>::new(1));
    let state = bufs(&mut net);
    assert_eq!(
        state.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked",
            "bn2.running_mean",
            "bn2.running_var",
            "bn2.num_batches_tracked",
        ]
    );
    for ((name, before), (_, after)) in fresh.iter().zip(&state) {
        assert_ne!(before, after, "{name} did not move in training");
    }
    checkpoint::save(&mut net, &path).unwrap();

    let mut back = BnNet::<f32>::new(2);
    back.train();
    checkpoint::load(&mut back, &path).unwrap();
    assert_eq!(params(&mut back), params(&mut net));
    assert_eq!(
        bufs(&mut back),
        state,
        "running statistics and counters, bit for bit"
    );
    assert!(state.contains(&("bn2.num_batches_tracked".to_string(), Buf::Count(5))));
    let x: Tensor<(Dyn, U1, U8, U8)> = Tensor::rand_uniform(
        (Dyn(3), U1::default(), U8::default(), U8::default()),
        -1.0,
        2.0,
        &mut seeded_rng(9),
    );
    assert_eq!(back.predict(&x), net.predict(&x));
    // Training on from the loaded state continues the count.
    back.forward(&x);
    assert!(bufs(&mut back).contains(&("bn1.num_batches_tracked".to_string(), Buf::Count(6))));

    // f64: the running statistics in F64, the counter still I64.
    let mut wide = trained_bn_net::<f64>(3, 2);
    checkpoint::save(&mut wide, &path).unwrap();
    let mut wide_back = BnNet::<f64>::new(4);
    checkpoint::load(&mut wide_back, &path).unwrap();
    assert_eq!(params(&mut wide_back), params(&mut wide));
    assert_eq!(bufs(&mut wide_back), bufs(&mut wide));
}

#[test]
fn buffers_are_written_as_pytorch_writes_them() {
    for (bytes, float) in [
        (
            checkpoint::to_bytes(&mut trained_bn_net::<f32>(1, 3)).unwrap(),
            "F32",
        ),
        (
            checkpoint::to_bytes(&mut trained_bn_net::<f64>(1, 3)).unwrap(),
            "F64",
        ),
    ] {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        for (name, shape) in [
            ("bn1.running_mean", vec![3]),
            ("bn1.running_var", vec![3]),
            ("bn2.running_mean", vec![8]),
            ("bn2.running_var", vec![8]),
        ] {
            assert_eq!(header[name]["dtype"], float, "{name}");
            assert_eq!(header[name]["shape"], serde_json::json!(shape), "{name}");
        }
        for name in ["bn1.num_batches_tracked", "bn2.num_batches_tracked"] {
            assert_eq!(header[name]["dtype"], "I64", "{name}");
            assert_eq!(header[name]["shape"], serde_json::json!([]), "{name}");
            let o = &header[name]["data_offsets"];
            let start = 8 + n + o[0].as_u64().unwrap() as usize;
            assert_eq!(o[1].as_u64().unwrap() - o[0].as_u64().unwrap(), 8);
            let count = i64::from_le_bytes(bytes[start..start + 8].try_into().unwrap());
            assert_eq!(count, 3, "{name}");
        }
        // 10 parameters and 6 buffers, nothing else but the metadata.
        assert_eq!(header.as_object().unwrap().len(), 10 + 6 + 1);
    }
}

/// A model seen without one of its buffers: `to_bytes` of it writes a file lacking that one.
struct Without<'a>(&'a mut BnNet, &'static str);

impl Module<f32> for Without<'_> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, f32>)) {
        self.0.visit_params(f);
    }
    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, f32>),
    ) {
        self.0.visit_named_params(prefix, f);
    }
    fn visit_named_buffers(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, f32>),
    ) {
        let skip = self.1;
        self.0.visit_named_buffers(prefix, &mut |n, d, b| {
            if n != skip {
                f(n, d, b);
            }
        });
    }
    fn set_training(&mut self, training: bool) {
        self.0.set_training(training);
    }
}

#[test]
fn a_file_missing_a_buffer_is_a_mismatch_naming_it() {
    let mut saved = trained_bn_net::<f32>(1, 3);
    let mut target = trained_bn_net::<f32>(2, 2);
    let (before_p, before_b) = (params(&mut target), bufs(&mut target));

    for (skip, shape) in [
        ("bn1.running_var", vec![3]),
        ("bn2.num_batches_tracked", vec![]),
    ] {
        let bytes = checkpoint::to_bytes(&mut Without(&mut saved, skip)).unwrap();
        let err = checkpoint::from_bytes(&mut target, &bytes, LoadOptions::default()).unwrap_err();
        assert!(matches!(err, CheckpointError::Mismatch { .. }), "{err}");
        assert_eq!(
            err.problems(),
            &[Problem::Missing {
                name: skip.into(),
                shape
            }]
        );
        assert!(err.to_string().contains(skip), "{err}");
        // All or nothing: every parameter and the other buffers fit, none was loaded.
        assert_eq!(params(&mut target), before_p);
        assert_eq!(bufs(&mut target), before_b);
    }

    // A parameters-only file lists every buffer, in the model's order.
    let only_params = checkpoint::to_bytes(&mut Two::<f32, U4, U8, U3> {
        names: ("a", "b"),
        a: Linear::init(&mut seeded_rng(0)),
        b: Linear::init(&mut seeded_rng(0)),
    })
    .unwrap();
    let err =
        checkpoint::from_bytes(&mut target, &only_params, LoadOptions::default()).unwrap_err();
    let missing: Vec<&str> = err
        .problems()
        .iter()
        .filter(|p| matches!(p, Problem::Missing { .. }))
        .map(Problem::name)
        .collect();
    assert_eq!(
        missing[missing.len() - 6..],
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked",
            "bn2.running_mean",
            "bn2.running_var",
            "bn2.num_batches_tracked",
        ]
    );

    // Non-strict: a file without a buffer loads the rest and leaves that buffer as it was.
    let bytes = checkpoint::to_bytes(&mut Without(&mut saved, "bn1.running_mean")).unwrap();
    let opts = LoadOptions {
        strict: false,
        ..LoadOptions::default()
    };
    checkpoint::from_bytes(&mut target, &bytes, opts).unwrap();
    assert_eq!(params(&mut target), params(&mut saved));
    let (got, want) = (bufs(&mut target), bufs(&mut saved));
    assert_eq!(got[0], before_b[0], "bn1.running_mean kept");
    assert_eq!(got[1..], want[1..]);
}

#[test]
fn buffer_dtypes_and_shapes_are_checked_with_the_parameters() {
    let mut saved = trained_bn_net::<f32>(1, 3);
    let good = checkpoint::to_bytes(&mut saved).unwrap();
    let mut target = trained_bn_net::<f32>(2, 2);
    let (before_p, before_b) = (params(&mut target), bufs(&mut target));

    // A counter of the wrong type and size, a running mean of integers, a running variance of
    // the wrong shape (the data size left consistent, so the file itself is valid).
    let bad = edit_header(&good, |h| {
        h["bn1.num_batches_tracked"]["dtype"] = "I32".into();
        h["bn1.num_batches_tracked"]["shape"] = serde_json::json!([2]);
        h["bn2.num_batches_tracked"]["dtype"] = "F64".into();
        h["bn1.running_mean"]["dtype"] = "I32".into();
        h["bn2.running_var"]["shape"] = serde_json::json!([2, 4]);
    });
    for convert_dtypes in [false, true] {
        let opts = LoadOptions {
            convert_dtypes,
            ..LoadOptions::default()
        };
        let err = checkpoint::from_bytes(&mut target, &bad, opts).unwrap_err();
        assert_eq!(
            err.problems(),
            &[
                Problem::Dtype {
                    name: "bn1.running_mean".into(),
                    expected: "F32",
                    found: "I32".into()
                },
                Problem::Dtype {
                    name: "bn1.num_batches_tracked".into(),
                    expected: "I64",
                    found: "I32".into()
                },
                Problem::Shape {
                    name: "bn1.num_batches_tracked".into(),
                    expected: vec![],
                    found: vec![2]
                },
                Problem::Shape {
                    name: "bn2.running_var".into(),
                    expected: vec![8],
                    found: vec![2, 4]
                },
                // A counter is never converted, not even with `convert_dtypes`.
                Problem::Dtype {
                    name: "bn2.num_batches_tracked".into(),
                    expected: "I64",
                    found: "F64".into()
                },
            ],
            "convert_dtypes: {convert_dtypes}"
        );
        assert!(err.to_string().contains("(5 problems)"), "{err}");
        assert_eq!(params(&mut target), before_p);
        assert_eq!(bufs(&mut target), before_b);
    }

    // An I64 counter and F64 running statistics load into an f32 model with
    // `convert_dtypes` (the statistics rounded, the counter as it is).
    let mut wide = trained_bn_net::<f64>(5, 4);
    let bytes = checkpoint::to_bytes(&mut wide).unwrap();
    let err = checkpoint::from_bytes(&mut target, &bytes, LoadOptions::default()).unwrap_err();
    assert_eq!(
        err.problems().len(),
        10 + 4,
        "every float tensor, no counter"
    );
    let opts = LoadOptions {
        convert_dtypes: true,
        ..LoadOptions::default()
    };
    checkpoint::from_bytes(&mut target, &bytes, opts).unwrap();
    for ((name, w), (_, n)) in bufs(&mut wide).iter().zip(&bufs(&mut target)) {
        match (w, n) {
            (Buf::Values(dw, w), Buf::Values(dn, n)) => {
                assert_eq!(dw, dn, "{name}");
                let rounded: Vec<f32> = w.iter().map(|&v| v as f32).collect();
                assert_eq!(&rounded, n, "{name}");
            }
            (Buf::Count(w), Buf::Count(n)) => assert_eq!((w, n), (&4, &4), "{name}"),
            _ => panic!("{name}: kinds differ"),
        }
    }
}

#[test]
fn damaged_cnn_files_are_errors_not_panics() {
    let mut net = trained_bn_net::<f32>(1, 2);
    let good = checkpoint::to_bytes(&mut net).unwrap();
    let state = (params(&mut net), bufs(&mut net));
    // Every truncation.
    for k in 0..good.len() {
        let err = checkpoint::from_bytes(&mut net, &good[..k], LoadOptions::default())
            .expect_err("a truncated file");
        assert!(
            matches!(err, CheckpointError::Corrupt { .. }),
            "cut at {k}: {err}"
        );
    }
    // Every byte of the header and the counters' data overwritten with a few values: an error
    // or (for a byte that still makes a valid, fitting file) a load — never a panic.
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for i in 0..8 + n + 16 {
        for v in [0u8, b'"', b'9', b'[', 0xff] {
            let mut bad = good.clone();
            bad[i] = v;
            let mut target = trained_bn_net::<f32>(2, 1);
            let _ = checkpoint::from_bytes(&mut target, &bad, LoadOptions::default());
        }
    }
    assert_eq!((params(&mut net), bufs(&mut net)), state);
}
