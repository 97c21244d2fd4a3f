//! Drawing the next token from a language model's logits: temperature, top-k and a seeded
//! categorical draw, as nanoGPT's `generate`.
//!
//! ```
//! use nanotorch::sample::Sampler;
//!
//! let logits = [1.0f32, 3.0, 2.0, -1.0];
//! let mut rng = nanotorch::seeded_rng(1);
//! // Temperature 0 is greedy: always the largest logit.
//! assert_eq!(Sampler::new(0.0, None)?.sample(&logits, &mut rng)?, 1);
//! // Top-2 at temperature 0.8: only ids 1 and 2 can come out.
//! let mut sampler = Sampler::new(0.8, Some(2))?;
//! let id = sampler.sample(&logits, &mut rng)?;
//! assert!(id == 1 || id == 2);
//! # Ok::<(), nanotorch::ShapeError>(())
//! ```

use rand::Rng;

use crate::element::Element;
use crate::error::ShapeError;

/// Draws token ids from logits: divide by the temperature, keep the `k` largest, softmax, draw.
///
/// For logits `z` over `V` ids, temperature `τ` and top-k `k`:
///
/// ```text
/// K  = the k ids of largest z (ties broken towards the smaller id, so exactly k are kept)
/// pᵢ = exp((zᵢ − max z)/τ) / Σⱼ∈K exp((zⱼ − max z)/τ)   for i ∈ K,   pᵢ = 0 otherwise
/// i  ~ Categorical(p)          one uniform draw u ∈ [0, 1) from the generator
/// ```
///
/// `τ = 0` is greedy decoding: the id of the largest logit (the smallest such id on a tie),
/// the limit of the formula as `τ → 0`; it draws nothing from the generator. Without top-k
/// every id is kept. The same generator state gives the same id, so a seeded generation is
/// reproducible.
///
/// The sampler keeps its work buffers (probabilities and an ordering, `V` entries each): after
/// the first call, drawing allocates nothing.
#[derive(Clone, Debug)]
pub struct Sampler {
    temperature: f64,
    top_k: Option<usize>,
    probs: Vec<f64>,
    order: Vec<usize>,
}

impl Sampler {
    /// A sampler with temperature `temperature` (`0` for greedy, `1` for the model's own
    /// distribution) and, with `Some(k)`, only the `k` most likely ids.
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] when `temperature` is negative or not finite, or `top_k` is
    /// `Some(0)`.
    pub fn new(temperature: f64, top_k: Option<usize>) -> Result<Self, ShapeError> {
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(ShapeError::Invalid {
                what: "sampling temperature must be a finite number >= 0",
                found: temperature.to_string(),
            });
        }
        if top_k == Some(0) {
            return Err(ShapeError::Invalid {
                what: "top-k must keep at least 1 id",
                found: "0".into(),
            });
        }
        Ok(Self {
            temperature,
            top_k,
            probs: Vec::new(),
            order: Vec::new(),
        })
    }

    /// The temperature.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// The top-k setting (`None`: every id is kept).
    pub fn top_k(&self) -> Option<usize> {
        self.top_k
    }

    /// The distribution the sampler draws from for `logits`: `V` probabilities summing to 1,
    /// zero outside the top k (for `τ = 0`, 1 at the argmax and 0 elsewhere).
    ///
    /// # Errors
    /// [`ShapeError::Invalid`] when `logits` is empty or holds a NaN or an infinity.
    pub fn probabilities<E: Element>(&mut self, logits: &[E]) -> Result<&[f64], ShapeError> {
        if logits.is_empty() {
            return Err(ShapeError::Invalid {
                what: "sampling from no logits",
                found: "0 logits".into(),
            });
        }
        if let Some(i) = logits.iter().position(|z| !z.as_f64().is_finite()) {
            return Err(ShapeError::Invalid {
                what: "sampling from a logit that is not finite",
                found: format!("logit {i} is {}", logits[i].as_f64()),
            });
        }
        let v = logits.len();
        let k = self.top_k.unwrap_or(v).min(v);
        // The ids in order of decreasing logit, ties towards the smaller id; only the first k
        // matter, so a selection (linear time) rather than a sort.
        self.order.clear();
        self.order.extend(0..v);
        let by_logit = |&a: &usize, &b: &usize| {
            logits[b]
                .as_f64()
                .total_cmp(&logits[a].as_f64())
                .then(a.cmp(&b))
        };
        if k < v {
            self.order.select_nth_unstable_by(k - 1, by_logit);
        }
        let kept = &self.order[..k];
        let best = kept
            .iter()
            .copied()
            .min_by(|a, b| by_logit(a, b))
            .expect("k >= 1");
        self.probs.clear();
        self.probs.resize(v, 0.0);
        if self.temperature == 0.0 {
            self.probs[best] = 1.0;
            return Ok(&self.probs);
        }
        let max = logits[best].as_f64();
        let mut total = 0.0;
        for &i in kept {
            let p = ((logits[i].as_f64() - max) / self.temperature).exp();
            self.probs[i] = p;
            total += p;
        }
        // total ≥ 1: the best id contributes exp(0).
        for &i in kept {
            self.probs[i] /= total;
        }
        Ok(&self.probs)
    }

    /// Draws one id from [`Sampler::probabilities`]`(logits)` with `rng`.
    ///
    /// # Errors
    /// Those of [`Sampler::probabilities`].
    pub fn sample<E: Element, R: Rng + ?Sized>(
        &mut self,
        logits: &[E],
        rng: &mut R,
    ) -> Result<usize, ShapeError> {
        let greedy = self.temperature == 0.0;
        let probs = self.probabilities(logits)?;
        if greedy {
            return Ok(probs.iter().position(|&p| p == 1.0).unwrap_or(0));
        }
        let u: f64 = rng.random();
        let mut cumulative = 0.0;
        let mut last = 0;
        for (i, &p) in probs.iter().enumerate() {
            if p > 0.0 {
                cumulative += p;
                last = i;
                if u < cumulative {
                    return Ok(i);
                }
            }
        }
        // Rounding left the sum a hair under u: the last kept id.
        Ok(last)
    }
}
