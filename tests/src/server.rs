//! A real `warroom serve` process for black-box tests: a fresh data directory, an ingest and a
//! read token made with the real `warroom token create`, port 0 read back from the `listening on` log line, ready once
//! `/readyz` answers 200, killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bins::bin;
use crate::http;

/// A running server.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A live `ingest` token it accepts (for agents, remote_write and alert writes).
    pub token: String,
    /// A live `read` token (for the query API and the alert groups).
    pub read_token: String,
    /// Its data directory (inside `dir`).
    pub data_dir: PathBuf,
    /// Its stderr and stdout so far (for failure messages, and for what it must never print).
    pub log: Arc<Mutex<String>>,
    child: Child,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// Starts a server with the default configuration.
pub fn spawn_server() -> Server {
    spawn_server_with("")
}

/// Starts a server with `config` as its `warroom.toml`.
pub fn spawn_server_with(config: &str) -> Server {
    spawn_server_with_env(config, &[])
}

/// Starts a server with `config` as its `warroom.toml` and `env` added to its environment
/// (e.g. `WARROOM_LOG`), on restarts too.
pub fn spawn_server_with_env(config: &str, env: &[(&str, &str)]) -> Server {
    let env: Vec<(String, String)> = (env.iter())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config_file = dir.path().join("warroom.toml");
    std::fs::write(&config_file, config).expect("write warroom.toml");
    let read_token = token(&data_dir, &["create", "test-reader", "--scope", "read"]);
    let token = token(&data_dir, &["create", "test-agent"]);
    let log = Arc::new(Mutex::new(String::new()));
    let (child, addr) = start(&config_file, &data_dir, "127.0.0.1:0", log.clone(), &env);
    let server = Server {
        addr,
        token,
        read_token,
        data_dir,
        log,
        child,
        dir,
        env,
    };
    server.wait_ready();
    server
}

/// Starts `warroom serve` and reads back its address.
fn start(
    config: &Path,
    data_dir: &Path,
    listen: &str,
    log: Arc<Mutex<String>>,
    env: &[(String, String)],
) -> (Child, SocketAddr) {
    let mut child = Command::new(bin("warroom"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--listen", listen, "--data-dir"])
        .arg(data_dir)
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start warroom serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let out_log = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut log = out_log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    let addr = read_address(&mut child, log);
    (child, addr)
}

/// Runs `warroom token ARGS --data-dir DIR`, asserting success, and returns its stdout trimmed.
pub fn token(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin("warroom"))
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run warroom token");
    assert!(
        out.status.success(),
        "warroom token {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Follows stderr on a thread (keeping it in `log`) until the `listening on ADDR` line.
fn read_address(child: &mut Child, log: Arc<Mutex<String>>) -> SocketAddr {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on ").nth(1) {
                let _ = tx.send(addr.trim().to_owned());
            }
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("warroom serve logs `listening on ADDR` within 30s");
    addr.parse().expect("a socket address after `listening on`")
}

impl Server {
    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A scratch directory that lives as long as the server.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The `Authorization` header line for `token`.
    pub fn bearer(token: &str) -> String {
        format!("Authorization: Bearer {token}")
    }

    /// The `Authorization` header line of the read token, for queries.
    pub fn reader(&self) -> String {
        Self::bearer(&self.read_token)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http::get(self.addr, "/readyz", &[]) {
                Ok(r) if r.status == 200 => return,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("server never became ready: {other:?}\n{}", self.log_text()),
            }
        }
    }

    /// Its stderr and stdout so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Kills the server with SIGKILL (no shutdown at all) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same address and data directory, once the old process
    /// has exited (after [`Server::kill9`] or [`Server::terminate`]).
    pub fn restart(&mut self) {
        let config = self.dir.path().join("warroom.toml");
        let listen = self.addr.to_string();
        let (child, addr) = start(
            &config,
            &self.data_dir,
            &listen,
            self.log.clone(),
            &self.env,
        );
        self.child = child;
        assert_eq!(addr, self.addr, "the restarted server listens where it did");
        self.wait_ready();
    }

    /// Sends SIGHUP (reload the rules and `alerting.yaml`).
    pub fn hangup(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("send SIGHUP");
    }

    /// Sends SIGTERM and waits up to `within` for the exit; `None` if it did not exit in time.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).ok()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
