//! The cutover running in the server.

/// The running cutover.
pub struct Cutover {}
