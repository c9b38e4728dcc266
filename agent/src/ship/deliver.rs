//! The delivery decisions of [`Shipper`]: send now or queue behind the spool, drain the spool
//! oldest-first until the first failure, and count and log every batch that is dropped.

use super::client::{Delivery, RetryReason};
use super::{ShipOutcome, Shipper};
use crate::otlp;

/// Whether a new batch is journaled in the spool, and why not.
enum Journaled {
    /// In the spool until it is delivered.
    Kept,
    /// Larger than the whole spool.
    TooLarge(String),
    /// The spool could not be written.
    Failed(String),
}

/// The result of one drain.
struct Drained {
    /// Spooled batches delivered.
    replayed: usize,
    /// Why draining stopped before the spool was empty.
    stopped: Option<RetryReason>,
}

impl Shipper {
    /// Delivers batch `seq`: older spooled batches go first, oldest-first, so the server sees
    /// sequences in order. The batch is journaled in the spool before it leaves (and its
    /// sequence persisted after that), so an agent killed at any point from here either sends
    /// it after the restart or never used its number: the server sees no gap and no reuse.
    /// Draining before journaling means a full spool does not evict its oldest batch just as
    /// the server comes back.
    pub(super) async fn deliver(&mut self, seq: u64, body: Vec<u8>) -> ShipOutcome {
        let drained = self.drain().await;
        let journaled = match self.journal(seq, &body) {
            Ok(journaled) => journaled,
            Err(lost) => return lost,
        };
        if let Some(why) = drained.stopped {
            return self.left_spooled(seq, why, journaled);
        }
        match self.client.post(&body).await {
            Delivery::Accepted => {
                self.delivered(seq);
                self.sent_from_journal(seq, &journaled);
                ShipOutcome::Sent {
                    seq,
                    replayed: drained.replayed,
                }
            }
            Delivery::Rejected { code, reason } => {
                self.rejected(seq, code, &reason);
                self.sent_from_journal(seq, &journaled);
                ShipOutcome::Rejected { seq, code }
            }
            Delivery::Retry(why) => {
                self.server_down(&why);
                self.left_spooled(seq, why, journaled)
            }
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

    /// Spools batch `seq`, then persists the sequence past it. A batch the spool cannot keep
    /// (a disk error, or larger than the whole spool) is still sent, unjournaled; one whose
    /// sequence cannot be persisted is not sent at all (its number could come back after a
    /// restart) and is counted as lost.
    fn journal(&mut self, seq: u64, body: &[u8]) -> Result<Journaled, ShipOutcome> {
        let journaled = match self.spool.push(seq, body) {
            Ok(pushed) => {
                self.spool_evicted(pushed.evicted);
                if pushed.kept {
                    Journaled::Kept
                } else {
                    Journaled::TooLarge(format!(
                        "batch {seq} ({} bytes) is larger than the whole spool",
                        body.len()
                    ))
                }
            }
            Err(e) => {
                let path = self.spool.path_of(seq);
                Journaled::Failed(format!("cannot spool to {}: {e}", path.display()))
            }
        };
        match self.state.take_seq() {
            Ok(taken) => {
                debug_assert_eq!(taken, seq, "the batch was encoded under the next sequence");
                Ok(journaled)
            }
            Err(e) => {
                if matches!(journaled, Journaled::Kept)
                    && let Err(e) = self.spool.pop_newest()
                {
                    let path = self.spool.path_of(seq);
                    tracing::error!("cannot delete spool file {}: {e}", path.display());
                }
                Err(self.lost(None, format!("cannot persist the batch sequence: {e}")))
            }
        }
    }

    /// The batch left the machine: its journal entry, the only one left, goes.
    fn sent_from_journal(&mut self, seq: u64, journaled: &Journaled) {
        if matches!(journaled, Journaled::Kept) {
            self.pop(seq);
        }
    }

    /// The outcome of a batch the server did not take now: it waits in the spool, or was lost.
    fn left_spooled(&mut self, seq: u64, why: RetryReason, journaled: Journaled) -> ShipOutcome {
        match journaled {
            Journaled::Kept => ShipOutcome::Spooled { seq, why },
            Journaled::TooLarge(reason) => {
                self.metrics.spool_dropped.inc();
                tracing::error!("{reason}; dropped");
                ShipOutcome::Dropped {
                    seq: Some(seq),
                    why: reason,
                }
            }
            Journaled::Failed(reason) => self.lost(Some(seq), reason),
        }
    }

    /// Counts batches a full spool dropped to make room, and logs the first time.
    fn spool_evicted(&mut self, evicted: u64) {
        if evicted == 0 {
            return;
        }
        self.metrics.spool_dropped.inc_by(evicted);
        if !self.spool_full {
            self.spool_full = true;
            tracing::warn!("the spool is full: dropping the oldest batches (counted; logged once)");
        }
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
