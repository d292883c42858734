//! End-to-end test of `costkit budget check` over a store loaded from a FOCUS fixture.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COSTKIT_STORE")
        .output()
        .expect("run costkit")
}

fn fixture(rel: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    p.display().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

// focus12_small.csv, September 2024: AWS USD 10.125 (EC2, team=web) + 0.0000000001 (S3) + 5.5 tax
// - 2.25 credit on the 1st; Microsoft EUR 20 (team=web) on the 2nd.
const BUDGETS: &str = "version: 1
budgets:
  - name: aws
    period: monthly
    amount: {fixed: 20}
    currency: USD
    scope: {providers: [AWS]}
    thresholds:
      - percent: 50
      - percent: 80
  - name: aws-usage
    period: monthly
    amount: {fixed: 20}
    currency: USD
    include: {credits: false, tax: false}
    thresholds: [{percent: 50}]
  - name: web
    period: monthly
    amount: {fixed: 10}
    currency: USD
    scope:
      tag: {key: team, values: [web]}
    thresholds: [{amount: 10}]
";

#[test]
fn budget_check_reports_spend_fires_once_and_keeps_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit(
        &["load", &fixture("tests/fixtures/cli/focus12_small.csv")],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::write(dir.path().join("budgets.yaml"), BUDGETS).expect("write budgets");
    let check = |format: &str| {
        costkit(
            &[
                "budget",
                "check",
                "--budgets",
                "budgets.yaml",
                "--now",
                "2024-09-15T00:00:00Z",
                "--format",
                format,
            ],
            dir.path(),
        )
    };

    let o = check("json");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let b = |name: &str| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|x| x["budget"] == name)
            .cloned()
            .expect(name)
    };
    let aws = b("aws");
    assert_eq!(aws["period"], "2024-09");
    assert_eq!(
        aws["actual"], "13.3750000001",
        "10.125 + 1e-10 + 5.5 - 2.25"
    );
    assert_eq!(aws["amount"], "20");
    assert_eq!(aws["alerts"].as_array().expect("alerts").len(), 1);
    assert_eq!(aws["alerts"][0]["threshold"], "actual:50%");
    assert_eq!(aws["open_alerts"][0], "actual:50%");
    // Only the EC2 and S3 usage: tax and the credit are excluded.
    assert_eq!(b("aws-usage")["actual"], "10.1250000001");
    let web = b("web");
    assert_eq!(
        web["actual"], "10.125",
        "the EUR row of team=web is not added to USD"
    );
    assert_eq!(web["alerts"][0]["threshold"], "actual:10");
    assert!(
        web["warnings"][0]
            .as_str()
            .expect("warning")
            .contains("20 EUR"),
        "{web}"
    );
    let state = dir.path().join("costkit.db.budget-state.json");
    assert!(state.exists(), "state is persisted next to the store");

    // Same instant again: the state remembers, nothing fires.
    let o = check("table");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(!out.contains("ALERT"), "{out}");
    assert!(out.contains("13.38 USD") && out.contains("66.9%"), "{out}");
}

#[test]
fn an_invalid_budgets_file_names_the_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit(
        &["load", &fixture("tests/fixtures/cli/focus12_small.csv")],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let bad = BUDGETS.replace("      - percent: 80", "      - percent: -80");
    std::fs::write(dir.path().join("budgets.yaml"), bad).expect("write budgets");
    let o = costkit(
        &["budget", "check", "--budgets", "budgets.yaml"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("budgets.yaml:10: budgets[0].thresholds[1].percent: must be > 0"),
        "{}",
        text(&o.stderr)
    );
}
