//! [`Samples`]: a collection of samples that can be gathered, by index, into a batch.
//!
//! Feature tensors (one sample per row) and label vectors both implement it, so the
//! [`DataLoader`](super::DataLoader) batches features and targets of any kind the same way.

use crate::element::Element;
use crate::shape::{Dim, Dyn};
use crate::tensor::Tensor;

/// Samples indexed `0..num_samples()`, gathered into a batch by a list of indices.
pub trait Samples {
    /// What a batch of these samples is: a tensor with a runtime batch dim, or a `Vec` of labels.
    type Batch;

    /// Number of samples.
    fn num_samples(&self) -> usize;

    /// An empty batch, to be filled by [`Samples::gather_into`].
    fn empty_batch(&self) -> Self::Batch;

    /// Makes `batch` hold the samples at `indices`, in that order, reusing its storage when the
    /// batch size is unchanged.
    ///
    /// # Panics
    /// If an index is `>= num_samples()` — like slice indexing, a bug in the caller. The
    /// [`DataLoader`](super::DataLoader) only passes valid indices.
    fn gather_into(&self, indices: &[usize], batch: &mut Self::Batch);
}

impl Samples for Vec<usize> {
    type Batch = Vec<usize>;

    fn num_samples(&self) -> usize {
        self.len()
    }

    fn empty_batch(&self) -> Vec<usize> {
        Vec::new()
    }

    fn gather_into(&self, indices: &[usize], batch: &mut Vec<usize>) {
        batch.clear();
        batch.extend(indices.iter().map(|&i| self[i]));
    }
}

/// Copies whole rows (all elements of one sample) from `src` into `dst`.
fn gather_rows<E: Copy>(src: &[E], row_len: usize, indices: &[usize], dst: &mut [E]) {
    if row_len == 0 {
        return;
    }
    for (out, &i) in dst.chunks_exact_mut(row_len).zip(indices) {
        out.copy_from_slice(&src[i * row_len..(i + 1) * row_len]);
    }
}

macro_rules! impl_samples_for_tensor {
    ($($rest:ident $i:tt),*) => {
        /// A tensor whose first axis is the sample axis; a batch has a runtime first dim.
        impl<B: Dim, $($rest: Dim,)* E: Element> Samples for Tensor<(B, $($rest,)*), E> {
            type Batch = Tensor<(Dyn, $($rest,)*), E>;

            fn num_samples(&self) -> usize {
                self.dims()[0]
            }

            fn empty_batch(&self) -> Self::Batch {
                #[allow(unused_variables)]
                let s = self.shape();
                Tensor::zeros((Dyn(0), $(s.$i,)*))
            }

            fn gather_into(&self, indices: &[usize], batch: &mut Self::Batch) {
                #[allow(unused_variables)]
                let s = self.shape();
                batch.resize_to((Dyn(indices.len()), $(s.$i,)*));
                let row_len = 1 $(* s.$i.size())*;
                gather_rows(self.as_slice(), row_len, indices, batch.as_slice_mut());
            }
        }
    };
}
impl_samples_for_tensor!();
impl_samples_for_tensor!(F 1);
impl_samples_for_tensor!(C 1, W 2);
impl_samples_for_tensor!(C 1, H 2, W 3);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{U1, U2, U3};

    #[test]
    fn gathers_rows_of_a_matrix_in_index_order() {
        let x =
            Tensor::<(Dyn, U2), f64>::from_vec(&[3, 2], vec![0., 1., 10., 11., 20., 21.]).unwrap();
        let mut b = x.empty_batch();
        x.gather_into(&[2, 0], &mut b);
        assert_eq!(b.dims(), &[2, 2]);
        assert_eq!(b.as_slice(), &[20., 21., 0., 1.]);
        x.gather_into(&[1], &mut b);
        assert_eq!(b.as_slice(), &[10., 11.]);
    }

    #[test]
    fn gathers_image_samples_and_labels() {
        let x = Tensor::<(Dyn, U1, U3), f32>::from_vec(&[2, 1, 3], vec![1., 2., 3., 4., 5., 6.])
            .unwrap();
        let mut b = x.empty_batch();
        x.gather_into(&[1, 1], &mut b);
        assert_eq!(b.as_slice(), &[4., 5., 6., 4., 5., 6.]);
        let y = vec![7usize, 8];
        let mut yb = y.empty_batch();
        y.gather_into(&[1, 0, 1], &mut yb);
        assert_eq!(yb, vec![8, 7, 8]);
    }
}
