//! The outbox's decisions: every notification is stored before it is sent, then retried with
//! exponential backoff and jitter until its deadline. The server keeps the rows in SQLite; these
//! pure functions say what to do with one row at `now` and record every attempt's outcome.

use std::time::{Duration, SystemTime};

use crate::notify::{NotifyError, backoff};

/// Where a delivery stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not yet delivered; try at `next_attempt_at`.
    Pending,
    /// The receiver accepted it.
    Delivered,
    /// It will not be delivered: permanent error or deadline passed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One notification to one integration, as the outbox stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// When it was written.
    pub created_at: SystemTime,
    /// Give up after this.
    pub deadline: SystemTime,
    /// Attempts made so far.
    pub attempts: u32,
    /// Earliest time of the next attempt.
    pub next_attempt_at: SystemTime,
    /// Current status.
    pub status: Status,
    /// The last error, for the timeline.
    pub last_error: Option<String>,
}

/// Retry timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
    /// How long a delivery may keep trying.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            give_up_after: Duration::from_secs(3600),
        }
    }
}

/// What one attempt came to, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered on attempt `attempt`.
    Delivered {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// Will be tried again at `at`.
    RetryAt {
        /// When.
        at: SystemTime,
        /// Why it failed.
        reason: String,
    },
    /// Given up.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Delivery {
    /// A new delivery, due at once.
    pub fn new(now: SystemTime, policy: RetryPolicy) -> Self {
        Self {
            created_at: now,
            deadline: now + policy.give_up_after,
            attempts: 0,
            next_attempt_at: now,
            status: Status::Pending,
            last_error: None,
        }
    }

    /// Whether an attempt is due at `now`.
    pub fn due(&self, now: SystemTime) -> bool {
        self.status == Status::Pending && self.next_attempt_at <= now
    }

    /// Records an attempt's result; `jitter` in [0, 1) comes from the caller's RNG.
    pub fn record(
        &mut self,
        result: Result<(), NotifyError>,
        now: SystemTime,
        policy: RetryPolicy,
        jitter: f64,
    ) -> AttemptOutcome {
        self.attempts += 1;
        let (after, reason) = match result {
            Ok(()) => {
                self.status = Status::Delivered;
                self.last_error = None;
                return AttemptOutcome::Delivered {
                    attempt: self.attempts,
                };
            }
            Err(NotifyError::Permanent { reason }) => return self.fail(reason),
            Err(NotifyError::Retry { after, reason }) => (after, reason),
        };
        let wait =
            after.unwrap_or_else(|| backoff(self.attempts - 1, policy.base, policy.cap, jitter));
        let at = now + wait;
        if at > self.deadline {
            return self.fail(format!(
                "{reason}; deadline passed after {} attempts",
                self.attempts
            ));
        }
        self.next_attempt_at = at;
        self.last_error = Some(reason.clone());
        AttemptOutcome::RetryAt { at, reason }
    }

    fn fail(&mut self, reason: String) -> AttemptOutcome {
        self.status = Status::Failed {
            reason: reason.clone(),
        };
        self.last_error = Some(reason.clone());
        AttemptOutcome::Failed { reason }
    }
}

/// Slack takes at most one message a second per webhook: the earliest time the next may go.
pub fn rate_gate(last_sent: Option<SystemTime>, now: SystemTime, per: Duration) -> SystemTime {
    match last_sent {
        Some(t) if t + per > now => t + per,
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn retry(after: Option<Duration>) -> Result<(), NotifyError> {
        Err(NotifyError::Retry {
            after,
            reason: "HTTP 429".into(),
        })
    }

    #[test]
    fn three_429s_with_retry_after_2_then_success_deliver_once_after_the_waits() {
        // Arrange
        let policy = RetryPolicy::default();
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        let mut d = Delivery::new(t0, policy);
        let mut now = t0;
        // Act
        for _ in 0..3 {
            assert!(d.due(now));
            let AttemptOutcome::RetryAt { at, .. } = d.record(retry(Some(2 * S)), now, policy, 0.5)
            else {
                panic!("retry expected");
            };
            assert_eq!(at, now + 2 * S);
            assert!(!d.due(now + S));
            now = at;
        }
        // Assert
        assert_eq!(
            d.record(Ok(()), now, policy, 0.5),
            AttemptOutcome::Delivered { attempt: 4 }
        );
        assert_eq!(now, t0 + 6 * S);
        assert!(!d.due(now + 100 * S));
    }

    #[test]
    fn a_permanent_error_fails_at_once_and_a_5xx_backs_off_until_the_deadline() {
        let policy = RetryPolicy {
            base: S,
            cap: 10 * S,
            give_up_after: 20 * S,
        };
        let t0 = SystemTime::UNIX_EPOCH;
        let mut d = Delivery::new(t0, policy);
        let permanent = Err(NotifyError::Permanent {
            reason: "HTTP 410".into(),
        });
        assert!(matches!(
            d.record(permanent, t0, policy, 0.5),
            AttemptOutcome::Failed { .. }
        ));
        let mut d = Delivery::new(t0, policy);
        let mut now = t0;
        let outcome = loop {
            match d.record(retry(None), now, policy, 0.99) {
                AttemptOutcome::RetryAt { at, .. } => now = at,
                other => break other,
            }
        };
        assert!(
            matches!(outcome, AttemptOutcome::Failed { ref reason } if reason.contains("deadline"))
        );
        assert!(now <= d.deadline);
    }

    #[test]
    fn the_slack_rate_gate_spaces_messages_one_second_apart() {
        let t0 = SystemTime::UNIX_EPOCH + 10 * S;
        assert_eq!(rate_gate(None, t0, S), t0);
        assert_eq!(rate_gate(Some(t0), t0 + S / 2, S), t0 + S);
        assert_eq!(rate_gate(Some(t0), t0 + 2 * S, S), t0 + 2 * S);
    }
}
