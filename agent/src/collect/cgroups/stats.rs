//! What one container's cgroup files say, in cAdvisor's units (seconds, bytes), and how it is
//! written as cAdvisor's families. Reading (v1, v2) and writing are apart so a container whose
//! files fail half-way writes nothing.

use crate::metrics::{Buffer, Kind, SharedLabels};

/// CFS bandwidth control counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throttling {
    /// Enforcement periods that elapsed.
    pub periods: f64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: f64,
    /// Total time throttled, in seconds (v1 counts ns, v2 µs).
    pub throttled_seconds: f64,
}

/// Memory figures, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// Current usage (`memory.usage_in_bytes`, `memory.current`).
    pub usage: f64,
    /// Usage minus inactive file cache, floored at 0.
    pub working_set: f64,
    /// Anonymous memory (v1 `total_rss`, v2 `anon`).
    pub rss: f64,
    /// The limit; 0 when unlimited, as cAdvisor reports it.
    pub limit: f64,
}

/// Block I/O of one device.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeviceIo {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Bytes read.
    pub read_bytes: f64,
    /// Bytes written.
    pub write_bytes: f64,
    /// Read operations.
    pub reads: f64,
    /// Write operations.
    pub writes: f64,
}

/// PSI stall totals in seconds for cpu, memory and io: (`some`, `full`).
pub type PressureTotals = [Option<(f64, Option<f64>)>; 3];

/// Everything read for one container; absent parts stay `None` or empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// CPU time used, in seconds.
    pub cpu_seconds: Option<f64>,
    /// CFS throttling.
    pub throttling: Option<Throttling>,
    /// Memory.
    pub memory: Option<Memory>,
    /// OOM kills inside the container.
    pub oom_kills: Option<f64>,
    /// Block I/O per device.
    pub io: Vec<DeviceIo>,
    /// PSI for cpu, memory, io.
    pub pressure: PressureTotals,
}

impl Stats {
    /// Empties for the next container, keeping the I/O list's allocation.
    pub fn clear(&mut self) {
        self.cpu_seconds = None;
        self.throttling = None;
        self.memory = None;
        self.oom_kills = None;
        self.io.clear();
        self.pressure = [None; 3];
    }

    /// The I/O entry of `major:minor`, added when new.
    pub fn device(&mut self, major: u32, minor: u32) -> &mut DeviceIo {
        match self
            .io
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            Some(i) => &mut self.io[i],
            None => {
                self.io.push(DeviceIo {
                    major,
                    minor,
                    ..DeviceIo::default()
                });
                self.io.last_mut().expect("just pushed")
            }
        }
    }

    /// Writes the container's families with `labels` on every series, finding them in `out`
    /// through `families` (kept for the whole pass); the I/O series take their label sets from
    /// `devices`, made there for a device the first time.
    pub fn write(
        &self,
        out: &mut Buffer,
        families: &mut Families,
        labels: &SharedLabels,
        devices: &mut DeviceLabels,
    ) {
        let mut w = Writer {
            out,
            families,
            labels,
        };
        w.put(CPU, self.cpu_seconds);
        if let Some(t) = self.throttling {
            w.put(CFS_PERIODS, Some(t.periods));
            w.put(CFS_THROTTLED_PERIODS, Some(t.throttled_periods));
            w.put(CFS_THROTTLED_SECONDS, Some(t.throttled_seconds));
        }
        if let Some(m) = self.memory {
            for (i, v) in [m.usage, m.working_set, m.rss, m.limit]
                .into_iter()
                .enumerate()
            {
                w.put(MEMORY + i, Some(v));
            }
        }
        w.put(OOM, self.oom_kills);
        self.write_io(w.out, w.families, labels, devices);
        for (i, p) in self.pressure.iter().enumerate() {
            let Some((some, full)) = *p else { continue };
            w.put(PRESSURE + 2 * i, Some(some));
            w.put(PRESSURE + 2 * i + 1, full);
        }
    }

    fn write_io(
        &self,
        out: &mut Buffer,
        families: &mut Families,
        labels: &SharedLabels,
        devices: &mut DeviceLabels,
    ) {
        for d in &self.io {
            let device = (d.major, d.minor);
            let l = match devices.iter().find(|(known, _)| *known == device) {
                Some((_, l)) => l.clone(),
                None => {
                    let mut l = Vec::with_capacity(labels.len() + 1);
                    l.extend_from_slice(labels);
                    l.push(("device", format!("{}:{}", d.major, d.minor)));
                    let l = SharedLabels::new(l);
                    devices.push((device, l.clone()));
                    l
                }
            };
            let values = [d.read_bytes, d.write_bytes, d.reads, d.writes];
            for (i, v) in values.into_iter().enumerate() {
                families.push(out, IO + i, l.clone(), v);
            }
        }
    }
}

/// A container's label sets with a `device` label, by (major, minor): made once and shared by
/// every pass while the container's labels stay the same, so a pass allocates none.
pub type DeviceLabels = Vec<((u32, u32), SharedLabels)>;

/// The container families as (name, help, kind), by slot, in the order a container writes them.
const DEFS: [(&str, &str, Kind); 19] = [
    (
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        Kind::Counter,
    ),
    (
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        Kind::Counter,
    ),
    (
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        Kind::Counter,
    ),
    (
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        Kind::Counter,
    ),
    (
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed.",
        Kind::Gauge,
    ),
    (
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        Kind::Gauge,
    ),
    ("container_memory_rss", "Size of RSS in bytes.", Kind::Gauge),
    (
        "container_spec_memory_limit_bytes",
        "Memory limit for the container (0 when unlimited).",
        Kind::Gauge,
    ),
    (
        "container_oom_events_total",
        "Count of out of memory events observed for the container.",
        Kind::Counter,
    ),
    (
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read.",
        Kind::Counter,
    ),
    (
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written.",
        Kind::Counter,
    ),
    (
        "container_fs_reads_total",
        "Cumulative count of reads completed.",
        Kind::Counter,
    ),
    (
        "container_fs_writes_total",
        "Cumulative count of writes completed.",
        Kind::Counter,
    ),
    (
        "container_pressure_cpu_waiting_seconds_total",
        "Total time duration tasks in the container have waited due to CPU congestion.",
        Kind::Counter,
    ),
    (
        "container_pressure_cpu_stalled_seconds_total",
        "Total time duration no tasks in the container could make progress due to CPU congestion.",
        Kind::Counter,
    ),
    (
        "container_pressure_memory_waiting_seconds_total",
        "Total time duration tasks in the container have waited due to memory congestion.",
        Kind::Counter,
    ),
    (
        "container_pressure_memory_stalled_seconds_total",
        "Total time duration no tasks in the container could make progress due to memory congestion.",
        Kind::Counter,
    ),
    (
        "container_pressure_io_waiting_seconds_total",
        "Total time duration tasks in the container have waited due to IO congestion.",
        Kind::Counter,
    ),
    (
        "container_pressure_io_stalled_seconds_total",
        "Total time duration no tasks in the container could make progress due to IO congestion.",
        Kind::Counter,
    ),
];

/// Slots of [`DEFS`]: CPU usage, then CFS throttling, memory (usage, working set, RSS, limit),
/// OOM kills, block I/O (read bytes, written bytes, reads, writes) and PSI (some, full for cpu,
/// memory, io).
const CPU: usize = 0;
const CFS_PERIODS: usize = 1;
const CFS_THROTTLED_PERIODS: usize = 2;
const CFS_THROTTLED_SECONDS: usize = 3;
const MEMORY: usize = 4;
const OOM: usize = 8;
const IO: usize = 9;
const PRESSURE: usize = 13;

/// One container's series going into the buffer.
struct Writer<'a> {
    out: &'a mut Buffer,
    families: &'a mut Families,
    labels: &'a SharedLabels,
}

impl Writer<'_> {
    /// Adds `v`, when there is one, to the family of `slot` with the container's labels.
    fn put(&mut self, slot: usize, v: Option<f64>) {
        if let Some(v) = v {
            (self.families).push(self.out, slot, self.labels.clone(), v);
        }
    }
}

/// Where the container families sit in the buffer this pass: 500 containers look each of
/// their ~20 families up once per pass instead of once each. Make one per pass.
#[derive(Debug, Default)]
pub struct Families([Option<usize>; DEFS.len()]);

impl Families {
    /// Adds a sample to the family of `slot`, looked up at its first use this pass.
    fn push(&mut self, out: &mut Buffer, slot: usize, labels: SharedLabels, v: f64) {
        let at = *self.0[slot].get_or_insert_with(|| {
            let (name, help, kind) = DEFS[slot];
            out.position(name, help, kind)
        });
        out.at(at).push(labels, v);
    }
}

/// Usage minus inactive file cache, never below 0 (the cache can briefly exceed usage).
pub fn working_set(usage: f64, inactive_file: f64) -> f64 {
    (usage - inactive_file).max(0.0)
}

/// A limit as cAdvisor reports it: 0 when unlimited (`max`, or v1's near-`i64::MAX` page-rounded
/// sentinel, anything above 2^62).
pub fn limit(raw: f64) -> f64 {
    if raw > (1u64 << 62) as f64 { 0.0 } else { raw }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    #[test]
    fn working_set_is_floored_at_zero() {
        assert_eq!(working_set(100.0, 30.0), 70.0);
        assert_eq!(working_set(100.0, 130.0), 0.0);
    }

    #[test]
    fn unlimited_limits_read_as_zero_like_cadvisor() {
        assert_eq!(limit(f64::INFINITY), 0.0);
        assert_eq!(limit(9_223_372_036_854_771_712.0), 0.0);
        assert_eq!(limit(536_870_912.0), 536_870_912.0);
    }

    #[test]
    fn io_series_carry_the_device_as_major_minor() {
        // Arrange
        let mut stats = Stats::default();
        stats.device(8, 0).read_bytes = 4096.0;
        stats.device(8, 0).writes = 2.0;
        let (mut out, mut again) = (Buffer::new(), Buffer::new());
        let labels = labels!["id" => "/x"].into();
        let mut devices = DeviceLabels::new();

        // Act
        stats.write(&mut out, &mut Families::default(), &labels, &mut devices);
        stats.write(&mut again, &mut Families::default(), &labels, &mut devices);

        // Assert
        let f = &out.families()[0];
        assert_eq!(f.name, "container_fs_reads_bytes_total");
        assert_eq!(
            *f.samples[0].labels,
            labels!["id" => "/x", "device" => "8:0"]
        );
        assert_eq!(out.families().len(), 4);
        let second = &again.families()[0].samples[0].labels;
        assert!(std::sync::Arc::ptr_eq(&f.samples[0].labels, second));
    }
}
