//! A real Prometheus 2.42 process with the remote-write receiver on, killed when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use warroom_server::prompb;

/// The running process and where it listens.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus` on a free loopback port with an empty TSDB and waits until ready.
    pub async fn start() -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n",
        )
        .expect("write config");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("prometheus")
            .arg("--web.enable-remote-write-receiver")
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--config.file={}", config.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the prometheus binary (Debian package `prometheus`) must be installed");
        let prom = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        prom.wait_ready().await;
        prom
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/-/ready", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("prometheus did not become ready within 60 s");
    }

    /// Pushes series through remote_write 1.0.
    pub async fn remote_write(&self, req: &prompb::WriteRequest) {
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .expect("snappy");
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/write", self.url))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .expect("remote write");
        let status = resp.status();
        assert!(
            status.is_success(),
            "remote write: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// GETs an API path with query parameters and returns the JSON body, whatever the status.
    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> serde_json::Value {
        let url = format!("{}{path}?{}", self.url, super::encode(params));
        let resp = reqwest::Client::new()
            .get(url)
            .send()
            .await
            .expect("query prometheus");
        resp.json().await.expect("prometheus JSON")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
