//! Every series' head, by id, in blocks of a fixed size. Growing adds a block: it never copies
//! the heads already there, nor leaves a doubled capacity or the old copy's freed memory behind
//! (a `Vec` of a million heads grew by copying 190 MB, and kept up to twice what it held).

use std::ops::{Index, IndexMut, Range};

use super::head::HeadSeries;

/// Heads in a block: 4,096 heads are under a megabyte.
const BLOCK: usize = 4096;

/// The heads of series `0..len()`.
#[derive(Debug, Default)]
pub struct Heads {
    blocks: Vec<Box<[HeadSeries]>>,
    len: usize,
}

impl Heads {
    /// How many series have a head.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Grows to `len` heads, new ones empty (never shrinks).
    pub fn grow_to(&mut self, len: usize) {
        while self.blocks.len() * BLOCK < len {
            self.blocks.push(
                std::iter::repeat_with(HeadSeries::default)
                    .take(BLOCK)
                    .collect(),
            );
        }
        self.len = self.len.max(len);
    }

    /// The head of series `id`, if it has one.
    pub fn get(&self, id: usize) -> Option<&HeadSeries> {
        (id < self.len).then(|| &self.blocks[id / BLOCK][id % BLOCK])
    }

    /// The head of series `id`, if it has one, to change.
    pub fn get_mut(&mut self, id: usize) -> Option<&mut HeadSeries> {
        (id < self.len).then(|| &mut self.blocks[id / BLOCK][id % BLOCK])
    }

    /// The heads of series `ids`, in order (as far as there are heads).
    pub fn range(&self, ids: Range<usize>) -> impl Iterator<Item = &HeadSeries> {
        let end = ids.end.min(self.len);
        (ids.start..end).map(|id| &self.blocks[id / BLOCK][id % BLOCK])
    }

    /// Every head, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &HeadSeries> {
        self.range(0..self.len)
    }
}

impl Index<usize> for Heads {
    type Output = HeadSeries;

    fn index(&self, id: usize) -> &HeadSeries {
        self.get(id)
            .unwrap_or_else(|| panic!("series {id} has no head (of {})", self.len))
    }
}

impl IndexMut<usize> for Heads {
    fn index_mut(&mut self, id: usize) -> &mut HeadSeries {
        let len = self.len;
        self.get_mut(id)
            .unwrap_or_else(|| panic!("series {id} has no head (of {len})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_grow_by_blocks_and_keep_what_they_hold() {
        let mut heads = Heads::default();
        heads.grow_to(3);
        heads[2].append(1_000, 1.5);
        heads.grow_to(BLOCK + 5);
        assert_eq!(heads.len(), BLOCK + 5);
        assert_eq!(heads.blocks.len(), 2);
        assert_eq!(heads[2].last(), Some((1_000, 1.5f64.to_bits())));
        heads[BLOCK + 4].append(2_000, 2.5);
        assert!(heads.get(BLOCK + 5).is_none());
        heads.grow_to(4);
        assert_eq!(heads.len(), BLOCK + 5, "never shrinks");
        let seen: Vec<usize> = (heads.range(BLOCK..BLOCK + 10))
            .enumerate()
            .filter_map(|(i, h)| h.last().map(|_| BLOCK + i))
            .collect();
        assert_eq!(seen, vec![BLOCK + 4]);
        assert_eq!(heads.iter().count(), BLOCK + 5);
    }
}
