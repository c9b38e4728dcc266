//! `warroom-agent`: parses flags, starts tracing and runs the agent until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use warroom_agent::config::{self, Overrides};

/// Collects host, container, pod and network metrics; serves them on /metrics and pushes them to
/// the warroom server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Flags {
    /// TOML config file; flags override it, and it overrides WARROOM_AGENT_* variables.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address for /metrics and /healthz, e.g. 0.0.0.0:9101.
    #[arg(long)]
    listen: Option<String>,
    /// Base URL of the warroom server to push to, e.g. http://warroom:8080.
    #[arg(long)]
    server: Option<String>,
    /// File holding the agent token for the server.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Time between collections, e.g. 15s.
    #[arg(long)]
    interval: Option<String>,
    /// The `node` label (default: host name).
    #[arg(long)]
    node: Option<String>,
    /// The `cluster` label.
    #[arg(long)]
    cluster: Option<String>,
    /// The migration side of this node: source or target.
    #[arg(long)]
    env: Option<String>,
    /// Where the host's /proc is mounted.
    #[arg(long)]
    proc_root: Option<PathBuf>,
    /// Where the host's /sys is mounted.
    #[arg(long)]
    sys_root: Option<PathBuf>,
    /// Directory for unsent batches, the agent id and the batch sequence.
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    /// Collect once, print Prometheus text to stdout and exit.
    #[arg(long)]
    once: bool,
}

impl Flags {
    fn overrides(&self) -> Overrides {
        let text = |v: &Option<String>| v.clone().map(toml::Value::String);
        let path = |v: &Option<PathBuf>| {
            v.as_ref()
                .map(|p| toml::Value::String(p.display().to_string()))
        };
        [
            ("listen", text(&self.listen)),
            ("interval", text(&self.interval)),
            ("node", text(&self.node)),
            ("cluster", text(&self.cluster)),
            ("env", text(&self.env)),
            ("proc_root", path(&self.proc_root)),
            ("sys_root", path(&self.sys_root)),
            ("ship.server", text(&self.server)),
            ("ship.token_file", path(&self.token_file)),
            ("ship.spool_dir", path(&self.spool_dir)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARROOM_AGENT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    match start(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("warroom-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(flags: Flags) -> anyhow::Result<()> {
    raise_open_files_limit();
    let env = config::env_overrides(std::env::vars())?;
    let cfg = config::load(flags.config.as_deref(), env, flags.overrides())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if flags.once {
        let mut agent = warroom_agent::agent::Agent::new(&cfg)?;
        runtime.block_on(agent.collect());
        print!("{}", agent.render());
        return Ok(());
    }
    runtime.block_on(warroom_agent::agent::run(cfg, shutdown_signal()))
}

/// Raises the soft limit on open files to the hard one, as Go programs (node_exporter) do: the
/// collectors keep kernel files open between passes, thousands on a node with many containers,
/// and the usual soft limit is 1024. Failing to raise it only means more files are reopened.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the open files limit: {e}");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
