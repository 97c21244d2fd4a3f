//! Gradient checking by central finite differences.
//!
//! For a scalar function `L(x)`, the derivative along coordinate `i` is approximated by
//! `(L(x + ε·eᵢ) − L(x − ε·eᵢ)) / 2ε`, whose error is O(ε²). Comparing that with the gradient
//! a backward pass computed catches almost every mistake in a hand-written (or generated)
//! vector-Jacobian product. Run it in `f64`: in `f32` the rounding error of `L` divided by `2ε`
//! swamps the comparison.
//!
//! To check a primitive `y = f(x)` with upstream gradient `g`, use `L(x) = Σ g ⊙ f(x)`:
//! then `∂L/∂x` is exactly what `f`'s backward returns when given `dy = g`.

/// The outcome of a check: the worst disagreement found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheckReport {
    /// Largest `|analytic − numeric|` over all coordinates.
    pub max_abs_err: f64,
    /// Largest relative error `|analytic − numeric| / |numeric|` among the coordinates that
    /// failed; `0` when every coordinate passed.
    pub max_rel_err: f64,
    /// Coordinates compared.
    pub checked: usize,
    /// Coordinates that failed `|a − n| ≤ atol + rtol·|n|`.
    pub failures: usize,
}

impl GradCheckReport {
    /// True when every coordinate passed.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }
}

/// Tolerances and step for [`check_gradient`]; the defaults are PyTorch `gradcheck`'s
/// (`eps = 1e-6`, `atol = 1e-5`, `rtol = 1e-3`).
#[derive(Clone, Copy, Debug)]
pub struct GradCheckConfig {
    /// Finite-difference step ε.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for GradCheckConfig {
    fn default() -> Self {
        Self {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

/// Compares `analytic` (the gradient of `loss` at `x` from a backward pass) with central
/// differences of `loss`. `loss` receives a perturbed copy of `x`.
///
/// Returns the report; `x` and `analytic` must have the same length (a mismatch counts every
/// coordinate as failed rather than panicking).
pub fn check_gradient(
    x: &[f64],
    analytic: &[f64],
    mut loss: impl FnMut(&[f64]) -> f64,
    config: GradCheckConfig,
) -> GradCheckReport {
    if x.len() != analytic.len() {
        return GradCheckReport {
            max_abs_err: f64::INFINITY,
            max_rel_err: f64::INFINITY,
            checked: x.len(),
            failures: x.len().max(1),
        };
    }
    let mut probe = x.to_vec();
    let mut report = GradCheckReport {
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        checked: x.len(),
        failures: 0,
    };
    for i in 0..x.len() {
        probe[i] = x[i] + config.eps;
        let plus = loss(&probe);
        probe[i] = x[i] - config.eps;
        let minus = loss(&probe);
        probe[i] = x[i];
        let numeric = (plus - minus) / (2.0 * config.eps);
        let err = (analytic[i] - numeric).abs();
        // NaN must fail, so compare with `!(err <= tol)` rather than `err > tol`.
        let ok = err <= config.atol + config.rtol * numeric.abs();
        report.max_abs_err = report
            .max_abs_err
            .max(if err.is_nan() { f64::INFINITY } else { err });
        if !ok {
            report.failures += 1;
            let rel = err / numeric.abs().max(1e-12);
            report.max_rel_err =
                report
                    .max_rel_err
                    .max(if rel.is_nan() { f64::INFINITY } else { rel });
        }
    }
    report
}
