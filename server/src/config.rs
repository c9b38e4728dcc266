//! The server's settings from `warroom.toml`. Three layers, later winning: `WARROOM_*` environment
//! variables, the config file, then command-line flags. Every table rejects unknown fields, naming
//! the field, the file, the line and the column.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::alerting::settings::AlertingSettings;
use crate::cutover::settings::CutoverSettings;
use crate::routes::auth::ApiConfig;
use crate::store::StoreConfig;

/// Everything `warroom serve` is configured with.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the HTTP API, ingest and pages listen, e.g. `0.0.0.0:8080` (port 0: any free port).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory of the SQLite database (`warroom.db`) and everything else the server keeps.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The time-series store (`[storage]`).
    #[serde(default)]
    pub storage: StoreConfig,
    /// Bounds on what one ingest request may carry (`[limits]`).
    #[serde(default)]
    pub limits: Limits,
    /// Rules, `alerting.yaml` and the evaluation interval (`[alerting]`).
    #[serde(default)]
    pub alerting: AlertingSettings,
    /// Who may read the APIs without a token (`[api]`).
    #[serde(default)]
    pub api: ApiConfig,
    /// How long stopping may wait on work in flight (`[shutdown]`).
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// The cutover plan and how often its gates are evaluated (`[cutover]`).
    #[serde(default)]
    pub cutover: CutoverSettings,
}

/// The `[shutdown]` section: on Ctrl-C or SIGTERM, how long the work in flight gets before it
/// is cut off. Nothing acknowledged is lost either way: a request cut off was not answered
/// (its sender retries it), and a notification cut off stays pending in the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// For the HTTP requests in flight to be answered ("25s": inside Kubernetes' default
    /// grace period of 30 s, with the store's last checkpoint after it).
    #[serde(with = "humantime_serde")]
    pub requests: Duration,
    /// For the notifications being sent, and a rule evaluation under way, to finish ("5s").
    #[serde(with = "humantime_serde")]
    pub sends: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            requests: Duration::from_secs(25),
            sends: Duration::from_secs(5),
        }
    }
}

/// The `[limits]` section: what one ingest request may weigh, so no sender can exhaust memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body as sent (compressed), in bytes.
    pub max_body_bytes: usize,
    /// Largest body once gunzipped or unsnappied, in bytes: the guard against decompression bombs.
    pub max_decompressed_bytes: usize,
    /// Most samples one request may carry (histogram buckets, sums and counts count one each).
    pub max_samples_per_request: usize,
    /// Longest a PromQL query may run ("2m", Prometheus' `--query.timeout`).
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// Most samples and points a PromQL query may hold at once, loaded or made (Prometheus'
    /// `--query.max-samples`).
    pub query_max_samples: usize,
    /// Most PromQL queries evaluated at once; more wait their turn within their timeout
    /// (Prometheus' `--query.max-concurrency`).
    pub query_max_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_decompressed_bytes: default_max_decompressed_bytes(),
            max_samples_per_request: default_max_samples_per_request(),
            query_timeout: default_query_timeout(),
            query_max_samples: default_query_max_samples(),
            query_max_concurrency: default_query_max_concurrency(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/warroom")
}

fn default_max_body_bytes() -> usize {
    16 << 20
}

fn default_max_decompressed_bytes() -> usize {
    128 << 20
}

fn default_max_samples_per_request() -> usize {
    1_000_000
}

fn default_query_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_query_max_samples() -> usize {
    50_000_000
}

fn default_query_max_concurrency() -> usize {
    20
}

impl ServerConfig {
    /// The SQLite database inside the data directory.
    pub fn database_path(&self) -> PathBuf {
        database_path(&self.data_dir)
    }
}

/// The SQLite database file of a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("warroom.db")
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
        /// The parser's message, with the line, the column and the field it names.
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
    /// The merged settings are inconsistent (a bad flag or environment value).
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Settings given as flags or environment variables, as `(key path, value)` in the TOML layout
/// (`"listen"`, `"limits.max_body_bytes"`).
pub type Overrides = Vec<(&'static str, toml::Value)>;

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Bool,
}

/// Environment variables, the key each one sets and its kind.
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("WARROOM_LISTEN", "listen", Kind::Text),
    ("WARROOM_DATA_DIR", "data_dir", Kind::Text),
    ("WARROOM_STORAGE_RETENTION", "storage.retention", Kind::Text),
    (
        "WARROOM_STORAGE_CHECKPOINT_INTERVAL",
        "storage.checkpoint_interval",
        Kind::Text,
    ),
    (
        "WARROOM_LIMITS_MAX_BODY_BYTES",
        "limits.max_body_bytes",
        Kind::Integer,
    ),
    (
        "WARROOM_LIMITS_MAX_DECOMPRESSED_BYTES",
        "limits.max_decompressed_bytes",
        Kind::Integer,
    ),
    (
        "WARROOM_LIMITS_MAX_SAMPLES_PER_REQUEST",
        "limits.max_samples_per_request",
        Kind::Integer,
    ),
    (
        "WARROOM_ALERTING_RULES_DIR",
        "alerting.rules_dir",
        Kind::Text,
    ),
    (
        "WARROOM_ALERTING_CONFIG_FILE",
        "alerting.config_file",
        Kind::Text,
    ),
    (
        "WARROOM_ALERTING_EVALUATION_INTERVAL",
        "alerting.evaluation_interval",
        Kind::Text,
    ),
    (
        "WARROOM_LIMITS_QUERY_TIMEOUT",
        "limits.query_timeout",
        Kind::Text,
    ),
    (
        "WARROOM_LIMITS_QUERY_MAX_SAMPLES",
        "limits.query_max_samples",
        Kind::Integer,
    ),
    (
        "WARROOM_LIMITS_QUERY_MAX_CONCURRENCY",
        "limits.query_max_concurrency",
        Kind::Integer,
    ),
    (
        "WARROOM_API_ANONYMOUS_READ",
        "api.anonymous_read",
        Kind::Bool,
    ),
    ("WARROOM_SHUTDOWN_REQUESTS", "shutdown.requests", Kind::Text),
    ("WARROOM_SHUTDOWN_SENDS", "shutdown.sends", Kind::Text),
    ("WARROOM_CUTOVER_PLAN_FILE", "cutover.plan_file", Kind::Text),
    (
        "WARROOM_CUTOVER_GATE_INTERVAL",
        "cutover.gate_interval",
        Kind::Text,
    ),
];

/// Variables with the `WARROOM_` prefix that are not server settings.
fn is_not_a_setting(name: &str) -> bool {
    name == "WARROOM_LOG" || name.starts_with("WARROOM_AGENT_")
}

/// Reads the `WARROOM_*` variables from `vars`; an unknown one is an error naming it.
pub fn env_overrides(
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Overrides, ConfigError> {
    let mut out = Overrides::new();
    for (name, value) in vars.filter(|(n, _)| n.starts_with("WARROOM_") && !is_not_a_setting(n)) {
        let Some(&(_, key, kind)) = ENV_KEYS.iter().find(|(n, _, _)| *n == name) else {
            let known: Vec<&str> = ENV_KEYS.iter().map(|(n, _, _)| *n).collect();
            return Err(ConfigError::Env {
                name,
                message: format!("unknown; known: {}", known.join(", ")),
            });
        };
        let value = env_value(&name, value, kind)?;
        out.push((key, value));
    }
    Ok(out)
}

/// The TOML value of variable `name`'s text, read as `kind` says.
fn env_value(name: &str, value: String, kind: Kind) -> Result<toml::Value, ConfigError> {
    Ok(match kind {
        Kind::Text => toml::Value::String(value),
        Kind::Integer => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|e| ConfigError::Env {
                name: name.to_owned(),
                message: format!("{value:?} is not a whole number: {e}"),
            })?,
        Kind::Bool => match value.trim() {
            "true" => toml::Value::Boolean(true),
            "false" => toml::Value::Boolean(false),
            _ => {
                return Err(ConfigError::Env {
                    name: name.to_owned(),
                    message: format!("{value:?} is neither true nor false"),
                });
            }
        },
    })
}

/// Loads the configuration: `env` overrides, then the file at `file` (if any), then `flags`.
pub fn load(
    file: Option<&Path>,
    env: Overrides,
    flags: Overrides,
) -> Result<ServerConfig, ConfigError> {
    let mut table = toml::Table::new();
    apply(&mut table, env);
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        merge(&mut table, parse_file(path, &text)?);
    }
    apply(&mut table, flags);
    ServerConfig::deserialize(table).map_err(|e| ConfigError::Invalid(e.message().to_string()))
}

/// Parses and checks the file alone first (every field has a default), so errors carry its line
/// and column.
fn parse_file(path: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    let file_err = |e: toml::de::Error| ConfigError::File {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    };
    toml::from_str::<ServerConfig>(text).map_err(file_err)?;
    toml::from_str(text).map_err(file_err)
}

/// Sets each `a.b` key path of `overrides` in `table`, creating tables on the way.
fn apply(table: &mut toml::Table, overrides: Overrides) {
    for (path, value) in overrides {
        let (parents, leaf) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
        let mut at = &mut *table;
        for part in parents.split('.').filter(|p| !p.is_empty()) {
            let entry = at
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            let toml::Value::Table(next) = entry else {
                unreachable!("made a table just above")
            };
            at = next;
        }
        at.insert(leaf.to_string(), value);
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
    use std::time::Duration;

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
    fn without_any_setting_every_default_applies() {
        let cfg = load(None, vec![], vec![]).unwrap();

        assert_eq!(cfg.listen, default_listen());
        assert_eq!(
            cfg.database_path(),
            PathBuf::from("/var/lib/warroom/warroom.db")
        );
        assert_eq!(cfg.storage, StoreConfig::default());
        assert_eq!(cfg.limits, Limits::default());
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_environment() {
        let (_f, path) = file(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/from/file\"\n\n[limits]\nmax_body_bytes = 100\n",
        );
        let env = env_overrides(
            [
                ("WARROOM_DATA_DIR", "/from/env"),
                ("WARROOM_LIMITS_MAX_SAMPLES_PER_REQUEST", "7"),
                ("WARROOM_LIMITS_MAX_BODY_BYTES", "5"),
                ("WARROOM_STORAGE_RETENTION", "2d"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into_iter(),
        )
        .unwrap();
        let flags = vec![("listen", s("127.0.0.1:0"))];

        let cfg = load(Some(&path), env, flags).unwrap();

        assert_eq!(cfg.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(cfg.data_dir, PathBuf::from("/from/file"));
        assert_eq!(cfg.limits.max_body_bytes, 100);
        assert_eq!(cfg.limits.max_samples_per_request, 7);
        assert_eq!(cfg.storage.retention, Duration::from_secs(2 * 86_400));
    }

    #[test]
    fn query_limits_come_from_the_file_and_the_environment() {
        let (_f, path) = file("[limits]\nquery_timeout = \"5s\"\n");
        let env = env_overrides(
            [("WARROOM_LIMITS_QUERY_MAX_SAMPLES", "1000")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into_iter(),
        )
        .unwrap();

        let cfg = load(Some(&path), env, Vec::new()).unwrap();

        assert_eq!(cfg.limits.query_timeout, Duration::from_secs(5));
        assert_eq!(cfg.limits.query_max_samples, 1000);
    }

    #[test]
    fn shutdown_grace_periods_come_from_the_file_and_the_environment_and_default_to_25_and_5_s() {
        let (_f, path) = file("[shutdown]\nrequests = \"40s\"\n");
        let env = env_overrides(
            [("WARROOM_SHUTDOWN_SENDS", "1s")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into_iter(),
        )
        .unwrap();
        let (_bad, bad_path) = file("[shutdown]\nsend = \"1s\"\n");

        let default = load(None, vec![], vec![]).unwrap();
        let cfg = load(Some(&path), env, Vec::new()).unwrap();
        let bad = load(Some(&bad_path), vec![], vec![])
            .unwrap_err()
            .to_string();

        assert_eq!(default.shutdown.requests, Duration::from_secs(25));
        assert_eq!(default.shutdown.sends, Duration::from_secs(5));
        assert_eq!(cfg.shutdown.requests, Duration::from_secs(40));
        assert_eq!(cfg.shutdown.sends, Duration::from_secs(1));
        assert!(bad.contains("unknown field `send`"), "{bad}");
    }

    #[test]
    fn anonymous_reads_are_off_unless_the_api_section_or_the_environment_turns_them_on() {
        let (_f, path) = file("[api]\nanonymous_read = true\n");
        let env = |v: &str| {
            env_overrides([("WARROOM_API_ANONYMOUS_READ".to_string(), v.to_string())].into_iter())
        };

        let default = load(None, vec![], vec![]).unwrap();
        let from_file = load(Some(&path), vec![], vec![]).unwrap();
        let from_env = load(None, env("true").unwrap(), vec![]).unwrap();
        let bad = env("yes").unwrap_err().to_string();

        assert!(!default.api.anonymous_read);
        assert!(from_file.api.anonymous_read);
        assert!(from_env.api.anonymous_read);
        assert!(bad.contains("\"yes\" is neither true nor false"), "{bad}");
    }

    #[test]
    fn an_unknown_api_field_is_rejected() {
        let (_f, path) = file("[api]\nanonymous_reads = true\n");

        let err = load(Some(&path), vec![], vec![]).unwrap_err().to_string();

        assert!(err.contains("unknown field `anonymous_reads`"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_named_with_its_file_line_and_column() {
        let (_f, path) = file("listen = \"127.0.0.1:0\"\n\n[limits]\nmax_body_byte = 5\n");

        let err = load(Some(&path), vec![], vec![]).unwrap_err().to_string();

        assert!(err.contains("unknown field `max_body_byte`"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("line 4, column 1"), "{err}");
    }

    #[test]
    fn an_unknown_storage_field_is_rejected_too() {
        let (_f, path) = file("[storage]\nretension = \"1d\"\n");

        let err = load(Some(&path), vec![], vec![]).unwrap_err().to_string();

        assert!(err.contains("unknown field `retension`"), "{err}");
    }

    #[test]
    fn unknown_or_malformed_environment_variables_are_named() {
        let vars = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter();

        let unknown = env_overrides(vars("WARROOM_LISTN", "x")).unwrap_err();
        let bad_number = env_overrides(vars("WARROOM_LIMITS_MAX_BODY_BYTES", "lots")).unwrap_err();

        assert!(
            unknown
                .to_string()
                .starts_with("environment variable WARROOM_LISTN: unknown")
        );
        assert!(
            bad_number
                .to_string()
                .contains("\"lots\" is not a whole number")
        );
        assert!(
            env_overrides(vars("WARROOM_AGENT_NODE", "n"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_bad_listen_flag_is_rejected_with_the_parser_reason() {
        let err = load(None, vec![], vec![("listen", s("nowhere"))]).unwrap_err();

        assert!(err.to_string().contains("invalid socket address"), "{err}");
    }
}
