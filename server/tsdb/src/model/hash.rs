//! The fast, non-cryptographic hasher (rustc's Fx hash, from the `rustc-hash` crate) for
//! in-memory maps keyed by label sets, label strings and symbol ids (the store's index, ingest's
//! batching, the symbol interner and the query engine). Keys come from clients, but every lookup
//! compares the full key, so a collision costs time, never a wrong answer.

pub use rustc_hash::{FxBuildHasher as FxBuild, FxHashMap, FxHashSet, FxHasher};

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash_of(v: impl Hash) -> u64 {
        FxBuild.hash_one(v)
    }

    #[test]
    fn strings_differing_in_a_trailing_byte_or_length_hash_apart() {
        // Arrange
        let inputs = ["", "a", "a\0", "ab", "abcdefgh", "abcdefgh\0", "abcdefgi"];

        // Act
        let hashes: std::collections::HashSet<u64> = inputs.iter().map(hash_of).collect();

        // Assert
        assert_eq!(hashes.len(), inputs.len());
    }
}
