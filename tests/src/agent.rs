//! A real `warroom-agent` process for black-box tests: started with a free `--listen` address and
//! stderr discarded, stopped with SIGTERM on request, killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::bins::bin;
use crate::http::free_addr;

/// Where an agent ships its batches.
pub struct Shipping<'a> {
    /// The server's (or receiver's) base URL.
    pub server: &'a str,
    /// The bearer token file.
    pub token_file: &'a Path,
    /// The spool directory.
    pub spool: &'a Path,
}

/// A running agent.
pub struct Agent(Child);

impl Agent {
    /// Starts the agent as `--env ENV --node NODE --interval INTERVAL`, serving `/metrics` on a
    /// free port and, with `shipping`, pushing to a server.
    pub fn start(env: &str, node: &str, interval: &str, shipping: Option<Shipping<'_>>) -> Self {
        let mut command = Command::new(bin("warroom-agent"));
        command
            .args(["--env", env, "--node", node, "--interval", interval])
            .args(["--listen", &free_addr().to_string()]);
        if let Some(s) = shipping {
            command
                .args(["--server", s.server])
                .arg("--token-file")
                .arg(s.token_file);
            command.arg("--spool-dir").arg(s.spool);
        }
        Self(
            command
                .stderr(Stdio::null())
                .spawn()
                .expect("start warroom-agent"),
        )
    }

    /// Starts the agent serving `/metrics` on `listen` (for a Prometheus to scrape), not shipping.
    pub fn serving(env: &str, node: &str, interval: &str, listen: &str) -> Self {
        let child = Command::new(bin("warroom-agent"))
            .args([
                "--env",
                env,
                "--node",
                node,
                "--interval",
                interval,
                "--listen",
                listen,
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("start warroom-agent");
        Self(child)
    }

    /// SIGTERM, then wait for the exit: the last collection is shipped or spooled.
    pub fn stop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.0.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
