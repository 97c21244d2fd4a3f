//! [`Standardizer`]: rescales each feature to mean 0 and standard deviation 1, with
//! statistics taken from the training data only (as scikit-learn's `StandardScaler`).

use crate::element::Element;
use crate::shape::{Dyn, StaticDim};
use crate::tensor::Tensor;

use super::error::DataError;

/// Per-feature mean and standard deviation, fitted on training data and applied to any data
/// with the same features: `x' = (x − mean) / std`.
///
/// - Fit on the **training** part only, then transform both parts: statistics from the test
///   part would leak it into training.
/// - `std` is the population standard deviation (divide by `N`, as `StandardScaler`).
/// - **Constant features:** a feature whose standard deviation is below
///   `10 · ε · max(1, |mean|)` (ε the `f64` machine epsilon) — constant on the training
///   data, such as a pixel that is always 0 — gets `std = 1`: it is centred but not scaled,
///   so it stays finite instead of dividing by zero.
/// - Statistics are accumulated in `f64` whatever `E` is.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer<F: StaticDim, E: Element = f32> {
    mean: Tensor<(F,), E>,
    std: Tensor<(F,), E>,
}

impl<F: StaticDim, E: Element> Standardizer<F, E> {
    /// Computes each feature's mean and standard deviation over the rows of `x`.
    /// Errors if `x` has no rows.
    pub fn fit(x: &Tensor<(Dyn, F), E>) -> Result<Self, DataError> {
        let rows = x.dims()[0];
        if rows == 0 {
            return Err(DataError::Invalid {
                what: "cannot fit a standardizer on zero samples",
                found: "0 rows".into(),
            });
        }
        let f = F::SIZE;
        let mut mean = vec![0.0f64; f];
        for row in x.as_slice().chunks_exact(f) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v.as_f64();
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        // Second pass on the centred values: exact zero for a constant column.
        let mut var = vec![0.0f64; f];
        for row in x.as_slice().chunks_exact(f) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = v.as_f64() - m;
                *s += d * d;
            }
        }
        let std: Vec<E> = var
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let sd = (s / rows as f64).sqrt();
                if sd < 10.0 * f64::EPSILON * m.abs().max(1.0) {
                    E::one()
                } else {
                    E::cast(sd)
                }
            })
            .collect();
        let mean = mean.into_iter().map(E::cast).collect();
        Ok(Self {
            mean: Tensor::from_shape_vec((F::default(),), mean)?,
            std: Tensor::from_shape_vec((F::default(),), std)?,
        })
    }

    /// The fitted means, one per feature.
    pub fn mean(&self) -> &Tensor<(F,), E> {
        &self.mean
    }

    /// The standard deviations used for scaling (1 for constant features).
    pub fn std(&self) -> &Tensor<(F,), E> {
        &self.std
    }

    /// Standardizes `x` in place: `x[n, j] ← (x[n, j] − mean[j]) / std[j]`.
    pub fn transform(&self, x: &mut Tensor<(Dyn, F), E>) {
        let (mean, std) = (self.mean.as_slice(), self.std.as_slice());
        for row in x.as_slice_mut().chunks_exact_mut(F::SIZE) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = (*v - *m) / *s;
            }
        }
    }

    /// A standardized copy of `x`.
    pub fn transformed(&self, x: &Tensor<(Dyn, F), E>) -> Tensor<(Dyn, F), E> {
        let mut y = x.clone();
        self.transform(&mut y);
        y
    }

    /// Undoes [`Standardizer::transform`] in place: `x[n, j] ← x[n, j]·std[j] + mean[j]`
    /// (e.g. to report a regression's predictions in the target's own units).
    pub fn inverse_transform(&self, x: &mut Tensor<(Dyn, F), E>) {
        let (mean, std) = (self.mean.as_slice(), self.std.as_slice());
        for row in x.as_slice_mut().chunks_exact_mut(F::SIZE) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = *v * *s + *m;
            }
        }
    }
}
