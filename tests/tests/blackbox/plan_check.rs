//! `warroom plan check FILE` as a commander runs it before D-day: a one-line summary and exit 0
//! for a good plan; one `FILE:LINE:COL: reason` line per error and exit 1 otherwise.

use std::path::Path;
use std::process::Command;

use warroom_tests::bins::bin;

fn check(file: &Path) -> (i32, String) {
    let out = Command::new(bin("warroom"))
        .args(["plan", "check"])
        .arg(file)
        .output()
        .expect("run warroom plan check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const PLAN: &str = "name: ec2-to-k8s
environments:
  source: 'env=\"source\"'
  target: 'env=\"target\", cluster=\"eks-prod\"'
phases:
  - name: prepare
    traffic: 0
  - name: shift-25
    traffic: 25
    hold_for: 15m
    gates:
      - runbook: done
  - name: shift-100
    traffic: 100
    point_of_no_return: true
runbook:
  - id: snapshot
    title: Snapshot the database
    phase: prepare
    planned: 20m
  - id: dns
    title: Lower the DNS TTL
    phase: prepare
    planned: 5m
    depends_on: [snapshot]
";

#[test]
fn a_good_plan_prints_its_summary_and_exits_0() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.yaml");
    std::fs::write(&file, PLAN).unwrap();

    // Act
    let (code, out) = check(&file);

    // Assert
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        format!(
            "{}: plan \"ec2-to-k8s\": 3 phases (point of no return: shift-100), 1 gates, 0 services, 2 runbook steps",
            file.display()
        )
    );
}

#[test]
fn a_broken_plan_prints_every_error_at_its_line_and_column_and_exits_1() {
    // Arrange: traffic going down, an unknown step, and a cycle.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.yaml");
    let broken = PLAN.replace("traffic: 100", "traffic: 20").replace(
        "planned: 20m",
        "planned: 20m\n    depends_on: [dns, rollback]",
    );
    std::fs::write(&file, broken).unwrap();

    // Act
    let (code, out) = check(&file);

    // Assert
    assert_eq!(code, 1, "{out}");
    let f = file.display();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{f}:14:14: phase shift-100: traffic 20% is lower than the 25% of phase shift-25 before it"
            ),
            format!("{f}:21:23: runbook step snapshot: depends on unknown step rollback"),
            format!("{f}:26:18: runbook step dns: dependency cycle snapshot → dns → snapshot"),
        ]
    );
}

#[test]
fn a_missing_plan_file_is_named_and_exits_1() {
    // Act
    let (code, out) = check(Path::new("/nonexistent/plan.yaml"));

    // Assert
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("/nonexistent/plan.yaml:0:0: cannot read the plan: "),
        "{out}"
    );
}
