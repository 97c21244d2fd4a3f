//! [`DataLoader`]: batches of samples, optionally in a seeded random order, as PyTorch's
//! `torch.utils.data.DataLoader(dataset, batch_size, shuffle, drop_last)`.

use rand::seq::SliceRandom;

use crate::SeededRng;

use super::error::DataError;
use super::samples::Samples;

/// Walks a data set in batches, epoch after epoch.
///
/// - **Order:** samples in order, or — after [`DataLoader::shuffle`] — a fresh random
///   permutation at the start of each epoch, drawn from a generator seeded once, so a run is
///   reproducible from its seed and every epoch still sees a different order.
/// - **Batches:** `batch_size` samples each; the last batch of an epoch holds the
///   `N mod batch_size` left over (its runtime batch dim is smaller), unless
///   [`DataLoader::drop_last`] drops it.
///
/// Two ways to read it:
///
/// ```
/// use nanotorch::data::{Dataset, datasets};
///
/// let iris = datasets::iris::<f32>()?;
/// let mut loader = iris.loader(32)?.shuffle(0);
///
/// // 1. Buffer-reusing: no allocation per batch once the buffers have their size.
/// let (mut x, mut y) = loader.batch_buffers();
/// while loader.next_batch_into(&mut x, &mut y) {
///     assert_eq!(x.dims()[0], y.len());
/// }
///
/// // 2. Convenient: an iterator over one epoch, yielding owned batches.
/// let sizes: Vec<usize> = loader.epoch().map(|(x, _y)| x.dims()[0]).collect();
/// assert_eq!(sizes, [32, 32, 32, 32, 22]);
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DataLoader<'a, X: Samples, Y: Samples> {
    x: &'a X,
    y: &'a Y,
    batch_size: usize,
    drop_last: bool,
    rng: Option<SeededRng>,
    order: Vec<usize>,
    pos: usize,
    in_epoch: bool,
}

impl<'a, X: Samples, Y: Samples> DataLoader<'a, X, Y> {
    /// A loader over features `x` and targets `y` (one per sample), in order, keeping the
    /// last partial batch.
    ///
    /// Errors: [`DataError::Invalid`] for a batch size of 0, [`DataError::CountMismatch`] if
    /// `x` and `y` hold different numbers of samples.
    pub fn new(x: &'a X, y: &'a Y, batch_size: usize) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::Invalid {
                what: "batch size must be at least 1",
                found: "0".into(),
            });
        }
        let n = x.num_samples();
        if y.num_samples() != n {
            return Err(DataError::CountMismatch {
                features_origin: "the features".into(),
                features: n,
                labels_origin: "the targets".into(),
                labels: y.num_samples(),
            });
        }
        Ok(Self {
            x,
            y,
            batch_size,
            drop_last: false,
            rng: None,
            order: (0..n).collect(),
            pos: 0,
            in_epoch: false,
        })
    }

    /// Visits the samples in a new random order each epoch, from a generator seeded with
    /// `seed` ([`crate::seeded_rng`]). Restarts the current epoch.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.rng = Some(crate::seeded_rng(seed));
        self.in_epoch = false;
        self
    }

    /// Drops (`true`) or keeps (`false`, the default) the last batch of an epoch when it has
    /// fewer than `batch_size` samples.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of samples in the data set.
    pub fn num_samples(&self) -> usize {
        self.order.len()
    }

    /// Number of batches an epoch yields.
    pub fn num_batches(&self) -> usize {
        let n = self.num_samples();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// Empty batch buffers for [`DataLoader::next_batch_into`].
    pub fn batch_buffers(&self) -> (X::Batch, Y::Batch) {
        (self.x.empty_batch(), self.y.empty_batch())
    }

    /// Fills `x` and `y` with the next batch of the current epoch and returns `true`; at the
    /// end of the epoch returns `false` and leaves them unchanged, and the next call starts a
    /// new epoch (reshuffled if shuffling). So `while loader.next_batch_into(..) { .. }` is one
    /// epoch.
    ///
    /// The buffers are resized only when the batch size changes (the last, partial batch), so
    /// a training loop that keeps them allocates nothing per batch.
    pub fn next_batch_into(&mut self, x: &mut X::Batch, y: &mut Y::Batch) -> bool {
        if !self.in_epoch {
            self.begin_epoch();
        }
        let take = self.batch_size.min(self.order.len() - self.pos);
        if take == 0 || (self.drop_last && take < self.batch_size) {
            self.in_epoch = false;
            return false;
        }
        let indices = &self.order[self.pos..self.pos + take];
        self.x.gather_into(indices, x);
        self.y.gather_into(indices, y);
        self.pos += take;
        true
    }

    /// An iterator over one fresh epoch (abandoning any epoch in progress), yielding owned
    /// `(features, targets)` batches. Allocates a new batch each step; see
    /// [`DataLoader::next_batch_into`] for the allocation-free way.
    pub fn epoch(&mut self) -> Epoch<'_, 'a, X, Y> {
        self.in_epoch = false;
        Epoch {
            loader: self,
            done: false,
        }
    }

    /// The sample indices of the current epoch, in the order they are served.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    fn begin_epoch(&mut self) {
        self.pos = 0;
        self.in_epoch = true;
        if let Some(rng) = &mut self.rng {
            for (k, slot) in self.order.iter_mut().enumerate() {
                *slot = k;
            }
            self.order.shuffle(rng);
        }
    }
}

/// One epoch of a [`DataLoader`], as an iterator of owned batches.
#[derive(Debug)]
pub struct Epoch<'l, 'a, X: Samples, Y: Samples> {
    loader: &'l mut DataLoader<'a, X, Y>,
    done: bool,
}

impl<X: Samples, Y: Samples> Iterator for Epoch<'_, '_, X, Y> {
    type Item = (X::Batch, Y::Batch);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (mut x, mut y) = self.loader.batch_buffers();
        if self.loader.next_batch_into(&mut x, &mut y) {
            Some((x, y))
        } else {
            self.done = true;
            None
        }
    }
}
