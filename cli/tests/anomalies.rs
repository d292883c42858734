//! `costkit anomalies` over a store loaded from a generated FOCUS file: 120 days of spend in two
//! accounts with a two-day jump in one of them.

use std::path::Path;
use std::process::{Command, Output};

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COSTKIT_STORE")
        .output()
        .expect("run costkit")
}

const HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingAccountType,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,ContractedCost,ContractedUnitPrice,EffectiveCost,InvoiceIssuerName,ListCost,ListUnitPrice,PricingCategory,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,RegionName,ResourceId,ServiceCategory,ServiceName,SubAccountId,SubAccountName,SubAccountType,Tags";

fn focus_csv() -> String {
    let d0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let mut s = String::from(HEADER);
    s.push('\n');
    for t in 0..120i64 {
        let day = d0 + chrono::Duration::days(t);
        let next = day + chrono::Duration::days(1);
        let month = day.format("%Y-%m-01").to_string();
        let month_end = chrono::NaiveDate::parse_from_str(&month, "%Y-%m-%d")
            .expect("month")
            .checked_add_months(chrono::Months::new(1))
            .expect("next month");
        let wiggle = ["0.00", "3.10", "-2.20", "1.05", "-1.75"][t as usize % 5];
        let a: f64 = 300.0 + wiggle.parse::<f64>().expect("wiggle");
        let b = if (100..102).contains(&t) {
            600.5
        } else {
            200.0
        };
        for (cost, account, region, service, resource) in [
            (
                format!("{a:.2}"),
                "111",
                "us-east-1",
                "Amazon Elastic Compute Cloud",
                "i-111",
            ),
            (
                format!("{b:.2}"),
                "222",
                "eu-west-1",
                "Amazon Elastic Compute Cloud",
                "i-222",
            ),
            (
                "50.25".to_string(),
                "111",
                "us-east-1",
                "Amazon Simple Storage Service",
                "bucket-111",
            ),
        ] {
            s.push_str(&format!(
                "{cost},000999,Acme,Organization,USD,{month_end}T00:00:00Z,{month}T00:00:00Z,Usage,,x,Usage-Based,{next}T00:00:00Z,{day}T00:00:00Z,{cost},,{cost},AWS,{cost},,Standard,1,Hours,AWS,AWS,{region},{region},{resource},Compute,{service},{account},acct{account},Account,{{}}\n"
            ));
        }
    }
    s
}

const MONITORS: &str = "version: 1
monitors:
  - name: total
    currency: USD
  - name: per-account
    currency: USD
    split_by: account
feedback:
  - verdict: planned
    monitor: per-account
    dimensions: {account: '222'}
    start: 2024-04-09
    end: 2024-04-12
";

#[test]
fn anomalies_table_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("focus.csv"), focus_csv()).expect("write");
    std::fs::write(dir.path().join("monitors.yaml"), MONITORS).expect("write");
    let o = costkit(&["load", "focus.csv", "--from", "focus"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let args = [
        "anomalies",
        "--since",
        "2024-01-01",
        "--today",
        "2024-05-01",
    ];
    let o = costkit(&[&args[..], &["--json"]].concat(), dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let list = v.as_array().expect("array");
    assert_eq!(list.len(), 2, "{v:#}");
    let total = list
        .iter()
        .find(|a| a["monitor"] == "total")
        .expect("total");
    assert_eq!(total["start"], "2024-04-10");
    assert_eq!(total["end"], "2024-04-11");
    assert_eq!(total["actual"], "1904.60");
    // Account 222, region eu-west-1 and EC2 each carry the whole jump (their order is decided by
    // cents of noise); S3 and account 111 carry nothing.
    let top: Vec<String> = total["root_causes"]
        .as_array()
        .expect("causes")
        .iter()
        .take(3)
        .map(|c| {
            format!(
                "{}={}",
                c["dimension"].as_str().unwrap_or(""),
                c["value"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "account=222",
        "region=eu-west-1",
        "service=Amazon Elastic Compute Cloud",
    ] {
        assert!(top.iter().any(|t| t == want), "{top:?}");
    }
    assert!(total["suppressed_by"].is_null());
    let per = list
        .iter()
        .find(|a| a["monitor"] == "per-account")
        .expect("per-account");
    assert!(per["suppressed_by"].is_string(), "planned feedback applies");

    let o = costkit(&args, dir.path());
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("2024-04-10") && text.contains("1,904.60"),
        "{text}"
    );
    assert!(text.contains("account=222"), "{text}");
    assert!(
        text.contains("suppressed: per-account 2024-04-10"),
        "{text}"
    );

    // With the billing files, the jump is traced to the resource (the store has no resource ids).
    let o = costkit(
        &[&args[..], &["--json", "--details", "focus.csv"]].concat(),
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let total = v
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["monitor"] == "total")
        .expect("total")
        .clone();
    let resource = total["root_causes"]
        .as_array()
        .expect("causes")
        .iter()
        .find(|c| c["dimension"] == "resource")
        .expect("a resource cause")
        .clone();
    assert_eq!(resource["value"], "i-222", "{total:#}");
    let contribution: f64 = resource["contribution"]
        .as_str()
        .expect("decimal string")
        .parse()
        .expect("number");
    assert!((contribution - 801.0).abs() < 15.0, "{resource}");
    let o = costkit(
        &[&args[..], &["--details", "focus.csv"]].concat(),
        dir.path(),
    );
    assert!(o.status.success());

    // Before the jump there is nothing to report.
    let o = costkit(
        &[
            "anomalies",
            "--since",
            "2024-01-01",
            "--today",
            "2024-04-10",
        ],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("no anomalies"));
}

#[test]
fn a_bad_monitors_file_names_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("monitors.yaml"),
        "monitors:\n  - name: a\n    currency: dollars\n",
    )
    .expect("write");
    let o = costkit(&["anomalies", "--store", "none.db"], dir.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("monitors.yaml:3:"), "{err}");
}
