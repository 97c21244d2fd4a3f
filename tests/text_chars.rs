//! The character-level text pipeline (`nanotorch::data::{CharVocab, CharCorpus, CharBatcher,
//! CharStreams}`, `datasets::shakespeare`) and the token sampler (`nanotorch::sample::Sampler`): what they
//! return, and a typed error — never a panic — for every bad input.

use nanotorch::Tokens;
use nanotorch::data::{CharBatcher, CharCorpus, CharStreams, CharVocab, DataError, datasets};
use nanotorch::sample::Sampler;
use nanotorch::seeded_rng;
use nanotorch::shape::{U3, U4, U8, U16, U64, U73};

// ---------------------------------------------------------------------------------------------
// Vocabulary

#[test]
fn vocabulary_is_sorted_distinct_characters_and_round_trips() {
    let text = "Ham. To be, or not to be — ça?\nOph. Ay.";
    let vocab = CharVocab::from_text(text);
    let mut expected: Vec<char> = text.chars().collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(vocab.chars(), expected.as_slice());
    let ids = vocab.encode(text).unwrap();
    assert_eq!(ids.len(), text.chars().count());
    for (id, c) in ids.iter().zip(text.chars()) {
        assert_eq!(vocab.chars()[*id], c);
        assert_eq!(vocab.id(c), Some(*id));
    }
    assert_eq!(vocab.decode(&ids).unwrap(), text);
    // Non-ASCII characters sort after ASCII ones, by code point.
    assert_eq!(vocab.chars().last(), Some(&'—'));
    assert_eq!(vocab.id('ç'), Some(vocab.len() - 2));
}

#[test]
fn unknown_character_is_an_error_naming_it_and_its_place() {
    let vocab = CharVocab::from_text("abc\n");
    let err = vocab.encode("ab\ncaXb").unwrap_err();
    match &err {
        DataError::UnknownChar {
            ch,
            position,
            line,
            column,
            vocab_size,
        } => {
            assert_eq!(
                (*ch, *position, *line, *column, *vocab_size),
                ('X', 5, 2, 3, 4)
            );
        }
        other => panic!("expected UnknownChar, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "character 'X' (U+0058) at position 5 (line 2, column 3) is not in the vocabulary of 4 characters"
    );
    // A non-ASCII character, counted in characters, not bytes.
    let err = vocab.encode("aé").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::UnknownChar {
                ch: 'é',
                position: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unknown_id_is_an_error() {
    let vocab = CharVocab::from_text("ab");
    let err = vocab.decode(&[0, 1, 2]).unwrap_err();
    assert!(matches!(
        err,
        DataError::UnknownId {
            id: 2,
            position: 2,
            vocab_size: 2
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// Corpus and split

#[test]
fn shakespeare_is_the_shipped_text_split_90_10() {
    let corpus = datasets::shakespeare().unwrap();
    assert_eq!(corpus.len(), 1_158_234);
    assert_eq!(corpus.vocab().len(), 73);
    assert_eq!(corpus.train().len(), 1_042_410);
    assert_eq!(corpus.validation().len(), 1_158_234 - 1_042_410);
    assert_eq!(
        corpus.train().len() + corpus.validation().len(),
        corpus.len()
    );
    assert_eq!(corpus.vocab().chars()[0], '\n');
    // The text starts with the first play's title.
    let start = corpus.vocab().decode(&corpus.ids()[..40]).unwrap();
    assert!(start.to_lowercase().contains("antony"), "{start:?}");
    corpus.check_fits::<U64, U73>().unwrap();
}

#[test]
fn split_is_first_90_percent() {
    let corpus = CharCorpus::new("ten", "abcdefghij").unwrap();
    assert_eq!(corpus.vocab().decode(corpus.train()).unwrap(), "abcdefghi");
    assert_eq!(corpus.vocab().decode(corpus.validation()).unwrap(), "j");
    let corpus = CharCorpus::new("x", "0123456789012345678").unwrap(); // 19 · 9 / 10 = 17
    assert_eq!(corpus.train().len(), 17);
}

#[test]
fn a_file_goes_through_the_same_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poem.txt");
    std::fs::write(
        &path,
        "Shall I compare thee to a summer's day?\n".repeat(20),
    )
    .unwrap();
    let corpus = CharCorpus::from_file(&path).unwrap();
    assert_eq!(corpus.len(), 40 * 20);
    assert_eq!(corpus.origin(), path.display().to_string());
}

// ---------------------------------------------------------------------------------------------
// Bad files

#[test]
fn missing_file_is_io_error() {
    let err = CharCorpus::from_file("/nonexistent/nanotorch/text.txt").unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
}

#[test]
fn not_utf8_is_an_error() {
    let err = CharCorpus::from_bytes("latin1.txt", b"caf\xe9 au lait").unwrap_err();
    assert!(
        matches!(&err, DataError::NotUtf8 { origin, valid_up_to: 3 } if origin == "latin1.txt"),
        "{err:?}"
    );
    assert!(err.to_string().contains("not UTF-8"));
}

#[test]
fn empty_text_is_an_error() {
    let err = CharCorpus::from_bytes("empty.txt", b"").unwrap_err();
    assert!(matches!(&err, DataError::EmptyText { origin } if origin == "empty.txt"));
}

#[test]
fn text_shorter_than_a_window_is_an_error() {
    // 40 characters: 36 train, 4 validation; a context of 8 needs 9 in each part.
    let corpus = CharCorpus::new("short.txt", &"abcd".repeat(10)).unwrap();
    let err = corpus.check_fits::<U8, U16>().unwrap_err();
    assert!(
        matches!(
            &err,
            DataError::TextTooShort {
                part: "validation",
                len: 4,
                context: 8,
                needed: 9,
                ..
            }
        ),
        "{err:?}"
    );
    let err = CharBatcher::<U8, U16>::new(&corpus).unwrap_err();
    assert!(matches!(err, DataError::TextTooShort { .. }));
    // A 5-character text is too short for training too.
    let corpus = CharCorpus::new("tiny.txt", "abcde").unwrap();
    let err = corpus.check_fits::<U8, U16>().unwrap_err();
    assert!(matches!(
        err,
        DataError::TextTooShort {
            part: "training",
            len: 4,
            ..
        }
    ));
}

#[test]
fn more_characters_than_the_model_vocabulary_is_an_error() {
    let text: String = "abcdefghijklmnopqrstuvwxyz".repeat(4);
    let corpus = CharCorpus::new("alphabet.txt", &text).unwrap();
    let err = corpus.check_fits::<U4, U16>().unwrap_err();
    assert!(
        matches!(
            &err,
            DataError::VocabularyTooLarge { found: 26, capacity: 16, origin } if origin == "alphabet.txt"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("26 distinct characters"));
    assert!(CharBatcher::<U4, U16>::new(&corpus).is_err());
    // The shipped text needs 73.
    let err = datasets::shakespeare()
        .unwrap()
        .check_fits::<U64, U64>()
        .unwrap_err();
    assert!(matches!(
        err,
        DataError::VocabularyTooLarge {
            found: 73,
            capacity: 64,
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// Batches

#[test]
fn batches_are_windows_with_next_character_targets() {
    let text: String = (0..200)
        .map(|i| char::from(b'a' + (i % 7) as u8 + (i % 3) as u8))
        .collect();
    let corpus = CharCorpus::new("t", &text).unwrap();
    let mut batcher = CharBatcher::<U8, U16>::new(&corpus).unwrap();
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    let mut rng = seeded_rng(3);
    batcher
        .fill(corpus.train(), 12, &mut rng, &mut x, &mut y)
        .unwrap();
    assert_eq!(x.dims(), [12, 8]);
    assert_eq!(y.len(), 12 * 8);
    let train = corpus.train();
    for b in 0..12 {
        let row = &x.ids()[b * 8..(b + 1) * 8];
        // The row is a window of the training ids ...
        let start = (0..=train.len() - 9)
            .find(|&s| {
                &train[s..s + 8] == row && (0..8).all(|t| y[b * 8 + t] == Some(train[s + t + 1]))
            })
            .expect("a window of the training part with its next characters");
        assert!(start + 8 < train.len());
    }
    // Seeded: the same seed gives the same batch, another seed another.
    let (mut x2, mut y2) = (Tokens::default(), Vec::new());
    batcher
        .fill(corpus.train(), 12, &mut seeded_rng(3), &mut x2, &mut y2)
        .unwrap();
    assert_eq!((x.ids(), &y), (x2.ids(), &y2));
    batcher
        .fill(corpus.train(), 12, &mut seeded_rng(4), &mut x2, &mut y2)
        .unwrap();
    assert_ne!(x.ids(), x2.ids());
}

#[test]
fn batches_cover_every_start_including_the_last() {
    // 10 ids, context 8: starts 0 and 1 only (the last window ends one before the end).
    let corpus = CharCorpus::new("t", &"0123456789".repeat(11)).unwrap();
    let ids: Vec<usize> = corpus.ids()[..10].to_vec();
    let mut batcher = CharBatcher::<U8, U16>::new(&corpus).unwrap();
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    batcher
        .fill(&ids, 64, &mut seeded_rng(0), &mut x, &mut y)
        .unwrap();
    let firsts: std::collections::BTreeSet<usize> = x.ids().chunks(8).map(|r| r[0]).collect();
    assert_eq!(firsts.into_iter().collect::<Vec<_>>(), vec![ids[0], ids[1]]);
    assert!(y.iter().all(|t| t.is_some()));
}

#[test]
fn batch_from_too_few_or_foreign_ids_is_an_error() {
    let corpus = CharCorpus::new("t", &"abcdefgh".repeat(20)).unwrap();
    let mut batcher = CharBatcher::<U8, U16>::new(&corpus).unwrap();
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    let err = batcher
        .fill(&corpus.ids()[..8], 2, &mut seeded_rng(0), &mut x, &mut y)
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TextTooShort {
                len: 8,
                needed: 9,
                ..
            }
        ),
        "{err:?}"
    );
    // Ids of a larger vocabulary than the model's 16.
    let foreign = vec![20usize; 30];
    let err = batcher
        .fill(&foreign, 2, &mut seeded_rng(0), &mut x, &mut y)
        .unwrap_err();
    assert!(matches!(err, DataError::Shape(_)), "{err:?}");
    assert_eq!(x.batch(), 0);
    assert!(y.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Consecutive streams (truncated BPTT)

#[test]
fn streams_continue_where_the_last_window_stopped() {
    // 2 streams of L = (30 − 1) / 2 = 14 ids, windows of 4: 3 per epoch (ids 12, 13 of each
    // stream are never read).
    let ids: Vec<usize> = (0..30).map(|i| i % 16).collect();
    let mut streams = CharStreams::<U4, U16>::new("t", "training", ids.len(), 2).unwrap();
    assert_eq!(
        (streams.batch(), streams.stream_len(), streams.windows()),
        (2, 14, 3)
    );
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); 2];
    for k in 0..streams.windows() {
        streams.fill(&ids, k, &mut x, &mut y).unwrap();
        assert_eq!(x.dims(), [2, 4]);
        for (r, row) in x.ids().chunks(4).enumerate() {
            // Each target is the id after its input, within the stream.
            let targets: Vec<usize> = y[r * 4..(r + 1) * 4].iter().map(|t| t.unwrap()).collect();
            assert_eq!(
                targets,
                row.iter().map(|&i| (i + 1) % 16).collect::<Vec<_>>()
            );
            rows[r].extend_from_slice(row);
        }
    }
    // Read in order, window after window, each row is one contiguous stretch of the text.
    assert_eq!(rows[0], (0..12).collect::<Vec<_>>());
    assert_eq!(rows[1], (14..26).map(|i| i % 16).collect::<Vec<_>>());
}

#[test]
fn streams_over_too_short_a_text_or_foreign_ids_are_errors() {
    // 32 streams of a window of 64 need 32·64 + 1 = 2049 characters.
    let err = CharStreams::<U64, U73>::new("short.txt", "validation", 2048, 32).unwrap_err();
    assert!(
        matches!(
            &err,
            DataError::TooShortForStreams {
                part: "validation",
                len: 2048,
                streams: 32,
                context: 64,
                needed: 2049,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("32 streams"), "{err}");
    assert!(CharStreams::<U64, U73>::new("ok", "training", 2049, 32).is_ok());
    let err = CharStreams::<U4, U16>::new("t", "training", 100, 0).unwrap_err();
    assert!(matches!(err, DataError::Invalid { .. }), "{err:?}");

    let mut streams = CharStreams::<U3, U16>::new("t", "training", 13, 2).unwrap();
    let (mut x, mut y) = (Tokens::default(), Vec::new());
    // Other ids than the streams were cut for, a window past the end, ids of another
    // vocabulary: errors, `x` unchanged, no targets.
    let err = streams.fill(&[1; 12], 0, &mut x, &mut y).unwrap_err();
    assert!(matches!(err, DataError::Invalid { .. }), "{err:?}");
    let err = streams.fill(&[1; 13], 2, &mut x, &mut y).unwrap_err();
    assert!(err.to_string().contains("window 2 of 2"), "{err}");
    let err = streams.fill(&[20; 13], 0, &mut x, &mut y).unwrap_err();
    assert!(matches!(err, DataError::Shape(_)), "{err:?}");
    assert_eq!(x.batch(), 0);
    assert!(y.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Sampling

#[test]
fn top_k_keeps_exactly_k_even_with_ties() {
    let logits = [0.5f32, 2.0, 2.0, 2.0, -3.0, 1.0];
    for k in 1..=6 {
        let mut s = Sampler::new(1.0, Some(k)).unwrap();
        let p = s.probabilities(&logits).unwrap();
        assert_eq!(p.iter().filter(|&&p| p > 0.0).count(), k, "k = {k}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // k = 2 keeps the two smallest ids among the tied largest logits.
    let mut s = Sampler::new(1.0, Some(2)).unwrap();
    let p = s.probabilities(&logits).unwrap().to_vec();
    assert!(p[1] > 0.0 && p[2] > 0.0 && p[3] == 0.0);
    // k beyond V keeps all.
    let mut s = Sampler::new(1.0, Some(100)).unwrap();
    let p = s.probabilities(&logits).unwrap();
    assert!(p.iter().all(|&p| p > 0.0));
}

#[test]
fn probabilities_are_the_tempered_softmax() {
    let logits = [1.0f64, 2.0, 0.0];
    let mut s = Sampler::new(0.5, None).unwrap();
    let p = s.probabilities(&logits).unwrap();
    let e: Vec<f64> = logits.iter().map(|z| (z / 0.5).exp()).collect();
    let total: f64 = e.iter().sum();
    for (p, e) in p.iter().zip(&e) {
        assert!((p - e / total).abs() < 1e-15);
    }
}

#[test]
fn temperature_towards_zero_is_argmax() {
    let logits = [0.3f32, -1.0, 0.9, 0.899];
    let mut rng = seeded_rng(0);
    let mut greedy = Sampler::new(0.0, None).unwrap();
    for _ in 0..20 {
        assert_eq!(greedy.sample(&logits, &mut rng).unwrap(), 2);
    }
    // A tiny temperature puts all the mass on the argmax too.
    let mut cold = Sampler::new(1e-5, None).unwrap();
    let p = cold.probabilities(&logits).unwrap();
    assert!(p[2] > 1.0 - 1e-12, "{p:?}");
    for _ in 0..20 {
        assert_eq!(cold.sample(&logits, &mut rng).unwrap(), 2);
    }
}

#[test]
fn seeded_draws_repeat_and_follow_the_distribution() {
    let logits = [0.0f32, 1.0, 2.0, 0.5];
    let draw = |seed| {
        let mut rng = seeded_rng(seed);
        let mut s = Sampler::new(1.0, Some(3)).unwrap();
        (0..4000)
            .map(|_| s.sample(&logits, &mut rng).unwrap())
            .collect::<Vec<_>>()
    };
    let a = draw(7);
    assert_eq!(a, draw(7));
    assert_ne!(a, draw(8));
    // Id 0 is outside the top 3 and never drawn; the others at their frequencies.
    let mut s = Sampler::new(1.0, Some(3)).unwrap();
    let p = s.probabilities(&logits).unwrap().to_vec();
    assert_eq!(p[0], 0.0);
    for (id, &want) in p.iter().enumerate() {
        let freq = a.iter().filter(|&&i| i == id).count() as f64 / a.len() as f64;
        assert!((freq - want).abs() < 0.03, "id {id}: {freq} vs {want}");
    }
}

#[test]
fn bad_settings_and_logits_are_errors() {
    assert!(Sampler::new(-0.1, None).is_err());
    assert!(Sampler::new(f64::NAN, None).is_err());
    assert!(Sampler::new(1.0, Some(0)).is_err());
    let mut s = Sampler::new(1.0, None).unwrap();
    let mut rng = seeded_rng(0);
    assert!(s.sample::<f32, _>(&[], &mut rng).is_err());
    assert!(s.sample(&[0.0f32, f32::NAN], &mut rng).is_err());
    assert!(s.sample(&[0.0f32, f32::INFINITY], &mut rng).is_err());
}
