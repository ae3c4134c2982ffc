//! Test helpers: the TBF builder (from kernel-mock) and the deterministic
//! random generator (from flashsim).

#![allow(dead_code, unused_imports)] // Each test binary uses a different part.

pub use kernel_mock::tbf::*;

/// The simulator's deterministic generator: one generator for every
/// test in the repository.
pub use flashsim::Rng;
