//! Micro-benchmarks of the protocol core (placeholder until filled in).
fn main() {}
