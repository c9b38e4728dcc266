//! The process-wide symbol table: decoding the same label name or value again yields the same
//! shared [`Sym`] instead of a new allocation, and the store's index, which keeps the symbols it
//! is given, then recognises a known label set by comparing pointers rather than text.
//!
//! Strings only the table still holds (label values that churned away, such as old pod names)
//! are swept out whenever the table has doubled since the last sweep.

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

/// The locked symbol table (see [`with_interner`]).
#[derive(Debug)]
pub struct Interner {
    strings: FxHashSet<Sym>,
    sweep_at: usize,
}

impl Interner {
    /// The shared symbol for `s`, made on first sight.
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(sym) = self.strings.get(s) {
            return sym.clone();
        }
        if self.strings.len() >= self.sweep_at {
            self.strings.retain(|sym| !sym.is_unique());
            self.sweep_at = (self.strings.len() * 2).max(MIN_SWEEP);
        }
        let sym = Sym::from(s);
        self.strings.insert(sym.clone());
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
        let (a, b) = with_interner(|t| (t.intern("intern-test-node"), t.intern("intern-test-node")));
        let other = Sym::interned("intern-test-pod");

        // Assert
        assert!(a.ptr_eq(&b));
        assert_eq!(a, "intern-test-node");
        assert!(!a.ptr_eq(&other));
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
