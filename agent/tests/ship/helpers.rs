//! The fixture every shipping test starts from: a temporary spool directory and token file, a
//! shipper opened on them with its own registry, one small collection, and ways to look at the
//! spool and the shipper's metrics.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use prometheus_client::registry::Registry;
use tempfile::TempDir;
use warroom_agent::labels;
use warroom_agent::metrics::Buffer;
use warroom_agent::otlp::NodeLabels;
use warroom_agent::ship::{ShipConfig, ShipOutcome, Shipper};

use crate::receiver::TOKEN;

/// A spool directory and a token file in one temporary directory.
pub struct Fixture {
    pub tmp: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("token"), format!("{TOKEN}\n")).expect("token");
        Self { tmp }
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.tmp.path().join("spool")
    }

    pub fn config(&self, addr: SocketAddr) -> ShipConfig {
        ShipConfig {
            server: Some(format!("http://{addr}")),
            token_file: Some(self.tmp.path().join("token")),
            spool_dir: self.spool_dir(),
            timeout: Duration::from_secs(2),
            ..ShipConfig::default()
        }
    }

    pub fn open(&self, cfg: &ShipConfig) -> (Shipper, Registry) {
        let mut registry = Registry::default();
        let shipper = Shipper::open(cfg, node(), &mut registry).expect("open shipper");
        (shipper, registry)
    }

    pub fn batch_files(&self) -> Vec<String> {
        batch_files(&self.spool_dir())
    }
}

pub fn node() -> NodeLabels {
    NodeLabels {
        node: "node-a".into(),
        cluster: "prod".into(),
        env: "source".into(),
    }
}

pub fn collection() -> Buffer {
    let mut buf = Buffer::new();
    buf.counter("node_cpu_seconds_total", "CPU time.")
        .push(labels!["cpu" => 0, "mode" => "idle"], 12.5);
    buf
}

pub fn batch_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read spool dir")
        .map(|d| {
            d.expect("dirent")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".batch"))
        .collect();
    names.sort();
    names
}

pub fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
    text
}

pub async fn ship(shipper: &mut Shipper) -> ShipOutcome {
    shipper.ship(&collection(), SystemTime::now()).await
}
