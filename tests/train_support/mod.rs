//! Helpers shared by the loss and optimizer tests: a tiny test-only model and golden-file
//! reading. (Kept apart from `tests/common` so each test binary compiles only what it uses.)
#![allow(dead_code)]

use std::path::Path;

use nanotorch::shape::{U3, U4};
use nanotorch::{Element, Module, Param, ParamMut, Tensor};
use serde_json::Value;

/// A model with exactly the parameters of the golden optimizer problem: a weight `[3, 4]`
/// and a bias `[4]`, visited in that order. It has no forward pass: tests write gradients
/// straight into it.
#[derive(Clone, Debug)]
pub struct TwoParams<E: Element> {
    /// `[3, 4]`.
    pub weight: Param<(U3, U4), E>,
    /// `[4]`.
    pub bias: Param<(U4,), E>,
}

impl<E: Element> TwoParams<E> {
    /// A model with the given row-major values.
    pub fn new(weight: &[E], bias: &[E]) -> Self {
        Self {
            weight: Param::new(Tensor::from_slice(&[3, 4], weight).unwrap()),
            bias: Param::new(Tensor::from_slice(&[4], bias).unwrap()),
        }
    }

    /// Overwrites the gradients.
    pub fn set_grads(&mut self, weight: &[E], bias: &[E]) {
        self.weight.grad.as_slice_mut().copy_from_slice(weight);
        self.bias.grad.as_slice_mut().copy_from_slice(bias);
    }
}

impl<E: Element> Module<E> for TwoParams<E> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        f(self.weight.as_mut());
        f(self.bias.as_mut());
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        f(&format!("{prefix}weight"), &[3, 4], self.weight.as_mut());
        f(&format!("{prefix}bias"), &[4], self.bias.as_mut());
    }

    fn set_training(&mut self, _training: bool) {}
}

/// Reads `tests/golden/<name>`.
pub fn golden(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/golden_train.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of numbers as `f32`s.
pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array of numbers, found {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")) as f32)
        .collect()
}

/// A JSON number as `f64`.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The worst disagreement seen between computed values and golden ones, under
/// `|a − b| ≤ rtol·|b| + atol`.
#[derive(Clone, Copy, Debug)]
pub struct Agreement {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Largest `|a − b| / |b|` over golden values `b ≠ 0`.
    pub max_rel: f64,
    /// Largest `|a − b|`.
    pub max_abs: f64,
    /// Values compared.
    pub compared: usize,
    /// Values outside the tolerance (NaN counts as outside).
    pub failures: usize,
}

impl Agreement {
    /// The parity tolerance for `f32` results: `|a − b| ≤ 1e-5·|b| + 1e-6`.
    pub fn f32() -> Self {
        Self::new(1e-5, 1e-6)
    }

    /// A tracker with the given tolerances.
    pub fn new(rtol: f64, atol: f64) -> Self {
        Self {
            rtol,
            atol,
            max_rel: 0.0,
            max_abs: 0.0,
            compared: 0,
            failures: 0,
        }
    }

    /// Compares one value.
    pub fn check(&mut self, a: f64, b: f64) {
        let err = (a - b).abs();
        self.compared += 1;
        if err.is_nan() || err > self.rtol * b.abs() + self.atol {
            self.failures += 1;
        }
        let err = if err.is_nan() { f64::INFINITY } else { err };
        self.max_abs = self.max_abs.max(err);
        if b != 0.0 {
            self.max_rel = self.max_rel.max(err / b.abs());
        }
    }

    /// Compares two equally long sequences (a length mismatch is a failure).
    pub fn check_all(&mut self, a: &[f32], b: &[f32]) {
        if a.len() != b.len() {
            self.failures += 1;
        }
        for (&x, &y) in a.iter().zip(b) {
            self.check(f64::from(x), f64::from(y));
        }
    }

    /// Prints the case's worst errors; returns whether it passed.
    pub fn report(&self, case: &str) -> bool {
        println!(
            "{case:<40} compared {:>4}  max rel err {:.3e}  max abs err {:.3e}  {}",
            self.compared,
            self.max_rel,
            self.max_abs,
            if self.failures == 0 { "ok" } else { "FAIL" }
        );
        self.failures == 0 && self.compared > 0
    }
}
