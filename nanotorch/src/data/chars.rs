//! Text for character-level language models: a vocabulary of characters, a corpus split 90 / 10
//! into training and validation ids, and batches of random windows with next-character targets.
//!
//! ```
//! use nanotorch::Tokens;
//! use nanotorch::data::{CharBatcher, CharCorpus};
//! use nanotorch::shape::{U4, U16};
//!
//! let text = "to be or not to be, that is the question\n".repeat(3);
//! let corpus = CharCorpus::new("tiny", &text)?;
//! assert_eq!(corpus.vocab().len(), 15); // 14 distinct characters and the newline
//! assert_eq!((corpus.train().len(), corpus.validation().len()), (110, 13));
//! assert_eq!(corpus.vocab().decode(&corpus.vocab().encode("to be")?)?, "to be");
//!
//! // Windows of 4 characters for a model with a vocabulary of 16 (≥ 15 distinct characters).
//! let mut batcher = CharBatcher::<U4, U16>::new(&corpus)?;
//! let (mut x, mut y) = (Tokens::default(), Vec::new());
//! let mut rng = nanotorch::seeded_rng(0);
//! batcher.fill(corpus.train(), 8, &mut rng, &mut x, &mut y)?;
//! assert_eq!(x.dims(), [8, 4]);
//! assert_eq!(y.len(), 8 * 4); // each position's target is the character after it
//! # Ok::<(), nanotorch::data::DataError>(())
//! ```

use std::marker::PhantomData;
use std::path::Path;

use rand::Rng;

use crate::shape::StaticDim;
use crate::tokens::Tokens;

use super::error::DataError;

/// No id, in the ASCII lookup table.
const NONE: u32 = u32::MAX;

/// The characters of a text, sorted by code point; a character's id is its index.
///
/// This is the vocabulary of char-rnn, minGPT and nanoGPT: `chars = sorted(set(text))`,
/// `stoi = {c: i for i, c in enumerate(chars)}`. Encoding a character outside it is a
/// [`DataError::UnknownChar`] naming the character and where it is, never a panic.
///
/// ```
/// use nanotorch::data::CharVocab;
///
/// let vocab = CharVocab::from_text("hello");
/// assert_eq!(vocab.chars(), &['e', 'h', 'l', 'o']);
/// assert_eq!(vocab.encode("hole")?, vec![1, 3, 2, 0]);
/// assert!(vocab.encode("help").is_err()); // no 'p'
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharVocab {
    /// Sorted, distinct.
    chars: Vec<char>,
    /// `ascii[c]` is the id of the ASCII character `c`, or [`NONE`].
    ascii: [u32; 128],
}

impl CharVocab {
    /// The sorted distinct characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let mut seen = [false; 128];
        let mut other: Vec<char> = Vec::new();
        for c in text.chars() {
            if c.is_ascii() {
                seen[c as usize] = true;
            } else {
                other.push(c);
            }
        }
        other.sort_unstable();
        other.dedup();
        let mut chars: Vec<char> = (0u8..128)
            .filter(|&b| seen[usize::from(b)])
            .map(char::from)
            .collect();
        chars.extend(other);
        let mut ascii = [NONE; 128];
        for (id, &c) in chars.iter().enumerate() {
            if c.is_ascii() {
                ascii[c as usize] = id as u32;
            }
        }
        Self { chars, ascii }
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary has no character (the vocabulary of an empty text).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, sorted; `chars()[id]` is the character of `id`.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if the vocabulary holds it.
    pub fn id(&self, c: char) -> Option<usize> {
        if c.is_ascii() {
            let id = self.ascii[c as usize];
            (id != NONE).then_some(id as usize)
        } else {
            self.chars.binary_search(&c).ok()
        }
    }

    /// The character of `id`, if `id < len()`.
    pub fn char(&self, id: usize) -> Option<char> {
        self.chars.get(id).copied()
    }

    /// The ids of the characters of `text`.
    ///
    /// # Errors
    /// [`DataError::UnknownChar`] for the first character the vocabulary lacks, with its
    /// position, line and column.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, DataError> {
        let mut ids = Vec::with_capacity(text.len());
        self.encode_into(text, &mut ids)?;
        Ok(ids)
    }

    /// [`CharVocab::encode`] appending to `ids` (which is cleared first), so a caller can reuse
    /// its memory. On error `ids` holds the ids of the characters before the unknown one.
    pub fn encode_into(&self, text: &str, ids: &mut Vec<usize>) -> Result<(), DataError> {
        ids.clear();
        for (position, c) in text.chars().enumerate() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => return Err(self.unknown(text, c, position)),
            }
        }
        Ok(())
    }

    fn unknown(&self, text: &str, ch: char, position: usize) -> DataError {
        let before = text.chars().take(position);
        let (mut line, mut column) = (1, 1);
        for c in before {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        DataError::UnknownChar {
            ch,
            position,
            line,
            column,
            vocab_size: self.len(),
        }
    }

    /// The text of `ids`.
    ///
    /// # Errors
    /// [`DataError::UnknownId`] for the first id `≥ len()`.
    pub fn decode(&self, ids: &[usize]) -> Result<String, DataError> {
        let mut text = String::with_capacity(ids.len());
        self.decode_into(ids, &mut text)?;
        Ok(text)
    }

    /// [`CharVocab::decode`] appending to `text` (not cleared), so a generation loop can reuse
    /// one string. On error `text` holds the characters before the bad id.
    pub fn decode_into(&self, ids: &[usize], text: &mut String) -> Result<(), DataError> {
        for (position, &id) in ids.iter().enumerate() {
            match self.char(id) {
                Some(c) => text.push(c),
                None => {
                    return Err(DataError::UnknownId {
                        id,
                        position,
                        vocab_size: self.len(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A text as character ids, with its vocabulary and the conventional split: the first 90 % of
/// the characters (`len · 9 / 10`, rounded down) for training, the rest for validation.
///
/// Built from a `&str` ([`CharCorpus::new`]), bytes that must be UTF-8
/// ([`CharCorpus::from_bytes`]) or a file ([`CharCorpus::from_file`]); the shipped
/// Shakespeare is [`datasets::shakespeare`](super::datasets::shakespeare).
#[derive(Clone, Debug)]
pub struct CharCorpus {
    origin: String,
    vocab: CharVocab,
    ids: Vec<usize>,
    split: usize,
}

impl CharCorpus {
    /// The corpus of `text`; `origin` names it in errors (a file name, `"shakespeare"`).
    ///
    /// # Errors
    /// [`DataError::EmptyText`] when `text` has no character.
    pub fn new(origin: impl Into<String>, text: &str) -> Result<Self, DataError> {
        let origin = origin.into();
        if text.is_empty() {
            return Err(DataError::EmptyText { origin });
        }
        let vocab = CharVocab::from_text(text);
        let ids = vocab.encode(text)?;
        let split = ids.len() * 9 / 10;
        Ok(Self {
            origin,
            vocab,
            ids,
            split,
        })
    }

    /// The corpus of UTF-8 `bytes`.
    ///
    /// # Errors
    /// [`DataError::NotUtf8`] when the bytes are not UTF-8; those of [`CharCorpus::new`].
    pub fn from_bytes(origin: impl Into<String>, bytes: &[u8]) -> Result<Self, DataError> {
        let origin = origin.into();
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::new(origin, text),
            Err(e) => Err(DataError::NotUtf8 {
                origin,
                valid_up_to: e.valid_up_to(),
            }),
        }
    }

    /// The corpus of the UTF-8 text file at `path`.
    ///
    /// # Errors
    /// [`DataError::Io`] when the file cannot be read; those of [`CharCorpus::from_bytes`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path.display().to_string(), &bytes)
    }

    /// Where the text came from, as given when it was built.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The vocabulary: the text's sorted distinct characters.
    pub fn vocab(&self) -> &CharVocab {
        &self.vocab
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Always `false`: an empty text is refused when the corpus is built.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every character's id, in order.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// The training part: the first `len · 9 / 10` ids.
    pub fn train(&self) -> &[usize] {
        &self.ids[..self.split]
    }

    /// The validation part: the ids after the training part.
    pub fn validation(&self) -> &[usize] {
        &self.ids[self.split..]
    }

    /// Checks that a model reading windows of `T` characters over a vocabulary of `V` ids can
    /// train on this corpus: at most `V` distinct characters, and at least `T + 1` characters
    /// in each part (a window and the target of its last position).
    ///
    /// # Errors
    /// [`DataError::VocabularyTooLarge`] or [`DataError::TextTooShort`].
    pub fn check_fits<T: StaticDim, V: StaticDim>(&self) -> Result<(), DataError> {
        if self.vocab.len() > V::SIZE {
            return Err(DataError::VocabularyTooLarge {
                origin: self.origin.clone(),
                found: self.vocab.len(),
                capacity: V::SIZE,
            });
        }
        for (part, ids) in [
            ("training", self.train()),
            ("validation", self.validation()),
        ] {
            check_window(&self.origin, part, ids.len(), T::SIZE)?;
        }
        Ok(())
    }
}

fn check_window(origin: &str, part: &'static str, len: usize, t: usize) -> Result<(), DataError> {
    if len > t {
        Ok(())
    } else {
        Err(DataError::TextTooShort {
            origin: origin.to_string(),
            part,
            len,
            context: t,
            needed: t + 1,
        })
    }
}

/// Fills batches of random windows `[B, T]` of character ids and their next-character
/// targets, as nanoGPT's `get_batch`: for each of the `B` sequences a start `i` is drawn
/// uniformly from `0..len − T`, the input is `ids[i .. i + T]` and the targets are
/// `ids[i + 1 .. i + T + 1]`.
///
/// The batcher owns one scratch buffer of `B·T` ids; the caller owns the [`Tokens`] and the
/// targets. Once they have held a batch of the largest size, [`CharBatcher::fill`] allocates
/// nothing.
#[derive(Clone, Debug, Default)]
pub struct CharBatcher<T: StaticDim, V: StaticDim> {
    scratch: Vec<usize>,
    _dims: PhantomData<(T, V)>,
}

impl<T: StaticDim, V: StaticDim> CharBatcher<T, V> {
    /// A batcher for a model of context `T` and vocabulary `V`, after checking that `corpus`
    /// fits it ([`CharCorpus::check_fits`]).
    ///
    /// # Errors
    /// Those of [`CharCorpus::check_fits`].
    pub fn new(corpus: &CharCorpus) -> Result<Self, DataError> {
        corpus.check_fits::<T, V>()?;
        Ok(Self {
            scratch: Vec::new(),
            _dims: PhantomData,
        })
    }

    /// Draws `batch` windows of `ids` (e.g. [`CharCorpus::train`]) with `rng` into `x`
    /// (`[batch, T]`) and their targets into `targets` (`batch · T` entries, all `Some`, in the
    /// form [`cross_entropy_seq`](crate::loss::cross_entropy_seq) takes).
    ///
    /// # Errors
    /// - [`DataError::TextTooShort`] when `ids` has fewer than `T + 1` ids;
    /// - [`DataError::Shape`] when an id is `≥ V` (ids from another vocabulary).
    ///
    /// On error `x` is left unchanged and `targets` is empty.
    pub fn fill<R: Rng + ?Sized>(
        &mut self,
        ids: &[usize],
        batch: usize,
        rng: &mut R,
        x: &mut Tokens<T, V>,
        targets: &mut Vec<Option<usize>>,
    ) -> Result<(), DataError> {
        let t = T::SIZE;
        check_window("the ids", "whole", ids.len(), t)?;
        self.scratch.clear();
        targets.clear();
        for _ in 0..batch {
            let start = rng.random_range(0..ids.len() - t);
            self.scratch.extend_from_slice(&ids[start..start + t]);
            targets.extend(ids[start + 1..start + t + 1].iter().map(|&id| Some(id)));
        }
        if let Err(e) = x.assign_from_slice(batch, &self.scratch) {
            targets.clear();
            return Err(e.into());
        }
        Ok(())
    }
}

/// Consecutive windows for truncated backpropagation through time, as char-rnn batches its
/// text: the ids are cut into `B` streams of equal length `L = (len − 1) / B`, one per batch
/// row, and window `k` of an epoch holds, in row `r`, characters `k·T .. (k + 1)·T` of stream
/// `r` — `ids[r·L + k·T ..][..T]` — with the character after each as its target.
///
/// Row `r` of window `k + 1` continues the text exactly where row `r` of window `k` stopped,
/// so a recurrent network may start window `k + 1` from the state window `k` ended in: the
/// state carries information across windows, the gradient does not (it is truncated at the
/// window's start). An epoch is `L / T` windows (the last `L mod T` characters of each stream
/// are not read); the characters that tie the streams together (`r·L − 1` to `r·L`) are the
/// only pairs never seen as input and target.
///
/// ```
/// use nanotorch::Tokens;
/// use nanotorch::data::CharStreams;
/// use nanotorch::shape::{U3, U8};
///
/// let ids: Vec<usize> = (0..8).collect(); // 0 1 2 3 4 5 6 7
/// // Two streams: 0 1 2 | 3 4 5 (L = 7 / 2 = 3), one window of 3 each.
/// let mut streams = CharStreams::<U3, U8>::new("ids", "whole", ids.len(), 2)?;
/// assert_eq!((streams.stream_len(), streams.windows()), (3, 1));
/// let (mut x, mut y) = (Tokens::default(), Vec::new());
/// streams.fill(&ids, 0, &mut x, &mut y)?;
/// assert_eq!(x.ids(), &[0, 1, 2, 3, 4, 5]);
/// assert_eq!(y, [1, 2, 3, 4, 5, 6].map(Some));
/// # Ok::<(), nanotorch::data::DataError>(())
/// ```
///
/// Like [`CharBatcher`], it owns one scratch buffer of `B·T` ids: once the caller's buffers
/// have held a batch, [`CharStreams::fill`] allocates nothing.
#[derive(Clone, Debug)]
pub struct CharStreams<T: StaticDim, V: StaticDim> {
    len: usize,
    batch: usize,
    stream_len: usize,
    scratch: Vec<usize>,
    _dims: PhantomData<(T, V)>,
}

impl<T: StaticDim, V: StaticDim> CharStreams<T, V> {
    /// Streams over `len` ids cut into `batch` rows; `origin` and `part` name the ids in the
    /// error.
    ///
    /// # Errors
    /// - [`DataError::Invalid`] for a batch of 0;
    /// - [`DataError::TooShortForStreams`] when a stream would be shorter than one window
    ///   (`len < batch · T + 1`).
    pub fn new(
        origin: &str,
        part: &'static str,
        len: usize,
        batch: usize,
    ) -> Result<Self, DataError> {
        if batch == 0 {
            return Err(DataError::Invalid {
                what: "the number of streams (the batch size) must be at least 1",
                found: "0".into(),
            });
        }
        let needed = batch.saturating_mul(T::SIZE).saturating_add(1);
        if len < needed {
            return Err(DataError::TooShortForStreams {
                origin: origin.to_string(),
                part,
                len,
                streams: batch,
                context: T::SIZE,
                needed,
            });
        }
        Ok(Self {
            len,
            batch,
            stream_len: (len - 1) / batch,
            scratch: Vec::with_capacity(batch * T::SIZE),
            _dims: PhantomData,
        })
    }

    /// The number of streams (rows of every batch).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Characters per stream, `L = (len − 1) / B`.
    pub fn stream_len(&self) -> usize {
        self.stream_len
    }

    /// Windows per epoch, `L / T` (at least 1).
    pub fn windows(&self) -> usize {
        self.stream_len / T::SIZE
    }

    /// Fills window `window` (`< windows()`) of every stream of `ids` into `x` (`[B, T]`) and
    /// their next-character targets into `targets` (`B·T` entries, all `Some`).
    ///
    /// # Errors
    /// - [`DataError::Invalid`] when `ids` is not as long as the streams were made for, or
    ///   `window ≥ windows()`;
    /// - [`DataError::Shape`] when an id is `≥ V` (ids from another vocabulary).
    ///
    /// On error `x` is left unchanged and `targets` is empty.
    pub fn fill(
        &mut self,
        ids: &[usize],
        window: usize,
        x: &mut Tokens<T, V>,
        targets: &mut Vec<Option<usize>>,
    ) -> Result<(), DataError> {
        targets.clear();
        if ids.len() != self.len {
            return Err(DataError::Invalid {
                what: "streams filled from ids of another length than they were made for",
                found: format!("{} ids for streams over {}", ids.len(), self.len),
            });
        }
        if window >= self.windows() {
            return Err(DataError::Invalid {
                what: "a window past the end of the streams",
                found: format!("window {window} of {}", self.windows()),
            });
        }
        let t = T::SIZE;
        self.scratch.clear();
        for r in 0..self.batch {
            let start = r * self.stream_len + window * t;
            self.scratch.extend_from_slice(&ids[start..start + t]);
            targets.extend(ids[start + 1..start + t + 1].iter().map(|&id| Some(id)));
        }
        if let Err(e) = x.assign_from_slice(self.batch, &self.scratch) {
            targets.clear();
            return Err(e.into());
        }
        Ok(())
    }
}
