//! A rule file shaped like the node and Kubernetes mixins' output loads unchanged, and its
//! annotations expand as Prometheus would expand them.

#![allow(clippy::unwrap_used)] // a failing helper should fail the test loudly

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use warroom_alerts::rules::{Rule, check_files, load_file};
use warroom_alerts::template::{Data, expand};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mixin-style.yaml"
);

#[test]
fn a_mixin_style_rule_file_loads_unchanged_with_every_group_and_rule() {
    let file = load_file(Path::new(FIXTURE)).unwrap();
    let names: Vec<&str> = file.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        ["node-exporter.rules", "node-exporter", "kubernetes-apps"]
    );
    let counts: Vec<usize> = file.groups.iter().map(|g| g.rules.len()).collect();
    assert_eq!(counts, [3, 3, 2]);
    assert_eq!(file.groups[2].interval, Some(Duration::from_secs(30)));
    let Rule::Alert(throttling) = &file.groups[2].rules[1] else {
        panic!("alert expected")
    };
    assert_eq!(throttling.keep_firing_for, Duration::from_secs(300));
    assert!(check_files(&[FIXTURE.into()]).is_empty());
}

#[test]
fn the_mixins_annotations_expand_with_labels_and_value() {
    let file = load_file(Path::new(FIXTURE)).unwrap();
    let Rule::Alert(fs) = &file.groups[1].rules[0] else {
        panic!("alert expected")
    };
    let labels = BTreeMap::from([
        ("device".to_string(), "/dev/nvme0n1p1".to_string()),
        ("mountpoint".to_string(), "/var".to_string()),
        ("instance".to_string(), "node-7".to_string()),
    ]);
    let text = expand(
        &fs.annotations["description"],
        &Data {
            labels: &labels,
            value: 7.4321,
        },
    );
    assert_eq!(
        text,
        "Filesystem on /dev/nvme0n1p1, mounted on /var, at node-7 has only 7.43% available space left and is filling up."
    );
    let Rule::Alert(ct) = &file.groups[1].rules[2] else {
        panic!("alert expected")
    };
    let text = expand(
        &ct.annotations["description"],
        &Data {
            labels: &labels,
            value: 0.8,
        },
    );
    assert_eq!(text, "80% of conntrack entries are used.");
}
