//! Test helpers for the network collectors: fixture proc trees and sample lookups.

use std::path::Path;

use tempfile::TempDir;

use crate::collect::Roots;
use crate::metrics::{Buffer, Kind, Value};

/// A temporary proc root holding `files` (relative path, content); sys is an empty sibling.
pub(crate) fn proc_tree(files: &[(&str, &str)]) -> (TempDir, Roots) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        write(&dir.path().join("proc").join(rel), text);
    }
    let roots = Roots {
        proc: dir.path().join("proc"),
        sys: dir.path().join("sys"),
    };
    (dir, roots)
}

/// Writes `text` to `path`, creating its parents.
pub(crate) fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// The value of the one sample of family `name` whose labels include all of `labels`; `None`
/// when there is none, a panic when several match (a test must name one series).
pub(crate) fn value_of(out: &Buffer, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = out.families().iter().find(|f| f.name == name)?;
    let mut matching = family.samples.iter().filter(|s| {
        labels
            .iter()
            .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
    });
    let sample = matching.next()?;
    assert!(
        matching.next().is_none(),
        "several {name} series match {labels:?}"
    );
    match &sample.value {
        Value::Number(v) => Some(*v),
        Value::Histogram(_) => panic!("{name} is a histogram"),
    }
}

/// The kind of family `name`, if written.
pub(crate) fn kind_of(out: &Buffer, name: &str) -> Option<Kind> {
    out.families()
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.kind)
}
