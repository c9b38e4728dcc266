//! The delivery decisions of [`Shipper`]: send now or queue behind the spool, drain the spool
//! oldest-first until the first failure, and count and log every batch that is dropped.

use super::client::{Delivery, RetryReason};
use super::{ShipOutcome, Shipper};
use crate::otlp;

/// The result of one drain.
struct Drained {
    /// Spooled batches delivered.
    replayed: usize,
    /// Why draining stopped before the spool was empty.
    stopped: Option<RetryReason>,
}

impl Shipper {
    /// The spool is empty: send directly, spool on a retryable failure.
    pub(super) async fn send_fresh(&mut self, seq: u64, body: Vec<u8>) -> ShipOutcome {
        match self.client.post(&body).await {
            Delivery::Accepted => {
                self.delivered(seq);
                ShipOutcome::Sent { seq, replayed: 0 }
            }
            Delivery::Rejected { code, reason } => {
                self.rejected(seq, code, &reason);
                ShipOutcome::Rejected { seq, code }
            }
            Delivery::Retry(why) => {
                self.server_down(&why);
                match self.keep(seq, &body) {
                    Ok(()) => ShipOutcome::Spooled { seq, why },
                    Err(dropped) => dropped,
                }
            }
        }
    }

    /// Older batches wait: they go first, oldest-first, so the server sees sequences in order.
    /// The new batch follows if they all went through, and is spooled behind them otherwise.
    /// Draining before spooling the new batch means a full spool does not evict its oldest batch
    /// just as the server comes back.
    pub(super) async fn send_behind_spool(&mut self, seq: u64, body: Vec<u8>) -> ShipOutcome {
        let drained = self.drain().await;
        if let Some(why) = drained.stopped {
            return match self.keep(seq, &body) {
                Ok(()) => ShipOutcome::Spooled { seq, why },
                Err(dropped) => dropped,
            };
        }
        match self.send_fresh(seq, body).await {
            ShipOutcome::Sent { seq, .. } => ShipOutcome::Sent {
                seq,
                replayed: drained.replayed,
            },
            other => other,
        }
    }

    /// Sends spooled batches oldest-first until one fails or the spool is empty. Refused and
    /// unreadable batches are dropped (and counted) on the way: they can never succeed.
    async fn drain(&mut self) -> Drained {
        let mut drained = Drained {
            replayed: 0,
            stopped: None,
        };
        while let Some((seq, read)) = self.spool.read_oldest() {
            let body = match read.map_err(|e| e.to_string()).and_then(check_body) {
                Ok(body) => body,
                Err(why) => {
                    self.corrupt(seq, &why);
                    continue;
                }
            };
            match self.client.post(&body).await {
                Delivery::Retry(why) => {
                    self.server_down(&why);
                    drained.stopped = Some(why);
                    break;
                }
                Delivery::Rejected { code, reason } => self.rejected(seq, code, &reason),
                Delivery::Accepted => {
                    self.delivered(seq);
                    drained.replayed += 1;
                }
            }
            self.pop(seq);
        }
        drained
    }

    /// Spools batch `seq`; on failure returns the outcome saying why it was dropped.
    fn keep(&mut self, seq: u64, body: &[u8]) -> Result<(), ShipOutcome> {
        let pushed = match self.spool.push(seq, body) {
            Ok(pushed) => pushed,
            Err(e) => {
                let path = self.spool.path_of(seq);
                return Err(self.lost(
                    Some(seq),
                    format!("cannot spool to {}: {e}", path.display()),
                ));
            }
        };
        if pushed.evicted > 0 {
            self.metrics.spool_dropped.inc_by(pushed.evicted);
            if !self.spool_full {
                self.spool_full = true;
                tracing::warn!(
                    "the spool is full: dropping the oldest batches (counted; logged once)"
                );
            }
        }
        if pushed.kept {
            return Ok(());
        }
        self.metrics.spool_dropped.inc();
        let why = format!(
            "batch {seq} ({} bytes) is larger than the whole spool",
            body.len()
        );
        tracing::error!("{why}; dropped");
        Err(ShipOutcome::Dropped {
            seq: Some(seq),
            why,
        })
    }

    /// Counts and logs a batch that could be neither delivered nor spooled.
    pub(super) fn lost(&mut self, seq: Option<u64>, why: String) -> ShipOutcome {
        self.metrics.lost.inc();
        tracing::error!(seq, "batch lost: {why}");
        ShipOutcome::Dropped { seq, why }
    }

    fn delivered(&mut self, seq: u64) {
        self.metrics.sent.inc();
        self.spool_full &= !self.spool.is_empty();
        if self.failing {
            self.failing = false;
            tracing::info!(
                seq,
                spooled = self.spool.len(),
                "the server accepts batches again"
            );
        }
    }

    fn rejected(&mut self, seq: u64, code: u16, reason: &str) {
        self.metrics.reject(code);
        tracing::error!(
            seq,
            code,
            reason,
            "the server refused the batch for good; dropped"
        );
    }

    fn server_down(&mut self, why: &RetryReason) {
        if !self.failing {
            self.failing = true;
            tracing::warn!(reason = %why, "cannot deliver batches; spooling until the server answers");
        } else {
            tracing::debug!(reason = %why, "server still failing");
        }
    }

    fn corrupt(&mut self, seq: u64, why: &str) {
        let path = self.spool.path_of(seq);
        self.metrics.spool_corrupt.inc();
        tracing::error!(path = %path.display(), "skipping unreadable spool file {}: {why}", path.display());
        self.pop(seq);
    }

    fn pop(&mut self, seq: u64) {
        if let Err(e) = self.spool.pop_oldest() {
            let path = self.spool.path_of(seq);
            tracing::error!("cannot delete spool file {}: {e}", path.display());
        }
    }
}

/// A spooled body is replayed only if it still decodes: a torn or foreign file would otherwise
/// be refused by the server (or worse, accepted as garbage).
fn check_body(body: Vec<u8>) -> Result<Vec<u8>, String> {
    otlp::decode_body(&body).map_err(|e| e.to_string())?;
    Ok(body)
}
