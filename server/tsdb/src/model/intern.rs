//! The process-wide symbol table: decoding the same label name or value again yields the same
//! shared [`Sym`] instead of a new allocation, and the store's index, which keeps the symbols it
//! is given, then recognises a known label set by comparing pointers rather than text.
//!
//! Strings only the table still holds (label values that churned away, such as old pod names)
//! are swept out whenever the table has doubled since the last sweep.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::str::Utf8Error;
use std::sync::{LazyLock, Mutex};

use super::Sym;
use super::hash::FxHashSet;

/// The table never sweeps below this many strings.
const MIN_SWEEP: usize = 1 << 16;

static TABLE: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        strings: FxHashSet::default(),
        sweep_at: MIN_SWEEP,
    })
});

/// A table entry, found by its bytes, so that a decoder checks UTF-8 only for new strings.
#[derive(Debug, PartialEq, Eq)]
struct Entry(Sym);

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Entry {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The locked symbol table (see [`with_interner`]).
#[derive(Debug)]
pub struct Interner {
    strings: FxHashSet<Entry>,
    sweep_at: usize,
}

impl Interner {
    /// The shared symbol for `s`, made on first sight.
    pub fn intern(&mut self, s: &str) -> Sym {
        match self.strings.get(s.as_bytes()) {
            Some(entry) => entry.0.clone(),
            None => self.insert(s),
        }
    }

    /// The shared symbol for the text `bytes`, or why they are not UTF-8.
    pub fn intern_bytes(&mut self, bytes: &[u8]) -> Result<Sym, Utf8Error> {
        match self.strings.get(bytes) {
            Some(entry) => Ok(entry.0.clone()),
            None => Ok(self.insert(std::str::from_utf8(bytes)?)),
        }
    }

    fn insert(&mut self, s: &str) -> Sym {
        if self.strings.len() >= self.sweep_at {
            self.strings.retain(|entry| !entry.0.is_unique());
            self.sweep_at = (self.strings.len() * 2).max(MIN_SWEEP);
        }
        let sym = Sym::from(s);
        self.strings.insert(Entry(sym.clone()));
        sym
    }

    /// How many strings the table holds.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// True when the table holds no string.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

/// Runs `f` with the symbol table locked: intern a whole label set under one lock.
pub fn with_interner<R>(f: impl FnOnce(&mut Interner) -> R) -> R {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_interns_to_the_same_shared_string() {
        // Act
        let (a, b) =
            with_interner(|t| (t.intern("intern-test-node"), t.intern("intern-test-node")));
        let other = Sym::interned("intern-test-pod");

        // Assert
        assert!(a.ptr_eq(&b));
        assert_eq!(a, "intern-test-node");
        assert!(!a.ptr_eq(&other));
        let from_bytes = with_interner(|t| t.intern_bytes(b"intern-test-node"));
        assert!(from_bytes.unwrap().ptr_eq(&a));
        assert!(with_interner(|t| t.intern_bytes(b"\xff\xfe")).is_err());
    }

    #[test]
    fn a_sweep_keeps_strings_still_held_and_drops_the_others() {
        // Arrange
        let mut table = Interner {
            strings: FxHashSet::default(),
            sweep_at: 3,
        };
        let kept = table.intern("kept");
        table.intern("dropped-1");
        table.intern("dropped-2");

        // Act: the fourth string finds the table full and sweeps it first.
        table.intern("new");

        // Assert
        assert_eq!(table.len(), 2);
        assert!(table.intern("kept").ptr_eq(&kept));
    }
}
