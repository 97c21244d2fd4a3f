//! Tests, lessons and examples of NanoTorch live in `tests/` and `examples/`.

pub mod bench_models;
