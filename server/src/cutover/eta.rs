//! When the cutover will end: the runbook's planned durations, stretched by the pace so far
//! (actual ÷ planned of the steps done), so a D-day planned for 8 hours that runs to 10 says so
//! in its first hours. A pure function of the steps and `now`.

use std::time::{Duration, SystemTime};

/// One runbook step as far as it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepProgress {
    /// Its planned duration.
    pub planned: Duration,
    /// When work on it began, if it has.
    pub started: Option<SystemTime>,
    /// When it was done, if it is.
    pub done: Option<SystemTime>,
}

/// The expected end against the plan's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eta {
    /// Actual ÷ planned time of the steps done (1 before any is).
    pub pace: f64,
    /// The cutover's start plus every step's planned duration.
    pub planned_end: SystemTime,
    /// Now plus what is left at the pace so far.
    pub expected_end: SystemTime,
}

impl Eta {
    /// How far the expected end is past the planned one (zero when on time or early).
    pub fn late_by(&self) -> Duration {
        self.expected_end
            .duration_since(self.planned_end)
            .unwrap_or_default()
    }
}

/// The ETA of a cutover begun at `began` with runbook `steps`, at `now`.
pub fn eta(began: SystemTime, steps: &[StepProgress], now: SystemTime) -> Eta {
    let planned_total = (steps.iter()).fold(Duration::ZERO, |a, s| a.saturating_add(s.planned));
    let (mut actual, mut planned_done) = (Duration::ZERO, Duration::ZERO);
    for s in steps {
        if let (Some(start), Some(done)) = (s.started, s.done) {
            actual = actual.saturating_add(done.duration_since(start).unwrap_or_default());
            planned_done = planned_done.saturating_add(s.planned);
        }
    }
    let pace = match planned_done.is_zero() {
        true => 1.0,
        false => actual.as_secs_f64() / planned_done.as_secs_f64(),
    };
    let left: f64 = steps
        .iter()
        .filter(|s| s.done.is_none())
        .map(|s| {
            let needs = s.planned.as_secs_f64() * pace;
            let spent = s.started.map_or(0.0, |t| {
                now.duration_since(t).unwrap_or_default().as_secs_f64()
            });
            (needs - spent).max(0.0)
        })
        .sum();
    Eta {
        pace,
        planned_end: later(began, planned_total),
        expected_end: later(
            now,
            Duration::try_from_secs_f64(left).unwrap_or(Duration::MAX),
        ),
    }
}

/// `t + d`, or the far future where that would not fit (a plan may say `planned: 99999y`).
fn later(t: SystemTime, d: Duration) -> SystemTime {
    const FAR: Duration = Duration::from_secs(10_000 * 365 * 86_400);
    t.checked_add(d.min(FAR))
        .unwrap_or(SystemTime::UNIX_EPOCH + FAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);
    const MIN: Duration = Duration::from_secs(60);

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn step(planned: Duration) -> StepProgress {
        StepProgress {
            planned,
            started: None,
            done: None,
        }
    }

    #[test]
    fn before_any_step_is_done_the_expected_end_is_the_plans() {
        // Arrange: eight one-hour steps, nothing started.
        let steps = vec![step(H); 8];

        // Act
        let eta = eta(t0(), &steps, t0());

        // Assert
        assert_eq!(eta.pace, 1.0);
        assert_eq!(eta.planned_end, t0() + 8 * H);
        assert_eq!(eta.expected_end, t0() + 8 * H);
        assert_eq!(eta.late_by(), Duration::ZERO);
    }

    #[test]
    fn a_d_day_of_8_hours_running_a_quarter_slow_says_10_in_its_second_hour() {
        // Arrange: eight one-hour steps; the first two took 75 minutes each.
        let mut steps = vec![step(H); 8];
        steps[0].started = Some(t0());
        steps[0].done = Some(t0() + 75 * MIN);
        steps[1].started = Some(t0() + 75 * MIN);
        steps[1].done = Some(t0() + 150 * MIN);
        let now = t0() + 150 * MIN;

        // Act
        let eta = eta(t0(), &steps, now);

        // Assert: six hours left at 1.25 = 7.5 h after 2.5 h: 10 h in all, 2 h late.
        assert_eq!(eta.pace, 1.25);
        assert_eq!(eta.expected_end, t0() + 10 * H);
        assert_eq!(eta.late_by(), 2 * H);
    }

    #[test]
    fn a_step_under_way_counts_what_is_left_of_it_and_no_less_than_nothing() {
        // Arrange: one step done on time; one under way for 20 of its 30 minutes; one under
        // way for 50 of its 30.
        let mut steps = vec![step(H), step(30 * MIN), step(30 * MIN)];
        steps[0].started = Some(t0());
        steps[0].done = Some(t0() + H);
        steps[1].started = Some(t0() + H + 30 * MIN);
        steps[2].started = Some(t0() + H);
        let now = t0() + H + 50 * MIN;

        // Act
        let eta = eta(t0(), &steps, now);

        // Assert
        assert_eq!(eta.pace, 1.0);
        assert_eq!(eta.expected_end, now + 10 * MIN);
        assert_eq!(
            eta.late_by(),
            Duration::ZERO,
            "on time: 2h planned, 2h expected"
        );
    }
}
