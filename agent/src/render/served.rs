//! What `/metrics` serves, made once per collection: the snapshot's text in each format is
//! rendered at the first request for it and reused until the next collection, so a second
//! scraper (a Prometheus HA pair) or a scrape more often than the collection costs a copy, not a
//! rendering. The agent's own metrics are few and may move between collections (a push), so
//! they are rendered per request and appended.
//!
//! Gzip, for a scraper that asks for it as node_exporter's does: the snapshot's text is
//! deflated once, ending in a sync flush (byte-aligned, not final), and each request appends
//! its own metrics deflated by a fresh compressor (which refers back to nothing) and the gzip
//! trailer, whose CRC-32 combines the cached part's with the tail's: one valid gzip member.

use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::Format;

/// The gzip header: deflate, no name or time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The snapshot's text in one format, for one collection.
struct Rendered {
    generation: u64,
    format: Format,
    text: Arc<str>,
    /// The gzip header and the text deflated up to a sync flush, with the text's CRC-32; made
    /// at the first request asking for gzip.
    gzip: Option<Arc<(Vec<u8>, Crc)>>,
}

/// The renderings of the latest collection, one per format asked for.
#[derive(Default)]
pub struct Served(Mutex<Vec<Rendered>>);

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Served")
    }
}

impl Served {
    /// The text of collection `generation` in `format`, from `render` when not made yet.
    pub fn text(
        &self,
        generation: u64,
        format: Format,
        render: impl FnOnce() -> String,
    ) -> Arc<str> {
        let mut cache = self.lock();
        cache.retain(|r| r.generation == generation);
        if let Some(r) = cache.iter().find(|r| r.format == format) {
            return r.text.clone();
        }
        let text: Arc<str> = render().into();
        cache.push(Rendered {
            generation,
            format,
            text: text.clone(),
            gzip: None,
        });
        text
    }

    /// A gzip body of `text` (collection `generation` in `format`, as [`Self::text`] gave it)
    /// followed by `tail`.
    pub fn gzip(&self, generation: u64, format: Format, text: &str, tail: &str) -> Vec<u8> {
        let head = {
            let mut cache = self.lock();
            let slot = cache
                .iter_mut()
                .find(|r| r.generation == generation && r.format == format);
            match slot {
                Some(Rendered { gzip: Some(g), .. }) => g.clone(),
                Some(r) => r.gzip.insert(Arc::new(deflate_head(text))).clone(),
                // Replaced by a newer collection meanwhile: made for this request alone.
                None => Arc::new(deflate_head(text)),
            }
        };
        let (deflated, crc) = &*head;
        let mut body = Vec::with_capacity(deflated.len() + tail.len() / 4 + 64);
        body.extend_from_slice(deflated);
        deflate(tail.as_bytes(), FlushCompress::Finish, &mut body);
        let mut all = Crc::new();
        all.combine(crc);
        let mut tail_crc = Crc::new();
        tail_crc.update(tail.as_bytes());
        all.combine(&tail_crc);
        body.extend_from_slice(&all.sum().to_le_bytes());
        body.extend_from_slice(&all.amount().to_le_bytes());
        body
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rendered>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The gzip header and `text` deflated up to a sync flush, and the text's CRC-32.
fn deflate_head(text: &str) -> (Vec<u8>, Crc) {
    let mut out = Vec::with_capacity(text.len() / 8 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    deflate(text.as_bytes(), FlushCompress::Sync, &mut out);
    let mut crc = Crc::new();
    crc.update(text.as_bytes());
    (out, crc)
}

/// Appends `input` deflated by a fresh raw compressor to `out`, ending with `flush`.
fn deflate(input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
    let mut c = Compress::new(Compression::fast(), false);
    loop {
        out.reserve(input.len() / 8 + 1024);
        let consumed = usize::try_from(c.total_in()).unwrap_or(input.len());
        let status = c
            .compress_vec(&input[consumed..], out, flush)
            .expect("deflating into a growing buffer cannot fail");
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // All input taken and room left: the flush is complete.
            _ => c.total_in() as usize == input.len() && out.len() < out.capacity(),
        };
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(body: &[u8]) -> String {
        let mut text = String::new();
        // A single-member reader: the body must be one gzip member, not several.
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut text)
            .expect("valid gzip");
        text
    }

    #[test]
    fn a_gzip_body_is_one_member_holding_the_text_then_the_tail() {
        // Arrange: a long, repetitive text like a rendering, and a short tail.
        let text: String = (0..5000)
            .map(|i| format!("container_cpu_usage_seconds_total{{id=\"/c{i}\"}} {i}\n"))
            .collect();
        let served = Served::default();
        served.text(1, Format::Prometheus, || text.clone());

        // Act
        let first = served.gzip(1, Format::Prometheus, &text, "own_a 1\n");
        let second = served.gzip(1, Format::Prometheus, &text, "own_a 2\n");

        // Assert
        assert_eq!(gunzip(&first), format!("{text}own_a 1\n"));
        assert_eq!(gunzip(&second), format!("{text}own_a 2\n"));
        assert!(first.len() < text.len() / 4, "{} bytes", first.len());
    }

    #[test]
    fn a_text_is_rendered_once_per_collection_and_format() {
        let served = Served::default();
        let mut renders = 0;
        let mut text = |generation, format| {
            served.text(generation, format, || {
                renders += 1;
                format!("{generation} {format:?}")
            })
        };

        let a = text(1, Format::Prometheus);
        let b = text(1, Format::Prometheus);
        let c = text(1, Format::OpenMetrics);
        let d = text(2, Format::Prometheus);

        assert_eq!((&*a, &*b), ("1 Prometheus", "1 Prometheus"));
        assert_eq!((&*c, &*d), ("1 OpenMetrics", "2 Prometheus"));
        assert_eq!(renders, 3);
    }

    #[test]
    fn an_empty_text_and_tail_still_make_valid_gzip() {
        let served = Served::default();
        served.text(1, Format::OpenMetrics, String::new);

        let body = served.gzip(1, Format::OpenMetrics, "", "");

        assert_eq!(gunzip(&body), "");
    }
}
