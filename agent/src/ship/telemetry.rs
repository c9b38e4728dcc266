//! The shipper's own metrics, registered on the agent's registry so they show on `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters and gauges of delivery and of the spool.
#[derive(Debug, Default, Clone)]
pub(crate) struct ShipMetrics {
    /// Batches the server accepted, first try or replayed.
    pub sent: Counter,
    /// Batches the server refused for good, by HTTP status.
    pub rejected: Family<Vec<(&'static str, String)>, Counter>,
    /// Batches dropped from a full spool (or too large for it).
    pub spool_dropped: Counter,
    /// Spool files that could not be read back and were discarded.
    pub spool_corrupt: Counter,
    /// Batches neither delivered nor spooled because the disk failed.
    pub lost: Counter,
    /// Batches waiting in the spool.
    pub spool_batches: Gauge,
    /// Bytes waiting in the spool.
    pub spool_bytes: Gauge,
}

impl ShipMetrics {
    /// Registers every metric; prometheus-client adds `_total` to counter names.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "warroom_agent_batches_sent",
            "Batches the server accepted",
            self.sent.clone(),
        );
        registry.register(
            "warroom_agent_batches_rejected",
            "Batches the server refused permanently (400, 413, 415), by status code",
            self.rejected.clone(),
        );
        registry.register(
            "warroom_agent_spool_dropped_batches",
            "Batches dropped, oldest first, because the spool was full",
            self.spool_dropped.clone(),
        );
        registry.register(
            "warroom_agent_spool_corrupt_batches",
            "Spool files that could not be read back and were discarded",
            self.spool_corrupt.clone(),
        );
        registry.register(
            "warroom_agent_batches_lost",
            "Batches neither delivered nor spooled because writing to disk failed",
            self.lost.clone(),
        );
        registry.register(
            "warroom_agent_spool_batches",
            "Batches waiting in the spool",
            self.spool_batches.clone(),
        );
        registry.register(
            "warroom_agent_spool_bytes",
            "Bytes waiting in the spool",
            self.spool_bytes.clone(),
        );
    }

    /// Counts one permanently refused batch.
    pub(crate) fn reject(&self, code: u16) {
        self.rejected
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    /// Sets the spool gauges.
    pub(crate) fn spool_size(&self, batches: usize, bytes: u64) {
        self.spool_batches
            .set(i64::try_from(batches).unwrap_or(i64::MAX));
        self.spool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}
