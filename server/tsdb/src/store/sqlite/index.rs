//! The in-memory label index: series id ↔ label set, and postings (name → value → sorted ids).
//!
//! Label names and values are interned once ([`Symbols`]), so a series costs two `u32`s per label
//! plus one posting entry per label, whatever the length of its strings. The strings themselves
//! are the process-wide symbols ([`crate::model::intern`]) that ingest decodes into, so looking
//! up a known label set mostly compares pointers, not text. Matchers are answered by
//! intersecting the postings of the matchers that cannot match an empty value, then filtering the
//! candidates by the others (negative and empty-matching matchers), each evaluated once per
//! distinct value rather than once per series.

use crate::model::varint;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::Hasher;
use std::sync::OnceLock;

use crate::model::hash::FxHashMap;
use crate::model::hash::FxHasher;
use crate::model::{Label, Labels, Matcher, Sym};
use crate::store::WireLabels;

/// Interned strings: each distinct label name or value is stored once.
#[derive(Debug, Default)]
struct Symbols {
    ids: FxHashMap<Sym, u32>,
    strings: Vec<Sym>,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        let shared = Sym::interned(s);
        self.strings.push(shared.clone());
        self.ids.insert(shared, id);
        id
    }

    /// Whether symbol `id` is `s`: by pointer when both come from the symbol table.
    fn is(&self, id: u32, s: &Sym) -> bool {
        let mine = &self.strings[id as usize];
        mine.ptr_eq(s) || mine.as_str() == s.as_str()
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    fn str(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    /// The shared string itself, for label sets handed out without copying text.
    fn sym(&self, id: u32) -> Sym {
        self.strings[id as usize].clone()
    }

    /// Each symbol's position in string order, so that label sets sort without string compares.
    fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.strings.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.str(a).cmp(self.str(b)));
        let mut ranks = vec![0; order.len()];
        for (rank, &id) in order.iter().enumerate() {
            ranks[id as usize] = rank as u32;
        }
        ranks
    }
}

/// A series' labels as `(name, value)` symbol ids, sorted by name.
type Interned = Box<[(u32, u32)]>;

/// Every known series and its postings.
#[derive(Debug, Default)]
pub struct Index {
    symbols: Symbols,
    series: Vec<Option<Interned>>,
    /// Label-set hash → a series with that hash; `collisions` holds any others.
    by_hash: FxHashMap<u64, u32>,
    collisions: FxHashMap<u64, Vec<u32>>,
    postings: FxHashMap<u32, FxHashMap<u32, Vec<u32>>>,
    live: usize,
    /// [`Symbols::ranks`], computed by the first sort after a new symbol.
    ranks: OnceLock<Vec<u32>>,
    /// Each id's position among all series in label order, computed by the first sort after
    /// the set of series changed; later sorts compare one integer per id.
    order: OnceLock<Vec<u32>>,
    /// How many times series were removed: an id found in generation `g` is still live while
    /// the generation is `g` (ids are never reused while the process runs).
    generation: u64,
}

/// The hash under which a label set is looked up: of its text, so that a decoder hashes the
/// label bytes it reads ([`pairs_hash`]) to the same value.
pub fn labels_hash(labels: &Labels) -> u64 {
    pairs_hash(
        labels
            .iter()
            .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
    )
}

/// [`labels_hash`] of a label set given as `(name, value)` bytes.
pub fn pairs_hash<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
    let mut hasher = FxHasher::default();
    for (name, value) in pairs {
        // Lengths first, so that ("ab", "c") and ("a", "bc") hash apart.
        hasher.write_u64(((name.len() as u64) << 32) | value.len() as u64);
        hasher.write(name);
        hasher.write(value);
    }
    hasher.finish()
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live series.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no series is known.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Whether `id` is a live series.
    pub fn contains(&self, id: u32) -> bool {
        matches!(self.series.get(id as usize), Some(Some(_)))
    }

    /// The id the next new series gets.
    pub fn next_id(&self) -> u32 {
        self.series.len() as u32
    }

    /// The id of a known label set (`hash` from [`labels_hash`]).
    pub fn lookup(&self, labels: &Labels, hash: u64) -> Option<u32> {
        let first = *self.by_hash.get(&hash)?;
        if self.equals(first, labels) {
            return Some(first);
        }
        let others = self.collisions.get(&hash)?;
        others.iter().copied().find(|&id| self.equals(id, labels))
    }

    /// The id of the known label set whose names and values are exactly `pairs` (`hash` from
    /// [`pairs_hash`]): the text is compared, so a set not sorted as [`Labels`] is not found.
    pub fn lookup_pairs(&self, pairs: &WireLabels<'_>, hash: u64) -> Option<u32> {
        self.lookup_pairs_from(*self.by_hash.get(&hash)?, pairs, hash)
    }

    /// [`Index::lookup_pairs`] of many label sets (`hashes[i]` that of `sets[i]`), appended to
    /// `ids` in order. A part at a time, each step taken over the whole part before the next,
    /// so that the part's cache misses (hash table, then interned pairs) overlap instead of
    /// each set waiting on its own.
    pub fn lookup_many_pairs(
        &self,
        sets: &[&WireLabels<'_>],
        hashes: &[u64],
        ids: &mut Vec<Option<u32>>,
    ) {
        const PART: usize = 256;
        let mut firsts = Vec::with_capacity(PART);
        for (sets, hashes) in sets.chunks(PART).zip(hashes.chunks(PART)) {
            firsts.clear();
            firsts.extend(hashes.iter().map(|h| self.by_hash.get(h).copied()));
            let warm = (firsts.iter().flatten()).fold(0, |acc, &id| acc ^ self.first_symbol(id));
            std::hint::black_box(warm);
            ids.extend(
                (sets.iter().zip(hashes).zip(&firsts))
                    .map(|((pairs, &hash), first)| self.lookup_pairs_from((*first)?, pairs, hash)),
            );
        }
    }

    /// [`Index::lookup_pairs`] once the first series with the hash, `first`, is known.
    fn lookup_pairs_from(&self, first: u32, pairs: &WireLabels<'_>, hash: u64) -> Option<u32> {
        if self.equals_pairs(first, pairs) {
            return Some(first);
        }
        let others = self.collisions.get(&hash)?;
        others
            .iter()
            .copied()
            .find(|&id| self.equals_pairs(id, pairs))
    }

    /// The symbol of series `id`'s first label name (0 for none): read only to bring the
    /// series' interned pairs into the cache.
    fn first_symbol(&self, id: u32) -> u32 {
        match self.series.get(id as usize) {
            Some(Some(interned)) => interned.first().map_or(0, |&(name, _)| name),
            _ => 0,
        }
    }

    fn equals_pairs(&self, id: u32, pairs: &WireLabels<'_>) -> bool {
        let Some(Some(interned)) = self.series.get(id as usize) else {
            return false;
        };
        let text = |sym: u32| self.symbols.str(sym).as_bytes();
        interned.len() == pairs.len()
            && (interned.iter().zip(pairs))
                .all(|(&(n, v), &(name, value))| text(n) == name && text(v) == value)
    }

    /// The current generation (see the field).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn equals(&self, id: u32, labels: &Labels) -> bool {
        let Some(Some(interned)) = self.series.get(id as usize) else {
            return false;
        };
        interned.len() == labels.len()
            && interned
                .iter()
                .zip(labels.iter())
                .all(|(&(n, v), l)| self.symbols.is(n, &l.name) && self.symbols.is(v, &l.value))
    }

    /// Adds a series under `id` (ids at or past [`Index::next_id`]; gaps are allowed).
    pub fn insert(&mut self, id: u32, labels: &Labels, hash: u64) {
        let interned: Interned = labels
            .iter()
            .map(|l| (self.symbols.intern(&l.name), self.symbols.intern(&l.value)))
            .collect();
        if self.symbols.strings.len() != self.ranks.get().map_or(0, Vec::len) {
            self.ranks = OnceLock::new();
        }
        for &(n, v) in interned.iter() {
            let list = self.postings.entry(n).or_default().entry(v).or_default();
            // Growing by a quarter, not doubling: a doubled list holds on average a third more
            // room than ids, for as long as the series live.
            if list.len() == list.capacity() {
                list.reserve_exact(list.len() / 4 + 4);
            }
            list.push(id);
        }
        if self.series.len() <= id as usize {
            self.series.resize(id as usize + 1, None);
        }
        self.series[id as usize] = Some(interned);
        self.order = OnceLock::new();
        if let Some(&first) = self.by_hash.get(&hash) {
            debug_assert_ne!(first, id);
            self.collisions.entry(hash).or_default().push(id);
        } else {
            self.by_hash.insert(hash, id);
        }
        self.live += 1;
    }

    /// Forgets the given series (retention, or a write that did not commit).
    pub fn remove(&mut self, ids: &HashSet<u32>) {
        self.order = OnceLock::new();
        self.generation += 1;
        let mut touched: HashSet<(u32, u32)> = HashSet::new();
        for &id in ids {
            if let Some(interned) = self.series.get_mut(id as usize).and_then(Option::take) {
                touched.extend(interned.iter().copied());
                self.live -= 1;
            }
        }
        for (n, v) in touched {
            if let Some(values) = self.postings.get_mut(&n) {
                if let Some(list) = values.get_mut(&v) {
                    list.retain(|id| !ids.contains(id));
                    if list.is_empty() {
                        values.remove(&v);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&n);
                }
            }
        }
        self.forget_hashes(ids);
        // Slots stay empty: ids are never reused while the process runs.
    }

    /// Drops `ids` from the hash maps, promoting a colliding series where the first one went.
    fn forget_hashes(&mut self, ids: &HashSet<u32>) {
        self.by_hash.retain(|_, id| !ids.contains(id));
        self.collisions.retain(|_, list| {
            list.retain(|id| !ids.contains(id));
            !list.is_empty()
        });
        let orphans: Vec<u64> = (self.collisions.keys())
            .filter(|h| !self.by_hash.contains_key(h))
            .copied()
            .collect();
        for hash in orphans {
            let Some(list) = self.collisions.get_mut(&hash) else {
                continue;
            };
            if let Some(id) = list.pop() {
                self.by_hash.insert(hash, id);
            }
            if list.is_empty() {
                self.collisions.remove(&hash);
            }
        }
    }

    /// The label set of a live series.
    pub fn labels(&self, id: u32) -> Option<Labels> {
        let interned = self.series.get(id as usize)?.as_ref()?;
        let labels = interned
            .iter()
            .map(|&(n, v)| Label {
                name: self.symbols.sym(n),
                value: self.symbols.sym(v),
            })
            .collect();
        // Kept as `Labels::new` made them: sorted, unique, no empty value.
        Some(Labels::from_sorted(labels))
    }

    /// The label set of a live series as `(name, value)` symbol ids, sorted by name.
    pub fn interned(&self, id: u32) -> Option<&[(u32, u32)]> {
        self.series.get(id as usize)?.as_deref()
    }

    /// The symbol id of `s`, when some label name or value is `s`.
    pub fn symbol(&self, s: &str) -> Option<u32> {
        self.symbols.get(s)
    }

    /// The shared string of symbol `id` (from [`Index::interned`]).
    pub fn sym(&self, id: u32) -> Sym {
        self.symbols.sym(id)
    }

    /// Sorts live series ids as their [`Labels`] would be ordered.
    pub fn sort(&self, ids: &mut [u32]) {
        let order = self.order.get_or_init(|| {
            let mut all = self.all_ids();
            self.sort_by_labels(&mut all);
            let mut order = vec![u32::MAX; self.series.len()];
            for (pos, &id) in all.iter().enumerate() {
                order[id as usize] = pos as u32;
            }
            order
        });
        ids.sort_unstable_by_key(|&id| order.get(id as usize).copied().unwrap_or(u32::MAX));
    }

    /// [`Index::sort`] by comparing the label sets' symbols (through their string ranks).
    fn sort_by_labels(&self, ids: &mut [u32]) {
        let ranks = self.ranks.get_or_init(|| self.symbols.ranks());
        let key = |id: u32| {
            self.series
                .get(id as usize)
                .and_then(Option::as_deref)
                .unwrap_or_default()
        };
        let rank = |sym: u32| ranks.get(sym as usize).copied().unwrap_or(u32::MAX);
        ids.sort_unstable_by(|&a, &b| {
            let (la, lb) = (key(a), key(b));
            for (&(an, av), &(bn, bv)) in la.iter().zip(lb.iter()) {
                let ord = rank(an).cmp(&rank(bn)).then(rank(av).cmp(&rank(bv)));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            la.len().cmp(&lb.len()).then(a.cmp(&b))
        });
    }

    /// Names and values of a live series, borrowed.
    pub fn pairs(&self, id: u32) -> impl Iterator<Item = (&str, &str)> {
        let interned = self.series.get(id as usize).and_then(Option::as_ref);
        interned
            .into_iter()
            .flat_map(|s| s.iter())
            .map(|&(n, v)| (self.symbols.str(n), self.symbols.str(v)))
    }

    /// Every live id, ascending.
    pub fn all_ids(&self) -> Vec<u32> {
        (0..self.series.len() as u32)
            .filter(|&id| self.series[id as usize].is_some())
            .collect()
    }

    /// Ids of the series matching every matcher, ascending.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut positive: Vec<Vec<u32>> = Vec::new();
        let mut filters: Vec<(Option<u32>, HashSet<u32>, bool)> = Vec::new();
        for m in matchers {
            let name = self.symbols.get(&m.name);
            let values = name.and_then(|n| self.postings.get(&n));
            let allowed: HashSet<u32> = values
                .into_iter()
                .flat_map(|vals| vals.keys())
                .copied()
                .filter(|&v| m.matches(self.symbols.str(v)))
                .collect();
            if m.matches_empty() {
                filters.push((name, allowed, true));
            } else {
                positive.push(union(values, &allowed));
            }
        }
        let mut ids = intersect(positive).unwrap_or_else(|| self.all_ids());
        for (name, allowed, empty_ok) in filters {
            ids.retain(|&id| self.passes(id, name, &allowed, empty_ok));
        }
        ids
    }

    fn passes(&self, id: u32, name: Option<u32>, allowed: &HashSet<u32>, empty_ok: bool) -> bool {
        let Some(Some(interned)) = self.series.get(id as usize) else {
            return false;
        };
        match name.and_then(|n| interned.iter().find(|&&(ln, _)| ln == n)) {
            Some(&(_, v)) => allowed.contains(&v),
            None => empty_ok,
        }
    }
}

/// The sorted union of the postings of `allowed` values.
fn union(values: Option<&FxHashMap<u32, Vec<u32>>>, allowed: &HashSet<u32>) -> Vec<u32> {
    let Some(values) = values else {
        return Vec::new();
    };
    let mut lists: Vec<&Vec<u32>> = allowed.iter().filter_map(|v| values.get(v)).collect();
    if lists.len() == 1 {
        return lists.pop().cloned().unwrap_or_default();
    }
    let mut out: Vec<u32> = lists.into_iter().flatten().copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The intersection of sorted lists, smallest first; `None` when there is no list at all.
fn intersect(mut lists: Vec<Vec<u32>>) -> Option<Vec<u32>> {
    lists.sort_by_key(Vec::len);
    let mut iter = lists.into_iter();
    let mut acc = iter.next()?;
    for list in iter {
        acc.retain(|id| list.binary_search(id).is_ok());
    }
    Some(acc)
}

/// Encodes a label set for the `series` table: varint length + bytes, name then value, per label.
pub fn encode_labels(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels.iter() {
        for s in [&l.name, &l.value] {
            varint::put(&mut out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// Decodes [`encode_labels`]' output.
pub fn decode_labels(mut data: &[u8]) -> Option<Labels> {
    let mut labels = Vec::new();
    while !data.is_empty() {
        let name = take_str(&mut data)?;
        let value = take_str(&mut data)?;
        labels.push(Label {
            name: Sym::interned(name),
            value: Sym::interned(value),
        });
    }
    Some(Labels::new(labels))
}

fn take_str<'a>(data: &mut &'a [u8]) -> Option<&'a str> {
    let len = varint::get(data)? as usize;
    let bytes = data.get(..len)?;
    *data = &data[len..];
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MatchOp;

    fn index_of(sets: &[&[(&str, &str)]]) -> Index {
        let mut index = Index::new();
        for (i, pairs) in sets.iter().enumerate() {
            let labels = Labels::from_pairs(pairs.iter().copied());
            index.insert(i as u32, &labels, labels_hash(&labels));
        }
        index
    }

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).expect("matcher")
    }

    #[test]
    fn matchers_intersect_postings_and_negative_matchers_filter() {
        // Arrange
        let index = index_of(&[
            &[("__name__", "up"), ("job", "node")],
            &[("__name__", "up"), ("job", "api"), ("pod", "p1")],
            &[("__name__", "cpu"), ("job", "node")],
        ]);

        // Act
        let up = index.select(&[m("__name__", MatchOp::Equal, "up")]);
        let not_node = index.select(&[m("job", MatchOp::NotEqual, "node")]);
        let no_pod = index.select(&[
            m("__name__", MatchOp::Regex, "u.|cpu"),
            m("pod", MatchOp::Equal, ""),
        ]);
        let re_neg = index.select(&[m("job", MatchOp::NotRegex, "no.*")]);

        // Assert
        assert_eq!(up, vec![0, 1]);
        assert_eq!(not_node, vec![1]);
        assert_eq!(no_pod, vec![0, 2]);
        assert_eq!(re_neg, vec![1]);
    }

    #[test]
    fn a_label_set_is_found_by_hash_and_removed_series_are_forgotten() {
        // Arrange
        let mut index = index_of(&[&[("a", "1")], &[("a", "2")]]);
        let one = Labels::from_pairs([("a", "1")]);

        // Act
        index.remove(&HashSet::from([0]));

        // Assert
        assert_eq!(index.lookup(&one, labels_hash(&one)), None);
        assert_eq!(index.select(&[m("a", MatchOp::Regex, ".*")]), vec![1]);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn label_sets_sharing_a_hash_are_told_apart_and_survive_removals() {
        // Arrange: three sets under one hash, as a collision would file them.
        let sets = [("a", "1"), ("a", "2"), ("a", "3")].map(|p| Labels::from_pairs([p]));
        let mut index = Index::new();
        for (id, labels) in sets.iter().enumerate() {
            index.insert(id as u32, labels, 7);
        }

        // Act
        let before: Vec<_> = sets.iter().map(|l| index.lookup(l, 7)).collect();
        index.remove(&HashSet::from([0]));
        let after: Vec<_> = sets.iter().map(|l| index.lookup(l, 7)).collect();

        // Assert
        assert_eq!(before, [Some(0), Some(1), Some(2)]);
        assert_eq!(after, [None, Some(1), Some(2)]);
        assert_eq!(index.lookup(&sets[1], 8), None);
    }

    #[test]
    fn a_decoded_label_set_shares_the_index_strings() {
        // Arrange
        let mut index = index_of(&[&[("__name__", "shared_test_metric"), ("job", "x")]]);
        let decoded = Labels::from_pairs([
            (
                Sym::interned("__name__"),
                Sym::interned("shared_test_metric"),
            ),
            (Sym::interned("job"), Sym::interned("x")),
        ]);

        // Act
        let id = index.lookup(&decoded, labels_hash(&decoded));
        let stored = index.labels(0).expect("live");

        // Assert
        assert_eq!(id, Some(0));
        assert!(
            stored
                .iter()
                .zip(decoded.iter())
                .all(|(a, b)| a.value.ptr_eq(&b.value))
        );
        index.remove(&HashSet::from([0]));
    }

    #[test]
    fn a_label_set_read_as_bytes_is_found_only_in_label_order_and_with_exact_text() {
        // Arrange
        let index = index_of(&[&[("__name__", "up"), ("job", "node")], &[("a", "bc")]]);
        let pairs = |p: &[(&'static str, &'static str)]| -> Vec<(&'static [u8], &'static [u8])> {
            p.iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect()
        };
        let find = |p: &[(&'static [u8], &'static [u8])]| {
            index.lookup_pairs(p, pairs_hash(p.iter().copied()))
        };

        // Act
        let sorted = find(&pairs(&[("__name__", "up"), ("job", "node")]));
        let unsorted = find(&pairs(&[("job", "node"), ("__name__", "up")]));
        let shifted = find(&pairs(&[("ab", "c")]));
        let longer = find(&pairs(&[("__name__", "up"), ("job", "node"), ("x", "1")]));

        // Assert
        assert_eq!(sorted, Some(0));
        assert_eq!(find(&pairs(&[("a", "bc")])), Some(1));
        assert_eq!((unsorted, shifted, longer), (None, None, None));
        let labels = Labels::from_pairs([("a", "bc")]);
        assert_eq!(
            labels_hash(&labels),
            pairs_hash(pairs(&[("a", "bc")]).into_iter())
        );
    }

    #[test]
    fn many_label_sets_looked_up_in_parts_find_what_each_finds_alone() {
        // Arrange: 600 series (more than two parts), two of them sharing one hash.
        let mut index = Index::new();
        let text: Vec<(String, String)> = (0..600)
            .map(|i| (format!("node-{i}"), format!("{}", i % 7)))
            .collect();
        let labels_of = |(node, zone): &(String, String)| {
            Labels::from_pairs([("__name__", "up"), ("node", node), ("zone", zone)])
        };
        let hash_of = |i: usize, labels: &Labels| if i < 2 { 7 } else { labels_hash(labels) };
        for (i, t) in text.iter().enumerate() {
            let labels = labels_of(t);
            index.insert(i as u32, &labels, hash_of(i, &labels));
        }
        // Every known set, then the same sets with another zone (unknown).
        let mut sets: Vec<Vec<(&[u8], &[u8])>> = Vec::new();
        let mut hashes = Vec::new();
        for other_zone in [false, true] {
            for (i, (node, zone)) in text.iter().enumerate() {
                let zone = if other_zone { "x" } else { zone.as_str() };
                let set = vec![
                    (&b"__name__"[..], &b"up"[..]),
                    (b"node", node.as_bytes()),
                    (b"zone", zone.as_bytes()),
                ];
                hashes.push(if i < 2 {
                    7
                } else {
                    pairs_hash(set.iter().copied())
                });
                sets.push(set);
            }
        }
        let refs: Vec<&WireLabels<'_>> = sets.iter().map(Vec::as_slice).collect();

        // Act
        let mut many = Vec::new();
        index.lookup_many_pairs(&refs, &hashes, &mut many);

        // Assert
        let alone: Vec<Option<u32>> = (refs.iter().zip(&hashes))
            .map(|(set, &hash)| index.lookup_pairs(set, hash))
            .collect();
        assert_eq!(many, alone);
        let known: Vec<Option<u32>> = (0..600).map(Some).collect();
        assert_eq!(many[..600], known[..]);
        assert!(many[600..].iter().all(Option::is_none));
    }

    #[test]
    fn removing_series_starts_a_new_generation() {
        // Arrange
        let mut index = index_of(&[&[("a", "1")]]);
        let before = index.generation();

        // Act
        index.remove(&HashSet::from([0]));

        // Assert
        assert_ne!(index.generation(), before);
    }

    #[test]
    fn labels_survive_their_table_encoding() {
        // Arrange
        let labels = Labels::from_pairs([("__name__", "x"), ("weird", "a\0b\u{e9}")]);

        // Act
        let back = decode_labels(&encode_labels(&labels));

        // Assert
        assert_eq!(back, Some(labels));
    }
}
