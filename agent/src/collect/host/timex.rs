//! The kernel's clock discipline from `adjtimex(2)`: offset from the reference clock, whether
//! the clock is synchronised, frequency correction, error bounds and the PPS counters, as
//! node_exporter's `node_timex_*`. A node whose clock drifts breaks TLS, token expiry and the
//! ordering of events on both sides of a migration.

use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::{Buffer, no_labels};

/// `status` bit: offsets and jitter are in nanoseconds, not microseconds (`STA_NANO`).
const STA_NANO: i32 = 0x2000;
/// The clock state `adjtimex` returns when the clock is not synchronised (`TIME_ERROR`).
const TIME_ERROR: i32 = 5;
/// Frequencies are in parts per million with a 16-bit fraction (see NOTES in adjtimex(2)).
const PPM16FRAC: f64 = 1_000_000.0 * 65_536.0;
/// An offset beyond this is taken for the kernel's overflow artifact (2^32 ns, about 4.29 s,
/// seen on KVM), which node_exporter counts (its issue 3764).
const OFFSET_OVERFLOW_SECONDS: f64 = 4.0;

/// What one `adjtimex` call tells, in the kernel's units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// The return value: the clock state (`TIME_OK`, …, [`TIME_ERROR`]).
    pub state: i32,
    /// The `STA_*` status bits.
    pub status: i32,
    /// Offset from the reference clock, in µs or ns (`STA_NANO`).
    pub offset: f64,
    /// Frequency offset, in ppm with a 16-bit fraction.
    pub freq: f64,
    /// Maximum error, in µs.
    pub maxerror: f64,
    /// Estimated error, in µs.
    pub esterror: f64,
    /// PLL time constant.
    pub constant: f64,
    /// Microseconds between clock ticks.
    pub tick: f64,
    /// PPS frequency, in ppm with a 16-bit fraction.
    pub ppsfreq: f64,
    /// PPS jitter, in µs or ns (`STA_NANO`).
    pub jitter: f64,
    /// PPS interval duration, in seconds as a power of two.
    pub shift: f64,
    /// PPS stability, in ppm with a 16-bit fraction.
    pub stabil: f64,
    /// PPS jitter limit exceeded events.
    pub jitcnt: f64,
    /// PPS calibration intervals.
    pub calcnt: f64,
    /// PPS calibration errors.
    pub errcnt: f64,
    /// PPS stability limit exceeded events.
    pub stbcnt: f64,
    /// TAI offset, in seconds.
    pub tai: f64,
}

impl Reading {
    /// The offset in seconds, in whichever unit the kernel reports it.
    fn offset_seconds(&self) -> f64 {
        self.offset / self.divisor()
    }

    fn divisor(&self) -> f64 {
        if self.status & STA_NANO != 0 {
            1e9
        } else {
            1e6
        }
    }
}

/// Reads the clock state without changing it: `adjtimex` with `modes = 0`.
#[expect(unsafe_code, reason = "libc's adjtimex has no safe binding")]
fn read() -> std::io::Result<Reading> {
    // SAFETY: `timex` is a C struct of integers (and a `timeval` of integers), for which all
    // zeroes is a valid value; `modes = 0` makes the call read-only, and the kernel writes only
    // within the struct whose exclusive pointer it is given, which lives until the call returns.
    let (state, t) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        (libc::adjtimex(&mut t), t)
    };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Reading {
        state,
        status: t.status,
        offset: t.offset as f64,
        freq: t.freq as f64,
        maxerror: t.maxerror as f64,
        esterror: t.esterror as f64,
        constant: t.constant as f64,
        tick: t.tick as f64,
        ppsfreq: t.ppsfreq as f64,
        jitter: t.jitter as f64,
        shift: f64::from(t.shift),
        stabil: t.stabil as f64,
        jitcnt: t.jitcnt as f64,
        calcnt: t.calcnt as f64,
        errcnt: t.errcnt as f64,
        stbcnt: t.stbcnt as f64,
        tai: f64::from(t.tai),
    })
}

/// `(name, help)` of each gauge, in the order of [`Reading::gauges`].
const GAUGES: [(&str, &str); 13] = [
    (
        "node_timex_sync_status",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
    ),
    (
        "node_timex_offset_seconds",
        "Time offset in between local system and reference clock.",
    ),
    (
        "node_timex_frequency_adjustment_ratio",
        "Local clock frequency adjustment.",
    ),
    ("node_timex_maxerror_seconds", "Maximum error in seconds."),
    (
        "node_timex_estimated_error_seconds",
        "Estimated error in seconds.",
    ),
    ("node_timex_status", "Value of the status array bits."),
    (
        "node_timex_loop_time_constant",
        "Phase-locked loop time constant.",
    ),
    ("node_timex_tick_seconds", "Seconds between clock ticks."),
    (
        "node_timex_pps_frequency_hertz",
        "Pulse per second frequency.",
    ),
    ("node_timex_pps_jitter_seconds", "Pulse per second jitter."),
    (
        "node_timex_pps_shift_seconds",
        "Pulse per second interval duration.",
    ),
    (
        "node_timex_pps_stability_hertz",
        "Pulse per second stability, average of recent frequency changes.",
    ),
    (
        "node_timex_tai_offset_seconds",
        "International Atomic Time (TAI) offset.",
    ),
];

/// `(name, help)` of each counter, in the order of [`Reading::counters`].
const COUNTERS: [(&str, &str); 5] = [
    (
        "node_timex_offset_overflow_total",
        "Count of adjtimex() offset readings indicating kernel overflow (|offset| > 4s).",
    ),
    (
        "node_timex_pps_jitter_total",
        "Pulse per second count of jitter limit exceeded events.",
    ),
    (
        "node_timex_pps_calibration_total",
        "Pulse per second count of calibration intervals.",
    ),
    (
        "node_timex_pps_error_total",
        "Pulse per second count of calibration errors.",
    ),
    (
        "node_timex_pps_stability_exceeded_total",
        "Pulse per second count of stability limit exceeded events.",
    ),
];

impl Reading {
    /// The gauges in seconds, ratios and hertz, in the order of [`GAUGES`].
    fn gauges(&self) -> [f64; 13] {
        let synced = if self.state == TIME_ERROR { 0.0 } else { 1.0 };
        [
            synced,
            self.offset_seconds(),
            1.0 + self.freq / PPM16FRAC,
            self.maxerror / 1e6,
            self.esterror / 1e6,
            f64::from(self.status),
            self.constant,
            self.tick / 1e6,
            self.ppsfreq / PPM16FRAC,
            self.jitter / self.divisor(),
            self.shift,
            self.stabil / PPM16FRAC,
            self.tai,
        ]
    }

    /// The counters, in the order of [`COUNTERS`]; `overflows` is the collector's own count.
    fn counters(&self, overflows: u64) -> [f64; 5] {
        let overflows = overflows as f64;
        [
            overflows,
            self.jitcnt,
            self.calcnt,
            self.errcnt,
            self.stbcnt,
        ]
    }
}

/// Writes every `node_timex_*` family of one reading; `overflows` counts the readings so far
/// whose offset looked like the kernel's overflow artifact.
pub fn write(t: &Reading, overflows: u64, out: &mut Buffer) {
    for ((name, help), value) in GAUGES.into_iter().zip(t.gauges()) {
        out.gauge(name, help).push(no_labels(), value);
    }
    for ((name, help), value) in COUNTERS.into_iter().zip(t.counters(overflows)) {
        out.counter(name, help).push(no_labels(), value);
    }
}

/// The clock discipline of the node's kernel. The clock is the host's whatever the proc root, so
/// no file is read. Where the call is refused (a seccomp profile), nothing is written and nothing
/// is reported, as node_exporter does.
#[derive(Debug, Default)]
pub struct Timex {
    overflows: u64,
}

impl Timex {
    /// A collector of the host's clock state; `_roots` is taken like every host collector's.
    pub fn new(_roots: &Roots) -> Self {
        Self::default()
    }

    /// Counts a reading whose offset looks like the overflow artifact, then writes its families.
    fn record(&mut self, reading: &Reading, out: &mut Buffer) {
        if reading.offset_seconds().abs() > OFFSET_OVERFLOW_SECONDS {
            self.overflows += 1;
        }
        write(reading, self.overflows, out);
    }
}

impl Collector for Timex {
    fn name(&self) -> &'static str {
        "timex"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let reading = match read() {
            Ok(reading) => reading,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(()),
            Err(e) => return Err(CollectError::Other(format!("adjtimex: {e}"))),
        };
        self.record(&reading, cx.out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::run_one;

    fn written(reading: &Reading) -> Buffer {
        let mut out = Buffer::new();
        write(reading, 0, &mut out);
        out
    }

    #[test]
    fn microsecond_offsets_and_scaled_frequencies_become_seconds_and_ratios() {
        let reading = Reading {
            offset: -1_500.0,
            freq: 65_536.0 * 12.5,
            maxerror: 16_000.0,
            esterror: 250.0,
            tick: 10_000.0,
            jitter: 20.0,
            ..Reading::default()
        };

        let out = written(&reading);

        let v = |name| out.value(name, &[]).unwrap();
        assert_eq!(v("node_timex_offset_seconds"), -0.0015);
        assert_eq!(v("node_timex_frequency_adjustment_ratio"), 1.0000125);
        assert_eq!(v("node_timex_maxerror_seconds"), 0.016);
        assert_eq!(v("node_timex_estimated_error_seconds"), 0.00025);
        assert_eq!(v("node_timex_tick_seconds"), 0.01);
        assert_eq!(v("node_timex_pps_jitter_seconds"), 0.00002);
        assert_eq!(v("node_timex_sync_status"), 1.0);
    }

    #[test]
    fn with_sta_nano_offsets_and_jitter_are_nanoseconds() {
        let reading = Reading {
            status: STA_NANO,
            offset: 2_000_000.0,
            jitter: 500.0,
            ..Reading::default()
        };

        let out = written(&reading);

        assert_eq!(out.value("node_timex_offset_seconds", &[]), Some(0.002));
        assert_eq!(out.value("node_timex_pps_jitter_seconds", &[]), Some(5e-7));
        assert_eq!(out.value("node_timex_status", &[]), Some(8192.0));
    }

    #[test]
    fn the_time_error_state_reads_as_not_synchronised() {
        let reading = Reading {
            state: TIME_ERROR,
            ..Reading::default()
        };

        let out = written(&reading);

        assert_eq!(out.value("node_timex_sync_status", &[]), Some(0.0));
    }

    #[test]
    fn the_real_call_reads_this_machines_clock_with_sane_values() {
        let out = run_one(&mut Timex::new(&Roots::default())).unwrap();

        let v = |name| out.value(name, &[]).unwrap();
        let tick = v("node_timex_tick_seconds");
        assert!(tick > 0.0 && tick <= 0.1, "tick {tick}");
        assert!([0.0, 1.0].contains(&v("node_timex_sync_status")));
        let ratio = v("node_timex_frequency_adjustment_ratio");
        assert!((ratio - 1.0).abs() < 0.001, "ratio {ratio}");
        assert!(v("node_timex_maxerror_seconds") >= 0.0);
        assert!(v("node_timex_estimated_error_seconds") >= 0.0);
        assert!(v("node_timex_offset_seconds").abs() < OFFSET_OVERFLOW_SECONDS);
        assert_eq!(out.families().len(), 18, "every node_timex_* family");
    }

    #[test]
    fn readings_that_look_like_the_overflow_artifact_are_counted_across_collections() {
        let mut collector = Timex::default();
        let overflowed = Reading {
            offset: 4_294_967.0,
            ..Reading::default()
        };
        let (mut first, mut second) = (Buffer::new(), Buffer::new());

        collector.record(&overflowed, &mut first);
        collector.record(&Reading::default(), &mut second);

        let count = |out: &Buffer| out.value("node_timex_offset_overflow_total", &[]);
        assert_eq!(count(&first), Some(1.0));
        assert_eq!(
            count(&second),
            Some(1.0),
            "a counter: a sane reading keeps the count"
        );
    }
}
