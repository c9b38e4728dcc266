//! `warroom`: parses the command line, starts tracing, and runs the server (`serve`) until Ctrl-C
//! or SIGTERM, or manages API tokens (`token create|revoke|list`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use warroom_server::config::{self, Overrides, ServerConfig};
use warroom_server::tokens::{Scope, TokenStore};

/// The warroom server: metrics ingest, storage and PromQL, alerts and the war-room pages.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server until Ctrl-C or SIGTERM.
    Serve {
        #[command(flatten)]
        place: Place,
        /// Address to listen on, e.g. 0.0.0.0:8080 (port 0 picks a free one; the log says which).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Manage the bearer tokens agents and Prometheus servers send metrics with, and readers
    /// (Grafana, scripts) query with.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Work with rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Work with the cutover plan.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Check a plan file: prints FILE:LINE:COL: what is wrong for each error and exits 1, or a
    /// one-line summary and exits 0.
    Check {
        /// The plan (`plan.yaml`).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check rule files: prints FILE:LINE:COL: what is wrong for each error and exits 1.
    Check {
        /// Prometheus rule files (groups, and warroom's slos).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token named NAME and print it once (only its SHA-256 is stored).
    Create {
        /// A name for whoever holds it, e.g. the node or cluster.
        name: String,
        /// What it may do: ingest (send metrics and alerts), read (query) or admin (both).
        #[arg(long, default_value = "ingest", value_name = "ingest|read|admin")]
        scope: Scope,
        #[command(flatten)]
        place: Place,
    },
    /// Revoke the live token named NAME: its holder is refused with 403 from now on.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        place: Place,
    },
    /// List token names, their scopes, when they were made and revoked.
    List {
        #[command(flatten)]
        place: Place,
    },
}

/// Where the settings and the data are.
#[derive(Debug, Args)]
struct Place {
    /// TOML config file (warroom.toml); flags override it, and it overrides WARROOM_* variables.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the database.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Place {
    /// The configuration, with `listen` from the flag when given.
    fn load(&self, listen: Option<&str>) -> anyhow::Result<ServerConfig> {
        let mut flags = Overrides::new();
        if let Some(dir) = &self.data_dir {
            flags.push(("data_dir", toml::Value::String(dir.display().to_string())));
        }
        if let Some(addr) = listen {
            flags.push(("listen", toml::Value::String(addr.to_owned())));
        }
        let env = config::env_overrides(std::env::vars())?;
        Ok(config::load(self.config.as_deref(), env, flags)?)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARROOM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    match start(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("warroom: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core), and each
/// arena keeps what its thread freed. With the runtime's workers and SQLite's connection
/// threads copying batches and blobs, that was a fifth of the server's RSS: at 100k series
/// and a full chunk, 1.42 KB per series, against 1.13 KB with two arenas (and ingest no
/// slower). glibc reads `MALLOC_ARENA_MAX` only as the process starts, so the server starts
/// itself again with it set, unless the environment already sets it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        again.arg0(arg0);
    }
    // Returns only when the exec failed.
    let err = again.args(args).env(VAR, "2").exec();
    tracing::warn!(error = %err, "could not restart with {VAR}=2; going on with glibc's default");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn start(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match command {
        Command::Serve { place, listen } => {
            limit_malloc_arenas();
            let cfg = place.load(listen.as_deref())?;
            runtime()?.block_on(warroom_server::server::run(cfg, shutdown_signal()))?;
        }
        Command::Token { command } => runtime()?.block_on(token(command))?,
        Command::Rules {
            command: RulesCommand::Check { files },
        } => return Ok(check_rules(&files)),
        Command::Plan {
            command: PlanCommand::Check { file },
        } => return Ok(check_plan(&file)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `warroom plan check FILE`: every error on its own line and exit 1, or the plan's summary.
fn check_plan(file: &Path) -> ExitCode {
    match warroom_server::cutover::check::check_file(file) {
        Ok(plan) => {
            let summary = warroom_server::cutover::check::summary(&plan);
            println!("{}: {summary}", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `warroom rules check FILE...`: every error on its own line, exit 1 if there was any.
fn check_rules(files: &[PathBuf]) -> ExitCode {
    let errors = warroom_alerts::rules::check_files(files);
    for e in &errors {
        println!("{e}");
    }
    if errors.is_empty() {
        println!("{} rule file(s) OK", files.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let (TokenCommand::Create { place, .. }
    | TokenCommand::Revoke { place, .. }
    | TokenCommand::List { place }) = &command;
    let cfg = place.load(None)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let pool = warroom_server::db::open(&cfg.database_path())
        .await
        .with_context(|| format!("opening {}", cfg.database_path().display()))?;
    let tokens = TokenStore::new(pool.clone());
    let done = match command {
        TokenCommand::Create { name, scope, .. } => {
            tokens.create(&name, scope).await.map(|token| {
                println!("{}", token.expose());
                eprintln!("token {name:?} ({scope}) created: it is shown only this once");
            })
        }
        TokenCommand::Revoke { name, .. } => tokens.revoke(&name).await.map(|()| {
            eprintln!("token {name:?} revoked");
        }),
        TokenCommand::List { .. } => tokens.list().await.map(|list| {
            for t in list {
                let state = t
                    .revoked_ms
                    .map_or("live".to_owned(), |ms| format!("revoked_ms={ms}"));
                let (name, scope, created) = (t.name, t.scope, t.created_ms);
                println!("{name}\tscope={scope}\tcreated_ms={created}\t{state}");
            }
        }),
    };
    pool.close().await;
    Ok(done?)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM ({e}); only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn create(args: &[&str]) -> Result<Scope, String> {
        let argv = ["warroom", "token", "create", "grafana"].iter().chain(args);
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Token {
                command: TokenCommand::Create { scope, .. },
            } => Ok(scope),
            other => Err(format!("parsed as {other:?}")),
        }
    }

    #[test]
    fn a_token_is_for_ingest_unless_another_scope_is_given() {
        assert_eq!(create(&[]), Ok(Scope::Ingest));
        assert_eq!(create(&["--scope", "read"]), Ok(Scope::Read));
        assert_eq!(create(&["--scope=admin"]), Ok(Scope::Admin));
    }

    #[test]
    fn an_unknown_scope_is_refused_naming_the_ones_there_are() {
        let err = create(&["--scope", "write"]).unwrap_err();

        assert!(
            err.contains("unknown scope \"write\": expected ingest, read or admin"),
            "{err}"
        );
    }
}
