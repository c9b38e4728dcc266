//! What `/metrics` serves, kept per collection: the body made at the first request for a format
//! (the collection's text, then the agent's own metrics) is served again, without a copy, while
//! no new collection came and the own metrics read the same, so a second scraper (a Prometheus
//! HA pair) or a scrape more often than the collection costs no rendering. Own metrics that moved
//! (a push's counters) replace the body's tail: one copy, no rendering. The gzip'd body, for a
//! scraper that asks as node_exporter's does, is compressed once per body.

use std::io::Write as _;
use std::sync::Mutex;

use axum::body::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::Format;

/// One collection's body in one format.
struct Body {
    generation: u64,
    format: Format,
    /// The collection's text then the own metrics' text.
    text: Bytes,
    /// Where the own metrics' text starts in `text`.
    own_at: usize,
    /// `text` gzip'd, once asked for.
    gzip: Option<Bytes>,
}

/// The bodies of the latest collection, one per format asked for.
#[derive(Default)]
pub struct Served(Mutex<Vec<Body>>);

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Served")
    }
}

impl Served {
    /// The body of collection `generation` in `format` ending with `own`; `render` writes the
    /// collection's text when this collection has no body in `format` yet.
    pub fn text(
        &self,
        (generation, format): (u64, Format),
        own: &str,
        render: impl FnOnce() -> String,
    ) -> Bytes {
        let mut cache = self.lock();
        body(&mut cache, (generation, format), own, render)
            .text
            .clone()
    }

    /// [`Self::text`] gzip'd.
    pub fn gzip(
        &self,
        (generation, format): (u64, Format),
        own: &str,
        render: impl FnOnce() -> String,
    ) -> Bytes {
        let mut cache = self.lock();
        let body = body(&mut cache, (generation, format), own, render);
        let text = &body.text;
        body.gzip.get_or_insert_with(|| gzip(text)).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Body>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cached body of `generation` in `format`, made or given the tail `own` as needed.
fn body<'c>(
    cache: &'c mut Vec<Body>,
    (generation, format): (u64, Format),
    own: &str,
    render: impl FnOnce() -> String,
) -> &'c mut Body {
    cache.retain(|b| b.generation == generation);
    let Some(at) = cache.iter().position(|b| b.format == format) else {
        let mut text = render();
        let own_at = text.len();
        text.push_str(own);
        cache.push(Body {
            generation,
            format,
            text: Bytes::from(text),
            own_at,
            gzip: None,
        });
        return cache.last_mut().expect("just pushed");
    };
    let body = &mut cache[at];
    if body.text[body.own_at..] != *own.as_bytes() {
        let mut text = Vec::with_capacity(body.own_at + own.len());
        text.extend_from_slice(&body.text[..body.own_at]);
        text.extend_from_slice(own.as_bytes());
        body.text = Bytes::from(text);
        body.gzip = None;
    }
    body
}

/// `text` gzip'd at the fast level: a scrape's text is repetitive enough to shrink ~10x.
fn gzip(text: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 8), Compression::fast());
    let out = encoder.write_all(text).and_then(|()| encoder.finish());
    Bytes::from(out.expect("writing to a Vec cannot fail"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const KEY: (u64, Format) = (1, Format::Prometheus);

    fn gunzip(body: &[u8]) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut text)
            .expect("valid gzip");
        text
    }

    #[test]
    fn a_gzip_body_holds_the_text_then_the_own_metrics_and_follows_them() {
        // Arrange: a long, repetitive text like a rendering.
        let text: String = (0..5000)
            .map(|i| format!("container_cpu_usage_seconds_total{{id=\"/c{i}\"}} {i}\n"))
            .collect();
        let served = Served::default();

        // Act
        let first = served.gzip(KEY, "own_a 1\n", || text.clone());
        let second = served.gzip(KEY, "own_a 2\n", || unreachable!("rendered once"));

        // Assert
        assert_eq!(gunzip(&first), format!("{text}own_a 1\n"));
        assert_eq!(gunzip(&second), format!("{text}own_a 2\n"));
        assert!(first.len() < text.len() / 4, "{} bytes", first.len());
    }

    #[test]
    fn a_body_is_rendered_once_per_collection_and_format_and_shared_while_unchanged() {
        let served = Served::default();
        let mut renders = 0;
        let mut text = |(generation, format): (u64, Format), own: &str| {
            served.text((generation, format), own, || {
                renders += 1;
                format!("{generation} {format:?}\n")
            })
        };

        let a = text(KEY, "x\n");
        let b = text(KEY, "x\n");
        let c = text(KEY, "y\n");
        let d = text((1, Format::OpenMetrics), "x\n");
        let e = text((2, Format::Prometheus), "x\n");

        assert_eq!(&a[..], b"1 Prometheus\nx\n");
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same bytes, not a copy");
        assert_eq!(&c[..], b"1 Prometheus\ny\n");
        assert_eq!(
            (&d[..], &e[..]),
            (&b"1 OpenMetrics\nx\n"[..], &b"2 Prometheus\nx\n"[..])
        );
        assert_eq!(renders, 3);
    }
}
