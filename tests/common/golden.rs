//! Reading PyTorch golden files (written by `scripts/golden.py`) and comparing NanoTorch's
//! results with them.
//!
//! A golden file is JSON: `{"generator": ..., "cases": [case, ...]}`, where each case is
//! `{"op", "name", "params": {name: number | [numbers]}, "inputs": {name: tensor},
//! "upstream": tensor, "output": tensor, "grads": {name: tensor}}` and a tensor is
//! `{"shape": [sizes], "data": [row-major f32 values]}`.
#![allow(dead_code)]

use std::collections::BTreeMap;

use nanotorch::{Shape, Tensor};
use serde_json::Value;

/// Relative tolerance of the parity comparison.
pub const RTOL: f64 = 1e-5;
/// Absolute floor of the parity comparison, for values near 0.
pub const ATOL: f64 = 1e-6;

/// A tensor as stored in a golden file: sizes and row-major f32 data.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenTensor {
    /// Sizes, e.g. `[2, 3]`; empty for a scalar.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl GoldenTensor {
    /// Reads a `{"shape", "data"}` object; `what` names it in error messages.
    pub fn parse(v: &Value, what: &str) -> Result<Self, String> {
        let shape = v["shape"]
            .as_array()
            .ok_or_else(|| format!("{what}: missing \"shape\""))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("{what}: \"shape\" must hold sizes"))?;
        let data = v["data"]
            .as_array()
            .ok_or_else(|| format!("{what}: missing \"data\""))?
            .iter()
            // Every number was written from a float32, so the f64 parse converts back exactly.
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("{what}: \"data\" must hold numbers"))?;
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(format!(
                "{what}: shape {shape:?} needs {numel} values, found {}",
                data.len()
            ));
        }
        Ok(Self { shape, data })
    }

    /// The tensor as a `Tensor<S, f32>`; panics (failing the test) if `S` does not fit.
    pub fn to_tensor<S: Shape>(&self, what: &str) -> Tensor<S, f32> {
        Tensor::from_vec(&self.shape, self.data.clone())
            .unwrap_or_else(|e| panic!("{what}: golden tensor does not fit the test's type: {e}"))
    }
}

/// One golden case: an op applied to inputs, with PyTorch's output and gradients.
#[derive(Debug, Clone)]
pub struct Case {
    /// The primitive, e.g. `"softmax"`.
    pub op: String,
    /// A human description, e.g. `"[3, 5] with a ±1e4 row"`.
    pub name: String,
    /// Scalar or list parameters (`slope`, `c`, `axis`, `to`).
    pub params: BTreeMap<String, Value>,
    /// The inputs by name (`x`, or `a` and `b`, or `x`, `weight`, `bias`).
    pub inputs: BTreeMap<String, GoldenTensor>,
    /// The gradient fed to `y.backward(upstream)`; has the output's shape.
    pub upstream: GoldenTensor,
    /// PyTorch's forward output.
    pub output: GoldenTensor,
    /// PyTorch's gradient for every input, by the input's name.
    pub grads: BTreeMap<String, GoldenTensor>,
}

fn tensor_map(v: &Value, what: &str) -> Result<BTreeMap<String, GoldenTensor>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what}: expected an object"))?
        .iter()
        .map(|(k, t)| Ok((k.clone(), GoldenTensor::parse(t, &format!("{what}.{k}"))?)))
        .collect()
}

impl Case {
    /// `op "name"`, for messages.
    pub fn label(&self) -> String {
        format!("{} \"{}\"", self.op, self.name)
    }

    /// The input called `name` as a typed tensor.
    pub fn input<S: Shape>(&self, name: &str) -> Tensor<S, f32> {
        self.inputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no input named {name}", self.label()))
            .to_tensor(&format!("{}: input {name}", self.label()))
    }

    /// The upstream gradient as a typed tensor.
    pub fn upstream<S: Shape>(&self) -> Tensor<S, f32> {
        self.upstream
            .to_tensor(&format!("{}: upstream", self.label()))
    }

    /// The sizes of the input called `name`.
    pub fn input_dims(&self, name: &str) -> &[usize] {
        &self.inputs[name].shape
    }

    /// A numeric parameter, rounded to f32 (the generator wrote it from a float32).
    pub fn param_f32(&self, name: &str) -> f32 {
        self.params
            .get(name)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{}: missing numeric param {name}", self.label()))
            as f32
    }

    /// An integer parameter (an axis).
    pub fn param_usize(&self, name: &str) -> usize {
        self.params
            .get(name)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{}: missing integer param {name}", self.label()))
            as usize
    }

    /// A list-of-sizes parameter (a target shape).
    pub fn param_dims(&self, name: &str) -> Vec<usize> {
        self.params
            .get(name)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
            .unwrap_or_else(|| panic!("{}: missing list param {name}", self.label()))
    }
}

/// Parses a golden file into its cases; errors on any malformed case.
pub fn parse_cases(json: &str) -> Result<Vec<Case>, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("golden file: {e}"))?;
    let cases = doc["cases"]
        .as_array()
        .ok_or("golden file: missing \"cases\"")?;
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let what = format!("case {i}");
            Ok(Case {
                op: c["op"]
                    .as_str()
                    .ok_or(format!("{what}: missing op"))?
                    .to_string(),
                name: c["name"].as_str().unwrap_or_default().to_string(),
                params: c["params"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                inputs: tensor_map(&c["inputs"], &format!("{what}.inputs"))?,
                upstream: GoldenTensor::parse(&c["upstream"], &format!("{what}.upstream"))?,
                output: GoldenTensor::parse(&c["output"], &format!("{what}.output"))?,
                grads: tensor_map(&c["grads"], &format!("{what}.grads"))?,
            })
        })
        .collect()
}

/// What NanoTorch computed for a case: its output and the gradient of each input.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The forward output.
    pub output: GoldenTensor,
    /// Gradients by input name.
    pub grads: BTreeMap<String, GoldenTensor>,
}

/// A tensor's sizes and row-major values, for comparison with a golden tensor.
pub fn record<S: Shape>(t: &Tensor<S, f32>) -> GoldenTensor {
    GoldenTensor {
        shape: t.dims().to_vec(),
        data: t.to_vec(),
    }
}

impl Outcome {
    /// An outcome with forward output `y` and no gradients yet.
    pub fn new<S: Shape>(y: &Tensor<S, f32>) -> Self {
        Self {
            output: record(y),
            grads: BTreeMap::new(),
        }
    }

    /// Adds the gradient of the input called `name`.
    pub fn grad<S: Shape>(mut self, name: &str, g: &Tensor<S, f32>) -> Self {
        self.grads.insert(name.to_string(), record(g));
        self
    }
}

/// Errors of one comparison: the worst relative error (over reference values with
/// `|b| ≥ ATOL`), the worst absolute error, and the elements outside the tolerance.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    /// Max `|a − b| / |b|` over elements with `|b| ≥ ATOL`.
    pub max_rel: f64,
    /// Max `|a − b|` over all elements.
    pub max_abs: f64,
    /// Max `|a − b| / (RTOL·|b| + ATOL)`: the share of the tolerance used (≤ 1 passes).
    pub max_tol_used: f64,
    /// The element with the largest share of the tolerance, described.
    pub worst: String,
    /// Number of elements compared.
    pub compared: usize,
    /// Descriptions of the failures (shape mismatch or out-of-tolerance elements, first few).
    pub failures: Vec<String>,
}

impl Errors {
    /// Folds another comparison into this one.
    pub fn merge(&mut self, other: Errors) {
        self.max_rel = self.max_rel.max(other.max_rel);
        self.max_abs = self.max_abs.max(other.max_abs);
        if other.max_tol_used > self.max_tol_used || self.worst.is_empty() {
            self.max_tol_used = other.max_tol_used;
            self.worst = other.worst;
        }
        self.compared += other.compared;
        self.failures.extend(other.failures);
    }
}

/// `|a − b| ≤ RTOL·|b| + ATOL`, with `b` the reference (PyTorch) value. NaN never passes.
pub fn within_tolerance(a: f32, b: f32) -> bool {
    let (a, b) = (f64::from(a), f64::from(b));
    (a - b).abs() <= RTOL * b.abs() + ATOL
}

/// Compares NanoTorch's `got` with PyTorch's `want`: sizes must be equal, and every element
/// within [`within_tolerance`].
pub fn compare(what: &str, got: &GoldenTensor, want: &GoldenTensor) -> Errors {
    let mut errors = Errors::default();
    if got.shape != want.shape {
        errors.failures.push(format!(
            "{what}: shape {:?}, PyTorch has {:?}",
            got.shape, want.shape
        ));
        return errors;
    }
    let mut bad = 0;
    for (i, (&a, &b)) in got.data.iter().zip(&want.data).enumerate() {
        let abs = (f64::from(a) - f64::from(b)).abs();
        errors.max_abs = errors
            .max_abs
            .max(if abs.is_nan() { f64::INFINITY } else { abs });
        if f64::from(b).abs() >= ATOL {
            errors.max_rel = errors.max_rel.max(abs / f64::from(b).abs());
        }
        let used = abs / (RTOL * f64::from(b).abs() + ATOL);
        if used > errors.max_tol_used || errors.worst.is_empty() {
            errors.max_tol_used = used;
            errors.worst = format!("{what}[{i}]: nanotorch {a:e}, torch {b:e}");
        }
        if !within_tolerance(a, b) {
            bad += 1;
            if bad <= 5 {
                errors.failures.push(format!(
                    "{what}[{i}]: nanotorch {a:e}, torch {b:e} (|diff| {abs:.3e})"
                ));
            }
        }
    }
    if bad > 5 {
        errors.failures.push(format!(
            "{what}: ... {} more elements out of tolerance",
            bad - 5
        ));
    }
    errors.compared += got.data.len();
    errors
}

/// Compares a whole outcome with a case: the output, and exactly the gradients PyTorch has
/// (a missing or extra gradient is a failure).
pub fn compare_case(case: &Case, got: &Outcome) -> Errors {
    let label = case.label();
    let mut errors = compare(&format!("{label} output"), &got.output, &case.output);
    for (name, want) in &case.grads {
        match got.grads.get(name) {
            Some(g) => errors.merge(compare(&format!("{label} grad {name}"), g, want)),
            None => errors
                .failures
                .push(format!("{label}: gradient of {name} was not computed")),
        }
    }
    for name in got.grads.keys() {
        if !case.grads.contains_key(name) {
            errors.failures.push(format!(
                "{label}: gradient of {name} has no PyTorch reference"
            ));
        }
    }
    errors
}
