//! Data: embedded data sets, MNIST from IDX files, batching, splitting and standardizing.
//!
//! - [`datasets`]: digits, iris, breast cancer, wine (classification), diabetes
//!   (regression), 10 000 MNIST digits (8 000 / 2 000) and eight Shakespeare tragedies
//!   (1.16 M characters), embedded in the library.
//! - [`mnist`]: MNIST / Fashion-MNIST from IDX files (raw or gzipped).
//! - [`Classification`] and [`Regression`]: features `Tensor<(Dyn, F)>` with a static
//!   feature count `F`, and labels or a target tensor.
//! - [`DataLoader`]: seeded shuffling, batches with a runtime batch dim, a buffer-reusing
//!   [`DataLoader::next_batch_into`] and an [`DataLoader::epoch`] iterator.
//! - [`CharVocab`], [`CharCorpus`], [`CharBatcher`] and [`CharStreams`]: text for
//!   character-level language models — a vocabulary, a 90 / 10 split, batches of random
//!   windows as [`Tokens`], and consecutive windows for truncated backpropagation through time.
//! - [`Classification::stratified_split`], [`Regression::split`] and [`Standardizer`].
//! - The readers the embedded data sets go through, for files of your own: [`labelled_csv`],
//!   [`number_table`] and [`gunzip`] (capped at [`GUNZIP_LIMIT`]).
//!
//! [`Tokens`]: crate::Tokens
//!
//! ```
//! use nanotorch::data::{Dataset, Standardizer, datasets};
//!
//! let (mut train, mut test) = datasets::wine::<f32>()?.stratified_split(0.25, 0)?;
//! let scaler = Standardizer::fit(train.features())?; // statistics of the training part only
//! train.map_features(|x| scaler.transform(x));
//! test.map_features(|x| scaler.transform(x));
//! assert_eq!(train.len() + test.len(), 178);
//!
//! let mut loader = train.loader(16)?.shuffle(42);
//! let (mut x, mut y) = loader.batch_buffers();
//! while loader.next_batch_into(&mut x, &mut y) {
//!     // forward, loss, backward, step ...
//! }
//! # Ok::<(), nanotorch::data::DataError>(())
//! ```

mod chars;
mod dataset;
pub mod datasets;
mod error;
mod loader;
pub mod mnist;
mod samples;
mod split;
mod standardize;
mod text;

pub use chars::{CharBatcher, CharCorpus, CharStreams, CharVocab};
pub use dataset::{Classification, Dataset, Regression};
pub use error::DataError;
pub use loader::{DataLoader, Epoch};
pub use samples::Samples;
pub use split::stratified_indices;
pub use standardize::Standardizer;
pub use text::{
    GUNZIP_LIMIT, Header as CsvHeader, gunzip, gunzip_with_limit, labelled_csv, number_table,
};
