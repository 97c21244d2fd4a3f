//! Token ids: the input of a language model.
//!
//! A [`Tokens<T, V>`](Tokens) value is a batch of sequences of `T` ids, each id naming one of
//! the `V` entries of a vocabulary. Both sizes are types, so an [`Embedding`] of a vocabulary
//! of 3 does not accept ids meant for one of 50, and the compiler says so. The batch is a
//! runtime size, as the batch of a tensor (`Dyn`).
//!
//! Every id is checked `< V` when the value is built ([`Tokens::from_vec`],
//! [`Tokens::assign_from_slice`]), so the layers that read ids — an embedding table lookup —
//! never index out of bounds, and never need to check again.
//!
//! Token ids are integers, not floats: they have no gradient. A layer that takes them (the
//! embedding) turns them into vectors, and the gradient stops there.
//!
//! [`Embedding`]: crate::layers::Embedding

use std::marker::PhantomData;

use crate::error::ShapeError;
use crate::shape::{Dyn, StaticDim, fmt_dims};

/// A batch of `B` token-id sequences of static length `T` over a vocabulary of `V` ids,
/// row-major `[B, T]`; every id is checked `< V` when the value is built.
///
/// The default value is the empty batch (`B = 0`): a buffer that
/// [`Tokens::assign_from_slice`] fills, reusing its memory from one batch to the next.
///
/// ```
/// use nanotorch::Tokens;
/// use nanotorch::shape::{U3, U4};
///
/// // Two sequences of 4 ids over a vocabulary of 3.
/// let tokens = Tokens::<U4, U3>::from_vec(2, vec![0, 1, 2, 2, 1, 1, 0, 0]).unwrap();
/// assert_eq!(tokens.batch(), 2);
/// assert_eq!(tokens.ids()[4..], [1, 1, 0, 0]);
/// // An id of 3 names no token of a vocabulary of 3.
/// assert!(Tokens::<U4, U3>::from_vec(1, vec![0, 1, 3, 2]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tokens<T: StaticDim, V: StaticDim> {
    /// `batch · T` ids, row-major, all `< V`.
    ids: Vec<usize>,
    /// Number of sequences.
    batch: usize,
    _dims: PhantomData<(T, V)>,
}

impl<T: StaticDim, V: StaticDim> Tokens<T, V> {
    /// `batch` sequences of `T` ids from a row-major vector of `batch · T` ids.
    ///
    /// # Errors
    /// - [`ShapeError::Length`] when `ids.len()` is not `batch · T`;
    /// - [`ShapeError::Invalid`] when an id is `≥ V` (the message names the first such id and
    ///   its `[sequence, position]`).
    pub fn from_vec(batch: usize, ids: Vec<usize>) -> Result<Self, ShapeError> {
        check_ids::<T, V>(batch, &ids)?;
        Ok(Self {
            ids,
            batch,
            _dims: PhantomData,
        })
    }

    /// Replaces the contents with `batch` sequences copied from `ids` (row-major, `batch · T`
    /// ids), reusing this value's memory: once it has held the largest batch, refilling it
    /// allocates nothing. The checks and errors are those of [`Tokens::from_vec`]; on error
    /// the value is left unchanged.
    pub fn assign_from_slice(&mut self, batch: usize, ids: &[usize]) -> Result<(), ShapeError> {
        check_ids::<T, V>(batch, ids)?;
        self.ids.clear();
        self.ids.extend_from_slice(ids);
        self.batch = batch;
        Ok(())
    }

    /// Number of sequences `B`.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The ids, row-major: sequence `b`'s id at position `t` is `ids()[b·T + t]`.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// The shape `[B, T]` as dims: the batch is a runtime size, the length static.
    pub fn shape(&self) -> (Dyn, T) {
        (Dyn(self.batch), T::default())
    }

    /// The sizes `[B, T]`.
    pub fn dims(&self) -> [usize; 2] {
        [self.batch, T::SIZE]
    }

    /// Internal: a value from ids that were already checked (a layer handing back the ids of
    /// its last forward).
    pub(crate) fn from_checked(batch: usize, ids: Vec<usize>) -> Self {
        debug_assert!(check_ids::<T, V>(batch, &ids).is_ok());
        Self {
            ids,
            batch,
            _dims: PhantomData,
        }
    }
}

/// `ids` holds `batch · T` ids, each `< V`.
fn check_ids<T: StaticDim, V: StaticDim>(batch: usize, ids: &[usize]) -> Result<(), ShapeError> {
    let expected = batch.checked_mul(T::SIZE);
    if expected != Some(ids.len()) {
        return Err(ShapeError::Length {
            shape: fmt_dims(&[batch, T::SIZE]),
            expected: expected.unwrap_or(usize::MAX),
            found: ids.len(),
        });
    }
    match ids.iter().position(|&id| id >= V::SIZE) {
        Some(k) => Err(ShapeError::Invalid {
            what: "token id outside the vocabulary",
            found: format!(
                "id {} at [{}, {}], but a vocabulary of {} has the ids 0..{}",
                ids[k],
                k / T::SIZE.max(1),
                k % T::SIZE.max(1),
                V::SIZE,
                V::SIZE
            ),
        }),
        None => Ok(()),
    }
}
