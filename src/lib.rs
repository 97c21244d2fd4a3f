//! Tests, lessons and examples of NanoTorch.
//!
//! - [`lessons`]: the course — twenty-four lessons from tensors to convolutional networks,
//!   a GPT, language models on real text and how a convolution is made fast, each with
//!   runnable code (compiled and run as doc tests) and the compile errors of its classic
//!   mistakes. Build it with `scripts/build_lessons.sh` (math rendered offline).
//! - [`char_lm`]: what the character-level language models of `examples/` share (command
//!   line, training loop, sampling loop).
//! - [`bench_models`]: the networks and training steps the speed benchmarks time;
//!   [`bench_processes`]: running the benchmarks' worker processes.
//! - `tests/`: gradient checks, PyTorch parity, and the compile-fail cases under `tests/ui/`.
//! - `examples/`: runnable programs.

pub mod bench_models;
pub mod bench_processes;
pub mod char_lm;
pub mod lessons;
