//! Finding and running the workspace's binaries from a test.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of the workspace binary `name`, built by `cargo build --workspace` next to the test
/// executable (`target/<profile>/deps/..` → `target/<profile>/name`).
pub fn bin(name: &str) -> PathBuf {
    let path = bin_path(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` before the tests (the README's test command does)",
        path.display()
    );
    path
}

/// Where the workspace binary `name` would be next to the running test or bench executable,
/// whether or not it was built (`target/<profile>/deps/..` → `target/<profile>/name`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    profile_dir.join(name)
}

/// Runs `warroom-agent --once` with `args` and returns its output, asserting it exited 0.
pub fn agent_once(args: &[&str]) -> Output {
    let out = Command::new(bin("warroom-agent"))
        .arg("--once")
        .args(args)
        .output()
        .expect("start warroom-agent");
    assert!(
        out.status.success(),
        "warroom-agent --once failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The value of the first sample in Prometheus `text` whose name is `name` and whose labels
/// include every `k="v"` pair of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
