//! `node_os_info` and `node_os_version` from `/etc/os-release` (or `/usr/lib/os-release`), read
//! once: the file does not change while the agent runs. A failed read is retried next time.

use std::path::{Path, PathBuf};

use crate::collect::procfs::short;
use crate::collect::{CollectError, Collector, Cx, Roots, procfs};
use crate::metrics::Labels;

const INFO_HELP: &str = "A metric with a constant '1' value labeled by build_id, id, id_like, \
    image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, \
    version_id.";
const VERSION_HELP: &str = "Metric containing the major.minor part of the OS version.";

/// (os-release key, label) of `node_os_info`, in label order.
const INFO: [(&str, &str); 12] = [
    ("BUILD_ID", "build_id"),
    ("ID", "id"),
    ("ID_LIKE", "id_like"),
    ("IMAGE_ID", "image_id"),
    ("IMAGE_VERSION", "image_version"),
    ("NAME", "name"),
    ("PRETTY_NAME", "pretty_name"),
    ("VARIANT", "variant"),
    ("VARIANT_ID", "variant_id"),
    ("VERSION", "version"),
    ("VERSION_CODENAME", "version_codename"),
    ("VERSION_ID", "version_id"),
];

/// What the file says, as the two series' labels and the version number.
#[derive(Debug, Clone, PartialEq)]
struct Release {
    info: Labels,
    version: f64,
}

/// Writes `node_os_info` and `node_os_version`.
pub struct OsRelease {
    candidates: [PathBuf; 2],
    release: Option<Release>,
}

impl OsRelease {
    /// A collector reading the agent's `/etc/os-release`, falling back to `/usr/lib/os-release`.
    pub fn new(_roots: &Roots) -> Self {
        Self::under(Path::new("/"))
    }

    /// A collector reading `{root}/etc/os-release` or `{root}/usr/lib/os-release`, once.
    pub fn under(root: &Path) -> Self {
        let candidates = [root.join("etc/os-release"), root.join("usr/lib/os-release")];
        let release = load(&candidates).ok();
        Self {
            candidates,
            release,
        }
    }
}

/// Parses the first candidate that exists.
fn load(candidates: &[PathBuf; 2]) -> Result<Release, CollectError> {
    match procfs::read(&candidates[0]) {
        Ok(text) => parse(&text, &candidates[0]),
        Err(e) if e.is_not_found() => parse(&procfs::read(&candidates[1])?, &candidates[1]),
        Err(e) => Err(e),
    }
}

/// Parses `KEY=value` lines (values optionally quoted); blank lines and `#` comments are skipped.
fn parse(text: &str, path: &Path) -> Result<Release, CollectError> {
    let mut info: Labels = INFO.iter().map(|(_, l)| (*l, String::new())).collect();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            CollectError::parse(path, i + 1, format!("not KEY=value: {:?}", short(line)))
        })?;
        if let Some(slot) = INFO.iter().position(|(k, _)| *k == key) {
            info[slot].1 = unquote(value);
        }
    }
    let version = major_minor(&info[11].1);
    Ok(Release { info, version })
}

/// A shell-style value without its quotes and backslash escapes.
fn unquote(value: &str) -> String {
    let inner = ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
        .unwrap_or(value);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

/// The leading `major[.minor]` of `VERSION_ID` as a number (`22.04.3` → 22.04), 0 when none.
fn major_minor(version_id: &str) -> f64 {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let major = digits(version_id);
    let rest = &version_id[major..];
    let end = match rest.strip_prefix('.') {
        Some(minor) if major > 0 => major + 1 + digits(minor),
        _ => major,
    };
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

impl Collector for OsRelease {
    fn name(&self) -> &'static str {
        "os_release"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        if self.release.is_none() {
            self.release = Some(load(&self.candidates)?);
        }
        let Some(release) = &self.release else {
            return Ok(());
        };
        let info = release.info.clone();
        let version_labels = vec![info[1].clone(), info[2].clone(), info[5].clone()];
        cx.out.gauge("node_os_info", INFO_HELP).push(info, 1.0);
        let version = release.version;
        let family = cx.out.gauge("node_os_version", VERSION_HELP);
        family.push(version_labels, version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::run_one;

    /// This machine's `/usr/lib/os-release`, verbatim.
    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    fn root_with(rel: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        dir
    }

    #[test]
    fn the_real_file_yields_info_and_version_like_node_exporter() {
        let dir = root_with("usr/lib/os-release", DEBIAN);
        let buf = run_one(&mut OsRelease::under(dir.path())).unwrap();
        let info = &buf.families()[0].samples[0].labels;
        let get = |k| info.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("pretty_name"), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(get("version_codename"), Some("bookworm"));
        assert_eq!(get("variant"), Some(""));
        assert_eq!(info.len(), 12);
        let labels = [
            ("id", "debian"),
            ("id_like", ""),
            ("name", "Debian GNU/Linux"),
        ];
        assert_eq!(buf.value("node_os_version", &labels), Some(12.0));
    }

    #[test]
    fn the_file_is_read_once_at_construction() {
        let dir = root_with("etc/os-release", DEBIAN);
        let mut collector = OsRelease::under(dir.path());
        std::fs::remove_file(dir.path().join("etc/os-release")).unwrap();
        let buf = run_one(&mut collector).unwrap();
        assert_eq!(buf.value("node_os_info", &[("id", "debian")]), Some(1.0));
    }

    #[test]
    fn versions_keep_major_and_minor_only() {
        assert_eq!(major_minor("22.04.3"), 22.04);
        assert_eq!(major_minor("9"), 9.0);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(unquote(r#""a \"b\"""#), r#"a "b""#);
    }

    #[test]
    fn a_garbage_line_is_a_parse_error_naming_file_and_line() {
        let dir = root_with("etc/os-release", "ID=debian\n\u{0}garbage\n");
        let err = run_one(&mut OsRelease::under(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("etc/os-release:2: not KEY=value: \"\\0garbage\""),
            "{err}"
        );
    }

    #[test]
    fn no_file_at_all_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_one(&mut OsRelease::under(dir.path())).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
