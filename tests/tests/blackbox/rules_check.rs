//! `warroom rules check FILE...` as a user runs it: one `FILE:LINE:COL: message` line per error
//! and exit 1; exit 0 for good files.

use std::process::Command;

use warroom_tests::bins::bin;

fn check(files: &[&std::path::Path]) -> (i32, String) {
    let out = Command::new(bin("warroom"))
        .args(["rules", "check"])
        .args(files)
        .output();
    let out = out.expect("run warroom rules check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn rules_check_names_file_line_and_column_of_each_error_and_exits_1() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 0s\n")
        .expect("write");
    let broken = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(rate(x[5m])\n        for: 5mins\n";
    std::fs::write(&bad, broken).expect("write");
    // Act
    let (ok_code, ok_out) = check(&[&good]);
    let (bad_code, bad_out) = check(&[&good, &bad]);
    // Assert
    assert_eq!(ok_code, 0, "{ok_out}");
    assert_eq!(bad_code, 1);
    let line = bad_out.lines().next().expect("an error line");
    assert!(
        line.starts_with(&format!("{}:5:15: ", bad.display())),
        "{bad_out}"
    );
    assert!(line.contains("invalid PromQL"), "{bad_out}");
}
