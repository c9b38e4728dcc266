//! Secrets (webhook URLs, routing keys, SMTP passwords): read from the config, a file or an
//! environment variable, and never printed by `Debug` or `Display`.

use std::fmt;

use serde::Deserialize;

/// A secret value; `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with the secret replaced by `[redacted]`. For a URL, its user, password, path
    /// and query are blanked on their own too: an error page or a proxy answering a request
    /// may quote any of them.
    pub fn blank_in(&self, text: &str) -> String {
        let mut parts = vec![self.0.clone()];
        if let Ok(url) = reqwest::Url::parse(&self.0) {
            let path = url.path();
            let query = url.query().unwrap_or_default();
            parts.push(format!("{path}?{query}"));
            parts.extend([path, query, url.username()].map(str::to_owned));
            parts.extend(url.password().map(str::to_owned));
        }
        // Longest first, so a part is never left half blanked by a shorter one inside it.
        parts.retain(|p| p.len() > 1);
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        parts.iter().fold(text.to_owned(), |text, part| {
            text.replace(part.as_str(), "[redacted]")
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret comes from in `alerting.yaml`: inline, `file:` or `env:`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretSource {
    /// Written in the file (discouraged, but Alertmanager allows it).
    Value(Secret),
    /// The first line of a file.
    File(std::path::PathBuf),
    /// An environment variable.
    Env(String),
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl SecretSource {
    /// Reads the secret; the error names the file or variable, never the value.
    pub fn load(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Value(s) => Ok(s.clone()),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.lines().next().unwrap_or_default().trim().to_owned()))
                .map_err(|e| format!("secret file {}: {e}", path.display())),
            SecretSource::Env(var) => std::env::var(var)
                .map(Secret)
                .map_err(|_| format!("secret variable {var} is not set")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_secret_is_blanked_whole_and_by_its_path_query_and_credentials() {
        let s = Secret::new("https://bot:pa55@hooks.example/services/T1/B2/X3?token=t0k");
        let text = "POST /services/T1/B2/X3?token=t0k; path /services/T1/B2/X3; query token=t0k; \
                    user bot, password pa55; whole https://bot:pa55@hooks.example/services/T1/B2/X3?token=t0k";
        let blanked = s.blank_in(text);
        for piece in ["T1", "B2", "X3", "t0k", "pa55", "bot"] {
            assert!(!blanked.contains(piece), "{piece} in {blanked}");
        }
    }

    #[test]
    fn a_plain_secret_is_blanked_wherever_it_is_quoted() {
        let key = Secret::new("R0UTINGKEY");
        assert_eq!(
            key.blank_in(r#"{"routing_key":"R0UTINGKEY"} R0UTINGKEY"#),
            r#"{"routing_key":"[redacted]"} [redacted]"#
        );
        assert_eq!(key.blank_in("nothing here"), "nothing here");
    }

    #[test]
    fn a_secret_never_prints_and_loads_from_a_file_first_line() {
        let s = Secret::new("https://hooks.slack.com/services/T000/B000/XXXX");
        assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "R0UTINGKEY\n").unwrap();
        assert_eq!(
            SecretSource::File(path).load().unwrap().expose(),
            "R0UTINGKEY"
        );
        let err = SecretSource::Env("WARROOM_TEST_UNSET_SECRET".into())
            .load()
            .unwrap_err();
        assert!(err.contains("WARROOM_TEST_UNSET_SECRET"));
    }
}
