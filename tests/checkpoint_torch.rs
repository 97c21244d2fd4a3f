//! PyTorch interop: a state dict saved by PyTorch (`safetensors.torch.save_file`) loads into
//! NanoTorch layers and gives PyTorch's outputs; NanoTorch's own file round-trips.
//!
//! Golden files: `scripts/make_torch_checkpoint.py` (see its docstring).

use nanotorch::ops::{linear, relu};
use nanotorch::shape::{U3, U4, U8};
use nanotorch::{Dyn, Init, Linear, Module, ParamMut, Tensor, checkpoint, seeded_rng};

/// The torch module `fc2(relu(fc1(x)))`, written by hand.
struct Mlp {
    fc1: Linear<U4, U8>,
    fc2: Linear<U8, U3>,
}

impl Module<f32> for Mlp {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, f32>)) {
        self.fc1.visit_params(f);
        self.fc2.visit_params(f);
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, f32>),
    ) {
        self.fc1.visit_named_params(&format!("{prefix}fc1."), f);
        self.fc2.visit_named_params(&format!("{prefix}fc2."), f);
    }

    fn set_training(&mut self, _training: bool) {}
}

impl Mlp {
    fn new(seed: u64) -> Self {
        let mut rng = seeded_rng(seed);
        Self {
            fc1: Linear::init(&mut rng),
            fc2: Linear::init(&mut rng),
        }
    }

    fn forward(&self, x: &Tensor<(Dyn, U4)>) -> Tensor<(Dyn, U3)> {
        let h = relu(&linear(x, &self.fc1.weight.value, Some(&self.fc1.bias.value)).unwrap());
        linear(&h, &self.fc2.weight.value, Some(&self.fc2.bias.value)).unwrap()
    }
}

fn golden(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn dims(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn torch_state_dict_loads_and_reproduces_torch_outputs() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden("torch_mlp_outputs.json")).unwrap())
            .unwrap();
    let x =
        Tensor::<(Dyn, U4)>::from_vec(&dims(&json["input_shape"]), floats(&json["input"])).unwrap();
    let expected = floats(&json["output"]);

    let mut model = Mlp::new(7);
    let before = model.forward(&x);
    checkpoint::load(&mut model, golden("torch_mlp.safetensors")).unwrap();
    let y = model.forward(&x);

    assert_eq!(y.dims(), &dims(&json["output_shape"])[..]);
    let mut worst = 0.0f32;
    for (i, (a, b)) in y.as_slice().iter().zip(&expected).enumerate() {
        let rel = (a - b).abs() / b.abs().max(1e-3);
        worst = worst.max(rel);
        assert!(
            rel <= 1e-5,
            "output {i}: nanotorch {a}, torch {b}, relative error {rel:e}"
        );
    }
    println!(
        "max relative error vs torch: {worst:e} over {} outputs",
        expected.len()
    );
    // The load really replaced the random initial weights.
    assert!(
        before
            .as_slice()
            .iter()
            .zip(&expected)
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
}

#[test]
fn nanotorch_saves_what_it_loaded_bit_for_bit() {
    let mut model = Mlp::new(7);
    checkpoint::load(&mut model, golden("torch_mlp.safetensors")).unwrap();

    // Saved here for the script's reverse check (torch loads it with strict=True).
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("nanotorch_mlp.safetensors");
    checkpoint::save(&mut model, &path).unwrap();

    let mut again = Mlp::new(99);
    checkpoint::load(&mut again, &path).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    model.visit_named_params("", &mut |n, _, p| a.push((n.to_string(), p.value.to_vec())));
    again.visit_named_params("", &mut |n, _, p| b.push((n.to_string(), p.value.to_vec())));
    assert_eq!(a, b);
}
