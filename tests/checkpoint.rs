//! Checkpoints: save → load round trips, and every way a file can fail to fit a model —
//! each reported by name, all at once, without touching the model or the old file.

use nanotorch::checkpoint::{self, CheckpointError, LoadOptions, Problem};
use nanotorch::shape::StaticDim;
use nanotorch::shape::{U2, U3, U4, U8};
use nanotorch::{Element, Init, Linear, Module, ParamMut, seeded_rng};

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
