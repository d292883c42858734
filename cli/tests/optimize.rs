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

/// A local HTTP server answering every request with `status` and `body` (a stand-in for Cost
/// Explorer, which moto does not emulate for this call); returns its endpoint.
fn replay(status: u16, body: &'static str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut req = vec![0u8; len];
            let _ = r.read_exact(&mut req);
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    endpoint
}

const SP_RECOMMENDATION: &str = r#"{
  "Metadata": {"RecommendationId": "5e2f8a4c-8c0b-4b8e-9d2a-0a1b2c3d4e5f", "GenerationTimestamp": "2026-11-26T08:12:54Z", "AdditionalMetadata": ""},
  "SavingsPlansPurchaseRecommendation": {
    "AccountScope": "PAYER", "LookbackPeriodInDays": "SEVEN_DAYS", "PaymentOption": "NO_UPFRONT",
    "SavingsPlansType": "COMPUTE_SP", "TermInYears": "ONE_YEAR",
    "SavingsPlansPurchaseRecommendationDetails": [{
      "AccountId": "111122223333", "CurrencyCode": "USD", "EstimatedAverageUtilization": "97.5",
      "EstimatedMonthlySavingsAmount": "12.345", "EstimatedSavingsPercentage": "18.2",
      "HourlyCommitmentToPurchase": "0.052", "UpfrontCost": "0",
      "SavingsPlansDetails": {"InstanceFamily": "", "OfferingId": "6c3d5a2e-0000-4000-8000-00000000abcd", "Region": ""}
    }],
    "SavingsPlansPurchaseRecommendationSummary": {
      "CurrencyCode": "USD", "EstimatedMonthlySavingsAmount": "12.345", "EstimatedSavingsPercentage": "18.2",
      "HourlyCommitmentToPurchase": "0.052", "TotalRecommendationCount": "1"
    }
  }
}"#;

fn costkit_aws(args: &[&str], endpoint: &str, cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("COSTKIT_AWS_ENDPOINT", endpoint)
        .output()
        .expect("run costkit")
}

#[test]
fn recommend_commitments_shows_aws_next_to_the_simulation() {
    let dir = tempfile::tempdir().expect("dir");
    let sample = root().join("tests/fixtures/aws/sp_negation.csv");
    let endpoint = replay(200, SP_RECOMMENDATION);
    let args = [
        "recommend",
        "commitments",
        "--discount",
        "0.28",
        "--aws-recommendation",
        "--lookback",
        "7",
        sample.to_str().expect("path"),
    ];
    let out = costkit_aws(&args, &endpoint, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Savings Plans side by side"), "{stdout}");
    let row = |label: &str| {
        stdout
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no `{label}` row in\n{stdout}"))
            .to_string()
    };
    assert!(row("costkit max savings").contains("USD"));
    let total = row("AWS total");
    assert!(
        total.contains("0.052") && total.contains("12.35"),
        "{total}"
    );
    assert!(row("AWS account 111122223333").contains("97.5%"));
    assert!(!stdout.contains("Note:"), "{stdout}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let out = costkit_aws(&json_args, &endpoint, dir.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["recommendations"].is_array());
    let s = &v["provider"]["summary"];
    assert_eq!(s["hourly_commitment"], "0.052");
    assert_eq!(s["estimated_monthly_savings"], "12.345");
    assert_eq!(s["estimated_savings_fraction"], "0.182");
    assert_eq!(s["lookback_days"], 7);
    assert_eq!(
        v["provider"]["details"][0]["estimated_utilization"],
        "0.975"
    );
    assert_eq!(v["notes"], serde_json::json!([]));
}

#[test]
fn recommend_commitments_notes_an_unreachable_aws_and_still_prints_the_simulation() {
    let dir = tempfile::tempdir().expect("dir");
    let sample = root().join("tests/fixtures/aws/sp_negation.csv");
    // A port nothing listens on any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let args = [
        "recommend",
        "commitments",
        "--discount",
        "0.28",
        "--aws-recommendation",
        sample.to_str().expect("path"),
    ];
    let out = costkit_aws(&args, &closed, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("max savings"),
        "simulation printed: {stdout}"
    );
    assert!(
        stdout.contains("Note: AWS recommendation unavailable")
            && stdout.contains("gave up after 3 attempts"),
        "{stdout}"
    );

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let out = costkit_aws(&json_args, &closed, dir.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["recommendations"].as_array().map(Vec::len), Some(1));
    assert!(v["provider"].is_null());
    let note = v["notes"][0].as_str().expect("a note");
    assert!(note.starts_with("AWS recommendation unavailable"), "{note}");

    // A service error (not retried) is a note too, with AWS's code and message.
    let endpoint = replay(
        400,
        r#"{"__type":"DataUnavailableException","Message":"Cost Explorer is not enabled for this account"}"#,
    );
    let out = costkit_aws(&json_args, &endpoint, dir.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let note = v["notes"][0].as_str().expect("a note");
    assert!(
        note.contains("GetSavingsPlansPurchaseRecommendation failed (DataUnavailableException)"),
        "{note}"
    );
    assert!(
        note.contains("Cost Explorer is not enabled for this account"),
        "{note}"
    );
}

#[test]
fn recommend_commitments_rejects_a_lookback_aws_does_not_offer() {
    let dir = tempfile::tempdir().expect("dir");
    let sample = root().join("tests/fixtures/aws/sp_negation.csv");
    let out = costkit_aws(
        &[
            "recommend",
            "commitments",
            "--discount",
            "0.28",
            "--aws-recommendation",
            "--lookback",
            "14",
            sample.to_str().expect("path"),
        ],
        "http://127.0.0.1:9",
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("7, 30 or 60"));
}
