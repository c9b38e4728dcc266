//! The agent's settings. Three layers, later winning: `WARROOM_AGENT_*` environment variables,
//! the TOML config file, then command-line flags. Every table rejects unknown fields, naming them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::collect::Roots;
use crate::collect::pods::KubeletConfig;
use crate::collect::probes::ProbeConfig;
use crate::otlp::NodeLabels;
use crate::ship::ShipConfig;

/// The migration side a node or a probe target belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The platform being migrated away from.
    Source,
    /// The platform being migrated to.
    Target,
}

impl Side {
    /// `source` or `target`, as the `env` label spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// Everything the agent is configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The `node` label of every sample; defaults to the host name.
    #[serde(default = "default_node")]
    pub node: String,
    /// The `cluster` label of every sample.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// The `env` label of every sample: which side of the migration this node is on.
    pub env: Side,
    /// Where `/metrics` and `/healthz` listen.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Time between collections (and pushes), e.g. "15s".
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// The host's procfs (e.g. `/host/proc` when running in a container).
    #[serde(default = "default_proc_root")]
    pub proc_root: PathBuf,
    /// The host's sysfs (e.g. `/host/sys` when running in a container).
    #[serde(default = "default_sys_root")]
    pub sys_root: PathBuf,
    /// Pushing to the server and the disk spool (`[ship]`).
    #[serde(default)]
    pub ship: ShipConfig,
    /// The kubelet to ask for pod names, namespaces and restarts (`[kubelet]`); off when absent.
    #[serde(default)]
    pub kubelet: Option<KubeletConfig>,
    /// DNS, TCP and HTTP probes of both sides (`[[probes]]`).
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
}

fn default_node() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn default_cluster() -> String {
    "default".to_string()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9101))
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}

fn default_proc_root() -> PathBuf {
    PathBuf::from("/proc")
}

fn default_sys_root() -> PathBuf {
    PathBuf::from("/sys")
}

impl AgentConfig {
    /// The `node`, `cluster` and `env` labels every sample carries.
    pub fn node_labels(&self) -> NodeLabels {
        NodeLabels {
            node: self.node.clone(),
            cluster: self.cluster.clone(),
            env: self.env.as_str().into(),
        }
    }

    /// The proc and sys roots collectors read below.
    pub fn roots(&self) -> Roots {
        Roots {
            proc: self.proc_root.clone(),
            sys: self.sys_root.clone(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has an unknown or mistyped field.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line, column and the field it names.
        message: String,
    },
    /// An environment variable names no setting or holds a bad value.
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The merged settings are incomplete or inconsistent.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Settings given as flags or environment variables, as `(key path, value)` in the TOML layout
/// (`"env"`, `"ship.server"`).
pub type Overrides = Vec<(&'static str, toml::Value)>;

/// Environment variables and the key each one sets.
const ENV_KEYS: &[(&str, &str)] = &[
    ("WARROOM_AGENT_NODE", "node"),
    ("WARROOM_AGENT_CLUSTER", "cluster"),
    ("WARROOM_AGENT_ENV", "env"),
    ("WARROOM_AGENT_LISTEN", "listen"),
    ("WARROOM_AGENT_INTERVAL", "interval"),
    ("WARROOM_AGENT_PROC_ROOT", "proc_root"),
    ("WARROOM_AGENT_SYS_ROOT", "sys_root"),
    ("WARROOM_AGENT_SERVER", "ship.server"),
    ("WARROOM_AGENT_TOKEN_FILE", "ship.token_file"),
    ("WARROOM_AGENT_SPOOL_DIR", "ship.spool_dir"),
];

/// Reads the `WARROOM_AGENT_*` variables from `vars`; an unknown one is an error naming it.
pub fn env_overrides(
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Overrides, ConfigError> {
    let mut out = Overrides::new();
    for (name, value) in vars.filter(|(n, _)| n.starts_with("WARROOM_AGENT_")) {
        // RUST_LOG-style knobs of the agent itself are not settings.
        if name == "WARROOM_AGENT_LOG" {
            continue;
        }
        let key = ENV_KEYS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let known: Vec<&str> = ENV_KEYS.iter().map(|(n, _)| *n).collect();
                ConfigError::Env {
                    name: name.clone(),
                    message: format!("unknown; known: {}", known.join(", ")),
                }
            })?;
        out.push((key, toml::Value::String(value)));
    }
    Ok(out)
}

/// Loads the configuration: `env` overrides, then the file at `file` (if any), then `flags`.
pub fn load(
    file: Option<&Path>,
    env: Overrides,
    flags: Overrides,
) -> Result<AgentConfig, ConfigError> {
    let mut table = toml::Table::new();
    apply(&mut table, env);
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file_table = parse_file(path, &text)?;
        merge(&mut table, file_table);
    }
    apply(&mut table, flags);
    if !table.contains_key("env") {
        return Err(ConfigError::Invalid(
            "`env` is not set: pass --env source|target, set `env` in the config file or WARROOM_AGENT_ENV".into(),
        ));
    }
    AgentConfig::deserialize(table).map_err(|e| ConfigError::Invalid(e.message().to_string()))
}

/// Parses and checks the file alone first, so errors carry its line and column. The file may
/// leave `env` to the environment or a flag.
fn parse_file(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    let file_err = |e: toml::de::Error| ConfigError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let table: toml::Table = toml::from_str(text).map_err(file_err)?;
    match toml::from_str::<AgentConfig>(text) {
        Err(e) if !e.message().contains("missing field `env`") => Err(file_err(e)),
        _ => Ok(table),
    }
}

/// Sets each `a.b` key path of `overrides` in `table`.
fn apply(table: &mut toml::Table, overrides: Overrides) {
    for (path, value) in overrides {
        let mut at = &mut *table;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                at.insert(part.to_string(), value.clone());
                break;
            }
            let entry = at
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => at = t,
                other => {
                    *other = toml::Value::Table(toml::Table::new());
                    let toml::Value::Table(t) = other else {
                        unreachable!()
                    };
                    at = t;
                }
            }
        }
    }
}

/// Merges `upper` over `lower`, table by table.
fn merge(lower: &mut toml::Table, upper: toml::Table) {
    for (key, value) in upper {
        match (lower.get_mut(&key), value) {
            (Some(toml::Value::Table(l)), toml::Value::Table(u)) => merge(l, u),
            (_, v) => {
                lower.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::NamedTempFile, PathBuf) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        let path = f.path().to_path_buf();
        (f, path)
    }

    fn s(v: &str) -> toml::Value {
        toml::Value::String(v.into())
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_environment() {
        let (_f, path) = file("node = \"from-file\"\ncluster = \"from-file\"\nenv = \"target\"\n");
        let env = vec![
            ("node", s("from-env")),
            ("cluster", s("from-env")),
            ("interval", s("30s")),
        ];
        let flags = vec![("node", s("from-flag"))];

        let cfg = load(Some(&path), env, flags).unwrap();

        assert_eq!(cfg.node, "from-flag");
        assert_eq!(cfg.cluster, "from-file");
        assert_eq!(cfg.interval, Duration::from_secs(30));
        assert_eq!(cfg.env, Side::Target);
    }

    #[test]
    fn the_server_flag_lands_in_the_ship_table_beside_file_settings() {
        let (_f, path) = file("env = \"source\"\n[ship]\nspool_max_bytes = 1024\n");
        let flags = vec![("ship.server", s("http://127.0.0.1:9"))];

        let cfg = load(Some(&path), vec![], flags).unwrap();

        assert_eq!(cfg.ship.server.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(cfg.ship.spool_max_bytes, 1024);
    }

    #[test]
    fn an_unknown_field_in_the_file_is_named_with_its_line() {
        let (_f, path) = file("env = \"source\"\nintervall = \"5s\"\n");
        let err = load(Some(&path), vec![], vec![]).unwrap_err().to_string();
        assert!(err.contains("unknown field `intervall`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_file_may_leave_env_to_a_flag_but_something_must_set_it() {
        let (_f, path) = file("node = \"n\"\n");
        assert_eq!(
            load(Some(&path), vec![], vec![("env", s("source"))])
                .unwrap()
                .env,
            Side::Source
        );
        let err = load(Some(&path), vec![], vec![]).unwrap_err().to_string();
        assert!(err.contains("`env` is not set"), "{err}");
    }

    #[test]
    fn a_bad_side_or_duration_is_rejected() {
        let err = load(None, vec![], vec![("env", s("staging"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `staging`"), "{err}");
        let err = load(
            None,
            vec![],
            vec![("env", s("source")), ("interval", s("soon"))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }

    #[test]
    fn unknown_agent_environment_variables_are_named() {
        let vars = [
            ("WARROOM_AGENT_NODE".to_string(), "n".to_string()),
            ("WARROOM_AGENT_NOPE".into(), "x".into()),
        ];
        let err = env_overrides(vars.into_iter()).unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable WARROOM_AGENT_NOPE: unknown"),
            "{err}"
        );
    }
}
