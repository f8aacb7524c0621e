//! Placeholder until the trace replay benchmark lands.
fn main() {}
