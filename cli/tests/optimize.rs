//! `costkit recommend` and `costkit rules` end to end.

use std::path::Path;
use std::process::{Command, Output};

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run costkit")
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn rules_check_names_the_line_and_field() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("rules.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - name: a\n    select: resources\n    filter:\n      and:\n        - tag: team\n          present: false\n        - field: BilledCost\n          op: gte2\n          value: 3\n    actions: [{flag: x}]\n",
    )
    .expect("write");
    let out = costkit(&["rules", "check", "--rules", "rules.yaml"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rules.yaml:9: rules[0].filter.and[1].op: unknown operator \"gte2\""),
        "{err}"
    );
    let example = root().join("docs/rules.example.yaml");
    let out = costkit(
        &["rules", "check", "--rules", example.to_str().expect("path")],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rules_dry_run_writes_no_outbox_and_a_run_does() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - name: big-services\n    select: cost_series\n    by: [ServiceName]\n    filter: {cost: {op: gt, value: 1}}\n    window: 9999d\n    actions:\n      - notify: finops\n",
    )
    .expect("write");
    let sample = root()
        .join("samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv");
    let sample = sample.to_str().expect("path");
    let args = [
        "rules",
        "run",
        "--rules",
        "rules.yaml",
        "--format",
        "json",
        "--dry-run",
        sample,
    ];
    let out = costkit(&args, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let findings = v["findings"].as_array().expect("findings");
    assert!(
        !findings.is_empty(),
        "EC2 (13.00) and AKS (1.58) cost more than 1 in the sample"
    );
    assert!(!dir.path().join("costkit-outbox.jsonl").exists());
    let out = costkit(
        &[
            "rules",
            "run",
            "--rules",
            "rules.yaml",
            "--format",
            "json",
            sample,
        ],
        dir.path(),
    );
    assert!(out.status.success());
    let outbox = std::fs::read_to_string(dir.path().join("costkit-outbox.jsonl")).expect("outbox");
    assert_eq!(outbox.lines().count(), findings.len());
}

#[test]
fn recommend_commitments_needs_valid_terms() {
    let dir = tempfile::tempdir().expect("dir");
    let sample = root()
        .join("samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv");
    let out = costkit(
        &[
            "recommend",
            "commitments",
            "--discount",
            "1.2",
            sample.to_str().expect("path"),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a fraction in [0, 1)"));
    let out = costkit(
        &[
            "recommend",
            "idle",
            "--format",
            "json",
            sample.to_str().expect("path"),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["recommendations"].is_array());
}
