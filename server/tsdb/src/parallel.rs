//! CPU-bound work over a slice split across the machine's cores with scoped threads: a query
//! over 100k series, or over a day of 1,000 series, then runs on both cores of a small machine
//! instead of one. Small inputs stay on the calling thread.

use std::sync::OnceLock;

/// The cores this process may use: how many threads may work on one query (or decode ingest
/// bodies, see `routes::decoders`).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `work` over consecutive parts of `items`, their results in order: one part per core, each
/// at least `min_part` items (so one part, on the calling thread, for fewer than twice that).
pub fn by_parts<I: Sync, O: Send>(
    items: &[I],
    min_part: usize,
    work: impl Fn(&[I]) -> O + Sync,
) -> Vec<O> {
    let parts = cores().min(items.len() / min_part.max(1)).max(1);
    if parts == 1 {
        return vec![work(items)];
    }
    let size = items.len().div_ceil(parts);
    let work = &work;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(size);
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks.map(|c| scope.spawn(move || work(c))).collect();
        let mut out = vec![work(first)];
        for handle in others {
            out.push(
                handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            );
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order() {
        for (len, min) in [
            (0, 10),
            (5, 10),
            (19, 10),
            (20, 10),
            (1001, 7),
            (100_000, 1),
        ] {
            // Arrange
            let items: Vec<usize> = (0..len).collect();

            // Act
            let parts = by_parts(&items, min, |part| part.to_vec());

            // Assert
            assert_eq!(parts.concat(), items, "{len} by {min}");
            assert!(parts.len() <= cores().max(1), "{len} by {min}");
            assert!(
                parts.iter().all(|p| p.len() >= min.min(len)),
                "{len} by {min}"
            );
        }
    }
}
