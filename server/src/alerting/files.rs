//! The files the pipeline reads: every rule file of the rules directory (SLOs expanded into their
//! groups) and `alerting.yaml`, each loaded whole or refused whole with every error, plus a cheap
//! stamp of those files so a change is noticed without a file-watching dependency.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use warroom_alerts::config::AlertingConfig;
use warroom_alerts::rules::{RuleGroup, load_file};
use warroom_alerts::slo;

use super::integrations::Integrations;
use super::pipeline::Routing;
use super::settings::AlertingSettings;

/// What the files looked like: (path, modified, length) of each, in path order.
pub type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// The `*.yaml` / `*.yml` files of `dir`, sorted.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("rules directory {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every group of every rule file in `dir`, SLOs expanded; all errors if any file is bad.
pub fn load_rules(dir: &Path) -> Result<Vec<RuleGroup>, Vec<String>> {
    let files = rule_files(dir).map_err(|e| vec![e])?;
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        match load_file(path) {
            Ok(file) => {
                groups.extend(file.groups);
                for s in &file.slos {
                    match slo::expand(s) {
                        Ok(g) => groups.push(g),
                        Err(e) => errors.push(format!("{}: {e}", path.display())),
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// `alerting.yaml` with its integrations built, or the default (no receivers: alerts are
/// grouped and shown, nobody is paged) when no file is configured.
pub fn load_routing(
    settings: &AlertingSettings,
    client: &reqwest::Client,
) -> Result<Routing, String> {
    let config = match &settings.config_file {
        Some(path) => AlertingConfig::load(path).map_err(|e| e.to_string())?,
        None => default_config()?,
    };
    let integrations =
        Integrations::build(&config, client).map_err(|e| match &settings.config_file {
            Some(path) => format!("{}: {e}", path.display()),
            None => e,
        })?;
    Ok(Routing {
        config,
        integrations,
    })
}

fn default_config() -> Result<AlertingConfig, String> {
    serde_norway::from_str("route:\n  receiver: warroom\nreceivers:\n  - name: warroom\n")
        .map_err(|e| format!("built-in alerting config: {e}"))
}

/// The stamp of the rule files and `alerting.yaml` as they are now.
pub fn stamp(settings: &AlertingSettings) -> Stamp {
    let mut paths = settings
        .rules_dir
        .as_deref()
        .map(|d| rule_files(d).unwrap_or_default())
        .unwrap_or_default();
    paths.extend(settings.config_file.iter().cloned());
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (p, modified, len)
        })
        .collect()
}
