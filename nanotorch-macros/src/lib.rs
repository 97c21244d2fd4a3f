//! The `network!` macro of NanoTorch.
