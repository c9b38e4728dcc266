//! [`Sym`]: a shared, immutable string for label names and values.
//!
//! Label sets are built for every selected series on every query; with `String`s that was two
//! allocations per label. A `Sym` is an `Arc<str>`, so the store's index hands out clones of the
//! strings it interned (a reference count, no copy) and cloning a label set copies no text.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// An immutable, cheaply cloned string; compares, orders and hashes as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(Arc<str>);

impl Sym {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared symbol for `s` from the process-wide table ([`super::intern`]): the same
    /// text gives the same pointer, without a new allocation once seen.
    pub fn interned(s: &str) -> Sym {
        super::intern::with_interner(|table| table.intern(s))
    }

    /// True when both are the same shared string (then their texts are equal; the converse
    /// does not hold).
    pub fn ptr_eq(&self, other: &Sym) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The address of the shared text: equal for clones and interned equal strings.
    pub fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// True when no other clone of this string exists.
    pub(super) fn is_unique(&self) -> bool {
        Arc::strong_count(&self.0) == 1
    }
}

impl Default for Sym {
    fn default() -> Self {
        Sym(Arc::from(""))
    }
}

impl Deref for Sym {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sym {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<Arc<str>> for Sym {
    fn from(s: Arc<str>) -> Self {
        Sym(s)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Self {
        Sym(Arc::from(s))
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Self {
        Sym(Arc::from(s))
    }
}

impl From<&String> for Sym {
    fn from(s: &String) -> Self {
        Sym(Arc::from(s.as_str()))
    }
}

impl From<Sym> for String {
    fn from(s: Sym) -> Self {
        s.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for Sym {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Sym {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Sym {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Sym> for str {
    fn eq(&self, other: &Sym) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Sym> for &str {
    fn eq(&self, other: &Sym) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Sym> for String {
    fn eq(&self, other: &Sym) -> bool {
        **self == *other.0
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_sym_compares_and_hashes_as_its_text() {
        // Arrange
        let sym = Sym::from("node");
        let hasher = std::collections::hash_map::RandomState::new();

        // Act
        let same_hash = hasher.hash_one(&sym) == hasher.hash_one("node");

        // Assert
        assert!(same_hash);
        assert_eq!(sym, "node");
        assert_eq!(sym, String::from("node"));
        let (a, b) = (Sym::from("a"), Sym::from("b"));
        assert!(a < b);
        assert_eq!(format!("{sym} {sym:?}"), "node \"node\"");
    }
}
