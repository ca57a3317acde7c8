//! The `network-server` binary (to be written).
fn main() {}
