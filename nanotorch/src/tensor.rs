//! [`Tensor`]: an n-dimensional array whose shape is part of its type.

use std::fmt;

use ndarray::{Array, ArrayD, ArrayView, ArrayViewMut, Dimension, IxDyn};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{Shape, fmt_dims};

/// A tensor of shape `S` (a tuple of dims) with elements `E` (`f32` unless said otherwise).
///
/// Storage is a contiguous, row-major `ndarray` array. The data's sizes always match the shape:
/// every constructor checks static dims, and no method can change the sizes behind the type's
/// back, so a `Tensor<(Dyn, U3)>` always has exactly 3 columns.
#[derive(Clone, PartialEq)]
pub struct Tensor<S: Shape, E: Element = f32> {
    shape: S,
    data: Array<E, S::Ix>,
}

impl<S: Shape, E: Element> Tensor<S, E> {
    /// A tensor of the given shape filled with `value`.
    pub fn full(shape: S, value: E) -> Self {
        Self {
            shape,
            data: Array::from_elem(shape.ix(), value),
        }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: S) -> Self {
        Self::full(shape, E::zero())
    }

    /// A tensor of ones.
    pub fn ones(shape: S) -> Self {
        Self::full(shape, E::one())
    }

    /// Zeros with the shape of `other`.
    pub fn zeros_like(other: &Self) -> Self {
        Self::zeros(other.shape)
    }

    /// Builds a tensor from row-major data and runtime sizes, e.g.
    /// `Tensor::<(Dyn, U3)>::from_vec(&[2, 3], vec![1., 2., 3., 4., 5., 6.])`.
    ///
    /// Errors if the sizes disagree with the type's static dims or with the data's length.
    pub fn from_vec(dims: &[usize], data: Vec<E>) -> Result<Self, ShapeError> {
        let shape = S::from_dims(dims)?;
        Self::from_shape_vec(shape, data)
    }

    /// Builds a tensor from a shape value and row-major data of exactly `shape.numel()` elements.
    pub fn from_shape_vec(shape: S, data: Vec<E>) -> Result<Self, ShapeError> {
        if data.len() != shape.numel() {
            return Err(ShapeError::Length {
                shape: fmt_dims(shape.ix().slice()),
                expected: shape.numel(),
                found: data.len(),
            });
        }
        let data = Array::from_shape_vec(shape.ix(), data).map_err(|_| ShapeError::Length {
            shape: fmt_dims(shape.ix().slice()),
            expected: shape.numel(),
            found: 0,
        })?;
        Ok(Self { shape, data })
    }

    /// Like [`Tensor::from_vec`], copying from a slice.
    pub fn from_slice(dims: &[usize], data: &[E]) -> Result<Self, ShapeError> {
        Self::from_vec(dims, data.to_vec())
    }

    /// Wraps an `ndarray` array of any dimensionality, checking its sizes against `S`.
    pub fn from_array<D: ndarray::Dimension>(array: Array<E, D>) -> Result<Self, ShapeError> {
        let shape = S::from_dims(array.shape())?;
        let data = array
            .into_dimensionality::<S::Ix>()
            .map_err(|_| ShapeError::Shape {
                expected: crate::shape::fmt_pattern(&S::pattern()),
                found: "an array of another rank".to_string(),
            })?;
        // Re-lay out in row-major order if the array was a transposed or strided one.
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Self { shape, data })
    }

    /// Uniform random values in `[low, high)`, drawn from `rng` (use [`crate::seeded_rng`] for
    /// reproducible runs).
    pub fn rand_uniform<R: Rng + ?Sized>(shape: S, low: E, high: E, rng: &mut R) -> Self {
        let data = if low < high {
            let dist = Uniform::new(low.as_f64(), high.as_f64()).expect("low < high was checked");
            (0..shape.numel())
                .map(|_| E::cast(dist.sample(rng)))
                .collect()
        } else {
            vec![low; shape.numel()]
        };
        Self::from_shape_vec(shape, data).expect("length is numel by construction")
    }

    /// Normally distributed random values with the given mean and standard deviation.
    /// A negative or non-finite `std` is an error.
    pub fn rand_normal<R: Rng + ?Sized>(
        shape: S,
        mean: E,
        std: E,
        rng: &mut R,
    ) -> Result<Self, ShapeError> {
        let dist = Normal::new(mean.as_f64(), std.as_f64()).map_err(|_| ShapeError::Invalid {
            what: "normal distribution needs a finite std >= 0",
            found: std.to_string(),
        })?;
        let data = (0..shape.numel())
            .map(|_| E::cast(dist.sample(rng)))
            .collect();
        Self::from_shape_vec(shape, data)
    }

    /// The shape value (static dims are zero-sized; runtime dims carry their size).
    pub fn shape(&self) -> S {
        self.shape
    }

    /// The sizes, e.g. `[50, 3]`.
    pub fn dims(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[E] {
        self.data
            .as_slice()
            .expect("tensors are always stored contiguously in row-major order")
    }

    /// The elements in row-major order, mutable (the sizes cannot change).
    pub fn as_slice_mut(&mut self) -> &mut [E] {
        self.data
            .as_slice_mut()
            .expect("tensors are always stored contiguously in row-major order")
    }

    /// A read-only `ndarray` view.
    pub fn view(&self) -> ArrayView<'_, E, S::Ix> {
        self.data.view()
    }

    /// A mutable `ndarray` view (values may change, sizes may not).
    pub fn view_mut(&mut self) -> ArrayViewMut<'_, E, S::Ix> {
        self.data.view_mut()
    }

    /// A dynamic-rank view, for code that handles tensors of any rank (checkpoints, printing).
    pub fn view_dyn(&self) -> ArrayView<'_, E, IxDyn> {
        self.data.view().into_dyn()
    }

    /// Gives up the type-level shape and returns the `ndarray` array.
    pub fn into_array(self) -> Array<E, S::Ix> {
        self.data
    }

    /// Copies the elements into a `Vec` in row-major order.
    pub fn to_vec(&self) -> Vec<E> {
        self.as_slice().to_vec()
    }

    /// A dynamic-rank copy of the data.
    pub fn to_array_dyn(&self) -> ArrayD<E> {
        self.data.clone().into_dyn()
    }

    /// Converts the elements to another float type (e.g. `f32` weights to `f64` for checking).
    pub fn cast<F: Element>(&self) -> Tensor<S, F> {
        Tensor {
            shape: self.shape,
            data: self.data.mapv(|x| F::cast(x.as_f64())),
        }
    }

    /// True if any element is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        self.data.iter().any(|x| !x.is_finite())
    }

    /// Makes `self` hold the given shape (zero-filled if the sizes change). Used by the `_into`
    /// primitives so a training step reuses its buffers: the memory is kept, so a smaller batch
    /// (the last, partial batch of an epoch) and the return to the full size allocate nothing;
    /// only growing past the largest size seen so far allocates.
    pub fn resize_to(&mut self, shape: S) {
        if self.shape == shape && self.data.raw_dim() == shape.ix() {
            return;
        }
        self.shape = shape;
        if S::RANK == 0 {
            self.data = Array::zeros(shape.ix());
            return;
        }
        // Keep the allocation: shrinking (a last partial batch) and growing back up to the
        // largest size seen reuse the same memory, so after the first epoch a batch-size
        // change allocates nothing. (An empty array of rank ≥ 1 owns no memory.)
        let empty = Array::from_shape_vec(S::Ix::zeros(S::RANK), Vec::new())
            .expect("an empty array of rank >= 1 holds no elements");
        let (mut storage, _) = std::mem::replace(&mut self.data, empty).into_raw_vec_and_offset();
        storage.clear();
        storage.resize(shape.numel(), E::zero());
        self.data = Array::from_shape_vec(shape.ix(), storage)
            .expect("the storage was resized to the shape's element count");
    }

    /// Fills every element with `value`.
    pub fn fill(&mut self, value: E) {
        self.data.fill(value);
    }

    /// Copies `src` into `self`, resizing `self` if needed.
    pub fn assign(&mut self, src: &Self) {
        self.resize_to(src.shape);
        // Both are contiguous and row-major, so this is one memcpy.
        self.as_slice_mut().copy_from_slice(src.as_slice());
    }

    /// Internal constructor for primitives whose output sizes follow from their inputs.
    pub(crate) fn from_parts(shape: S, data: Array<E, S::Ix>) -> Self {
        debug_assert_eq!(data.raw_dim(), shape.ix());
        debug_assert!(data.is_standard_layout());
        Self { shape, data }
    }

    /// Internal: the `ndarray` storage (primitives read it directly).
    pub(crate) fn data(&self) -> &Array<E, S::Ix> {
        &self.data
    }

    /// Internal: mutable storage; callers keep the sizes unchanged.
    pub(crate) fn data_mut(&mut self) -> &mut Array<E, S::Ix> {
        &mut self.data
    }
}

/// An empty tensor: every runtime dim is 0, every static dim has its typed size. Generated
/// networks start their buffers this way; the first forward sizes them.
impl<S: Shape, E: Element> Default for Tensor<S, E> {
    fn default() -> Self {
        let dims: Vec<usize> = S::pattern().iter().map(|d| d.unwrap_or(0)).collect();
        let shape = S::from_dims(&dims).expect("static sizes with runtime dims of 0 always fit");
        Self::zeros(shape)
    }
}

impl<S: Shape, E: Element> fmt::Debug for Tensor<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints like PyTorch's `repr`, plus the shape:
///
/// ```text
/// tensor([[1.0000, 2.0000],
///         [3.0000, 4.0000]], shape=[2, 2])
/// ```
///
/// Tensors of more than 1000 elements are summarised with `...` as PyTorch does.
impl<S: Shape, E: Element> fmt::Display for Tensor<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::display::write_tensor(f, self.view_dyn(), E::DTYPE)
    }
}
