//! End-to-end tests of the `costkit` binary: real files in, exit codes, messages and files out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rust_decimal::Decimal;

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COSTKIT_STORE")
        .output()
        .expect("run costkit")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(rel: &str) -> String {
    repo().join(rel).display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Files in `dir`, including hidden temporaries.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    v.sort();
    v
}

const SMALL: &str = "tests/fixtures/cli/focus12_small.csv";

#[test]
fn normalize_writes_focus_csv_with_exact_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.csv");
    let o = costkit(
        &[
            "normalize",
            &fixture(SMALL),
            "-o",
            out.to_str().expect("utf8"),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("wrote 5 FOCUS records"),
        "{}",
        stderr(&o)
    );
    let mut rdr = csv::Reader::from_path(&out).expect("open output");
    let headers: Vec<String> = rdr
        .headers()
        .expect("headers")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(headers.len(), 58, "57 FOCUS columns + x_Team");
    assert_eq!(headers[0], "AvailabilityZone");
    assert_eq!(headers[56], "Tags");
    assert_eq!(headers[57], "x_Team");
    let col = |n: &str| headers.iter().position(|h| h == n).expect(n);
    let (billed, cur, acct) = (
        col("BilledCost"),
        col("BillingCurrency"),
        col("BillingAccountId"),
    );
    let mut usd = Decimal::ZERO;
    let mut rows = 0;
    for r in rdr.records() {
        let r = r.expect("row");
        rows += 1;
        if &r[cur] == "USD" {
            usd += r[billed].parse::<Decimal>().expect("decimal");
            assert_eq!(&r[acct], "000123456789", "leading zeros kept");
        }
    }
    assert_eq!(rows, 5);
    assert_eq!(usd, "13.3750000001".parse::<Decimal>().expect("dec"));
}

#[test]
fn loading_twice_never_double_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = fixture(SMALL);
    for _ in 0..2 {
        let o = costkit(&["load", &small, "--store", "s.db"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = costkit(
        &[
            "summary", "--store", "s.db", "--by", "provider", "--format", "json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let lines = v.as_array().expect("array");
    let aws = lines
        .iter()
        .find(|l| l["group"] == "AWS")
        .expect("AWS line");
    assert_eq!(aws["cost"], "13.3750000001");
    assert_eq!(aws["currency"], "USD");
    let ms = lines
        .iter()
        .find(|l| l["group"] == "Microsoft")
        .expect("Microsoft line");
    assert_eq!(ms["cost"], "20");
    assert_eq!(ms["currency"], "EUR");
}

#[test]
fn summary_by_tag_shows_untagged_spend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit(&["load", &fixture(SMALL), "--store", "s.db"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = costkit(
        &[
            "summary", "--store", "s.db", "--by", "tag:team", "--format", "csv", "--period",
            "2024-09",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("web,USD,10.125,10.125"), "{out}");
    assert!(out.contains("data,USD,0.0000000001,"), "{out}");
    assert!(out.contains("(untagged),USD,3.25,3.25"), "{out}");
    assert!(out.contains("web,EUR,20,20"), "{out}");
    let table = costkit(
        &["summary", "--store", "s.db", "--by", "service"],
        dir.path(),
    );
    assert!(stdout(&table).contains("TOTAL"), "{}", stdout(&table));
    assert!(
        stdout(&table).contains("13.38"),
        "rounded to cents for reading: {}",
        stdout(&table)
    );
}

#[test]
fn bad_input_fails_with_location_and_leaves_no_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read_to_string(repo().join(SMALL)).expect("fixture");
    let bad = good.replacen("10.125,000123456789", "ten,000123456789", 1);
    std::fs::write(dir.path().join("bad.csv"), bad).expect("write");
    let before = listing(dir.path());
    let o = costkit(
        &["normalize", "bad.csv", &fixture(SMALL), "-o", "out.parquet"],
        dir.path(),
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("bad.csv:2: column `BilledCost`"), "{err}");
    assert!(err.contains("`ten` is not a number"), "{err}");
    assert_eq!(
        listing(dir.path()),
        before,
        "no output and no temporary file left behind"
    );
}

#[test]
fn unknown_dialect_and_bad_flags_are_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("x.csv"), "name,age\nbob,3\n").expect("write");
    let o = costkit(&["normalize", "x.csv", "-o", "o.csv"], dir.path());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("x.csv:1: unknown export dialect"),
        "{}",
        stderr(&o)
    );
    let o = costkit(
        &["normalize", "x.csv", "-o", "o.csv", "--from", "nope"],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown dialect `nope`"),
        "{}",
        stderr(&o)
    );
    let o = costkit(&["summary", "--store", "missing.db"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no store here"), "{}", stderr(&o));
}

#[test]
fn demo_loads_every_provider_and_reconciles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit(&["demo", "--dir", "d"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let err = stderr(&o);
    for provider in ["AWS", "Microsoft", "Google Cloud", "Oracle"] {
        assert!(
            out.contains(provider),
            "{provider} missing from the demo summary:\n{out}"
        );
    }
    for dialect in [
        "[aws-cur]",
        "[aws-ce]",
        "[azure-actual]",
        "[gcp-billing]",
        "[focus]",
    ] {
        assert!(
            err.contains(dialect),
            "{dialect} not read by the demo:\n{err}"
        );
    }
    // Every input reports its reconciliation with the source.
    assert!(err.matches("= source").count() >= 10, "{err}");
    for f in ["d/focus.parquet", "d/focus.csv", "d/costkit.db"] {
        assert!(dir.path().join(f).exists(), "{f} not written");
    }
    // Running it again starts from a fresh store: same totals, nothing doubled.
    let again = costkit(&["demo", "--dir", "d"], dir.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), out);
}

/// Every bad-input fixture, through the real binary: a non-zero exit, a message that names the
/// file (and, where the problem is in a cell, the line), and no output file.
#[test]
fn every_bad_fixture_fails_cleanly() {
    let cases: &[(&str, bool)] = &[
        // (fixture, the message must carry a line number)
        ("tests/fixtures/aws/bad_cost.csv", true),
        ("tests/fixtures/aws/missing_unblended_cost.csv", true),
        ("tests/fixtures/azure/err_bad-cost.csv", true),
        ("tests/fixtures/azure/err_bad-date.csv", true),
        ("tests/fixtures/azure/err_bad-tags.csv", true),
        ("tests/fixtures/azure/err_missing-cost-column.csv", true),
        ("tests/fixtures/gcp/errors/bad_cost.csv", true),
        ("tests/fixtures/gcp/errors/bad_cost.ndjson", true),
        ("tests/fixtures/gcp/errors/malformed.ndjson", true),
        ("tests/fixtures/gcp/errors/missing_cost.csv", true),
        ("tests/fixtures/gcp/errors/empty.ndjson", false),
        ("tests/fixtures/aws-ce/bad-amount.json", true),
        ("tests/fixtures/aws-ce/bad-truncated.json", false),
        (
            "tests/fixtures/bad/aws-ri-purchase-recommendations.csv",
            true,
        ),
        (
            "tests/fixtures/bad/azure-reservation-recommendations.csv",
            true,
        ),
        ("tests/fixtures/bad/not-billing-inventory.csv", true),
        ("tests/fixtures/focus/invalid_cost_text.csv", true),
        ("tests/fixtures/focus/invalid_refund_category.csv", true),
        ("tests/fixtures/focus/missing_billed_cost.csv", true),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, with_line) in cases {
        let path = fixture(rel);
        assert!(Path::new(&path).exists(), "fixture {rel} is missing");
        let o = costkit(&["normalize", &path, "-o", "out.parquet"], dir.path());
        let err = stderr(&o);
        assert!(!o.status.success(), "{rel} was accepted");
        let name = Path::new(rel)
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name");
        let located = err
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains(name));
        assert!(located, "{rel}: the error does not name the file:\n{err}");
        if *with_line {
            let at_line = err.contains(&format!("{name}:"));
            assert!(at_line, "{rel}: the error does not name a line:\n{err}");
        }
        assert!(
            listing(dir.path()).is_empty(),
            "{rel}: output left behind: {:?}",
            listing(dir.path())
        );
    }
}
