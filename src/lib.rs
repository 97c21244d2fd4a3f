//! Tests, lessons and examples of NanoTorch.
//!
//! - [`lessons`]: the course — fourteen lessons from tensors to training on real data, each
//!   with runnable code (compiled and run as doc tests) and the compile errors of its
//!   classic mistakes. Build it with `scripts/build_lessons.sh` (math rendered offline).
//! - [`bench_models`]: the four networks and training steps the speed benchmarks time;
//!   [`bench_processes`]: running the benchmarks' worker processes.
//! - `tests/`: gradient checks, PyTorch parity, and the compile-fail cases under `tests/ui/`.
//! - `examples/`: runnable programs.

pub mod bench_models;
pub mod bench_processes;
pub mod lessons;
