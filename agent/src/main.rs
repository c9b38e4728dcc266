//! The `warroom-agent` binary.

fn main() {}
