//! The protocol core's tests in one binary: the published vectors and conformance suites, the
//! matching engine against a reference matcher (on every kernel the CPU has), and the parsers fed real, random and mutated bytes.
//!
//! proptest keeps each module's regression seeds in `tests/proptest-regressions/<module>.txt`: its
//! layout for a test binary with a `main.rs`.

mod en_vectors;
mod export_files;
mod kernels;
mod matching;
mod risk_v1;
mod risk_v2;
