//! Debian's Prometheus 2.42 (`/usr/bin/prometheus`) as a real peer: started on a free loopback
//! port with a temporary config and data dir and the remote-write receiver on, ready when
//! `/-/ready` answers, queried through its HTTP API, measured (CPU, RSS, bytes on disk), and
//! killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::http;
use crate::loadgen::Target;
use crate::process::{Process, dir_bytes};
use crate::procstat;

/// Where Debian installs Prometheus.
pub const BINARY: &str = "/usr/bin/prometheus";

/// A config with no scrape jobs: every series in the TSDB came through remote write.
const CONFIG: &str = "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n";

/// A running Prometheus with its own temporary directory.
pub struct Prometheus {
    process: Option<Process>,
    pid: u32,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with an empty TSDB and waits until it is ready.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(CONFIG)
    }

    /// Starts Prometheus with `config` as its `prometheus.yml` (scrape jobs, remote_write).
    pub fn start_with(config_text: &str) -> anyhow::Result<Self> {
        Self::start_with_args(config_text, &[])
    }

    /// Starts Prometheus with `config_text` and extra command-line flags.
    pub fn start_with_args(config_text: &str, args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("Prometheus temp dir")?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_text)?;
        let addr = http::free_addr();
        let mut command = Command::new(BINARY);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-remote-write-receiver")
            .args(args);
        let log = dir.path().join("prometheus.log");
        let mut process = Process::spawn("prometheus", &mut command, &log)
            .context("prometheus is installed (apt-get install prometheus)")?;
        process.wait_ready(addr, "/-/ready", Duration::from_secs(60))?;
        Ok(Self {
            pid: process.pid(),
            process: Some(process),
            addr,
            dir,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its remote-write endpoint (it ignores the token, so none is sent).
    pub fn write_target(&self) -> Target {
        Target {
            url: format!("http://{}/api/v1/write", self.addr),
            token: None,
        }
    }

    /// Its TSDB directory (blocks, head chunks and WAL).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Bytes its TSDB directory takes on disk.
    pub fn data_bytes(&self) -> anyhow::Result<u64> {
        Ok(dir_bytes(&self.data_dir())?)
    }

    /// CPU time it has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        Ok(procstat::cpu_time(self.pid)?)
    }

    /// Its resident memory in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        Ok(procstat::rss_bytes(self.pid)?)
    }

    /// The `data.result` of instant query `promql` at Unix time `at_s`.
    pub fn query(&self, promql: &str, at_s: f64) -> anyhow::Result<Value> {
        query(self.addr, promql, at_s, &[])
    }

    /// Stops it with SIGTERM and waits for a clean exit (its files stay until drop).
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        match self.process.take() {
            Some(p) => p.terminate(Duration::from_secs(60)),
            None => bail!("prometheus already stopped"),
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        self.process
            .as_ref()
            .map(Process::log_tail)
            .unwrap_or_default()
    }
}

/// The `data.result` of instant query `promql` at Unix time `at_s` against any server that
/// answers the Prometheus HTTP API at `addr`, sending `headers` (warroom's `Authorization`)
/// (counting a million series takes a while).
pub fn query(addr: SocketAddr, promql: &str, at_s: f64, headers: &[&str]) -> anyhow::Result<Value> {
    let path = format!(
        "/api/v1/query?query={}&time={at_s:.3}",
        http::percent_encode(promql)
    );
    let response = http::get_within(addr, &path, headers, Duration::from_secs(120))
        .with_context(|| format!("GET {path}"))?;
    if response.status != 200 {
        bail!("{path}: {} {}", response.status, response.body);
    }
    let body: Value = serde_json::from_str(&response.body).context("query answer is JSON")?;
    Ok(body["data"]["result"].clone())
}

/// The single value of a one-element vector result (`[{"value": [t, "v"]}]`).
pub fn scalar(result: &Value) -> Option<f64> {
    result.get(0)?.get("value")?.get(1)?.as_str()?.parse().ok()
}

/// Whether `path` is an installed Prometheus.
pub fn installed() -> bool {
    Path::new(BINARY).exists()
}
