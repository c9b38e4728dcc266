//! What a probe measures, as written in the agent's config file.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Side;

/// One probe: a DNS lookup, a TCP connect or an HTTP GET, timed from this node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The probe's name, its `probe` label.
    pub name: String,
    /// What is measured: `dns`, `tcp` or `http`; the `kind` label.
    pub kind: ProbeKind,
    /// A host name (dns), `host:port` (tcp) or URL (http); the `target` label.
    pub target: String,
    /// The migration side the target lives on (`source` or `target`); the `side` label.
    pub side: Side,
    /// How long one run may take before it counts as failed, e.g. "500ms" (default "2s").
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub timeout: Duration,
}

/// The kind of check a probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Resolve the target through the system resolver, as applications do.
    Dns,
    /// Open a TCP connection to `host:port`.
    Tcp,
    /// GET the URL; a 2xx or 3xx answer is success.
    Http,
}

/// Two seconds: longer than any healthy lookup or connect, short enough to show an outage.
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

impl ProbeKind {
    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Http => "http",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_without_timeout_waits_two_seconds() {
        let text = r#"name = "kube-dns"
kind = "dns"
target = "kubernetes.default.svc"
side = "target""#;

        let config: ProbeConfig = toml::from_str(text).unwrap();

        assert_eq!(config.kind, ProbeKind::Dns);
        assert_eq!(config.side, Side::Target);
        assert_eq!(config.timeout, Duration::from_secs(2));
    }

    #[test]
    fn a_human_timeout_is_parsed() {
        let text = r#"name = "db"
kind = "tcp"
target = "db:5432"
side = "source"
timeout = "250ms""#;

        let config: ProbeConfig = toml::from_str(text).unwrap();

        assert_eq!(config.timeout, Duration::from_millis(250));
    }

    #[test]
    fn an_unknown_field_or_kind_is_rejected() {
        let extra = "name='a'\nkind='tcp'\ntarget='x:1'\nside='source'\nretries=3";
        let bad_kind = "name='a'\nkind='icmp'\ntarget='x'\nside='source'";

        let extra = toml::from_str::<ProbeConfig>(extra)
            .unwrap_err()
            .to_string();
        let bad_kind = toml::from_str::<ProbeConfig>(bad_kind)
            .unwrap_err()
            .to_string();

        assert!(extra.contains("unknown field `retries`"), "{extra}");
        assert!(bad_kind.contains("unknown variant `icmp`"), "{bad_kind}");
    }
}
