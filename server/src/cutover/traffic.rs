//! Traffic actually shifted, per service: the target's request rate over both sides', against
//! the phase's planned share (Argo Rollouts' SetWeight against ActualWeight), with drift
//! flagged past a tolerance. A pure function of the two rates.

/// How far the measured share may stray from the plan's before it is drift, in points of
/// percent, unless a plan says otherwise.
pub const DEFAULT_TOLERANCE: f64 = 5.0;

/// One service's shift as measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shift {
    /// Neither side served requests: nothing to measure.
    NoTraffic,
    /// The target's share, percent, and how it stands against the plan's.
    Measured {
        /// `100 × target ÷ (source + target)`.
        actual: f64,
        /// The phase's planned share.
        planned: f64,
        /// Whether `actual` is further than the tolerance from `planned`.
        drift: bool,
    },
}

/// The shift of a service whose sides serve `source` and `target` requests a second, against
/// `planned` percent, with drift past `tolerance` points.
/// A side whose rate is not a number (no series, or a NaN from a division) measures nothing.
pub fn shift(source: f64, target: f64, planned: f64, tolerance: f64) -> Shift {
    if !(source.is_finite() && target.is_finite()) {
        return Shift::NoTraffic;
    }
    let (source, target) = (source.max(0.0), target.max(0.0));
    let total = source + target;
    if total <= 0.0 {
        return Shift::NoTraffic;
    }
    let actual = 100.0 * target / total;
    Shift::Measured {
        actual,
        planned,
        drift: (actual - planned).abs() > tolerance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_the_targets_rate_over_both_and_drift_is_past_the_tolerance() {
        // Act
        let on_plan = shift(900.0, 100.0, 10.0, DEFAULT_TOLERANCE);
        let stuck = shift(1000.0, 20.0, 25.0, DEFAULT_TOLERANCE);
        let edge = shift(85.0, 15.0, 10.0, DEFAULT_TOLERANCE);

        // Assert
        assert_eq!(
            on_plan,
            Shift::Measured {
                actual: 10.0,
                planned: 10.0,
                drift: false
            }
        );
        let Shift::Measured { actual, drift, .. } = stuck else {
            panic!("{stuck:?}")
        };
        assert!((actual - 1.96).abs() < 0.01, "{actual}");
        assert!(drift, "2% against 25% planned");
        assert!(
            matches!(edge, Shift::Measured { drift: false, .. }),
            "5 points is within"
        );
    }

    #[test]
    fn no_requests_negative_rates_and_non_finite_ones_measure_nothing_or_clamp() {
        assert_eq!(shift(0.0, 0.0, 10.0, 5.0), Shift::NoTraffic);
        assert_eq!(shift(f64::NAN, 1.0, 10.0, 5.0), Shift::NoTraffic);
        assert_eq!(shift(f64::INFINITY, 1.0, 10.0, 5.0), Shift::NoTraffic);
        assert!(matches!(
            shift(-3.0, 5.0, 100.0, 5.0),
            Shift::Measured {
                actual: 100.0,
                drift: false,
                ..
            }
        ));
    }
}
