//! End-to-end tests of `costkit forecast`: the machine contract (`--input FILE --horizon N`) and
//! the store mode for people.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COSTKIT_STORE")
        .output()
        .expect("run costkit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Parses the machine output and checks its shape: the header, `n` rows, numbers with
/// `lo80 <= forecast <= hi80`. Returns (date, forecast, lo80, hi80).
fn parse(out: &str, n: usize) -> Vec<(String, f64, f64, f64)> {
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("date,forecast,lo80,hi80"));
    let rows: Vec<(String, f64, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            let x = |i: usize| f[i].parse::<f64>().unwrap_or_else(|_| panic!("{l}"));
            (f[0].to_string(), x(1), x(2), x(3))
        })
        .collect();
    assert_eq!(rows.len(), n);
    for r in &rows {
        assert!(r.2 <= r.1 && r.1 <= r.3, "{r:?}");
    }
    rows
}

#[test]
fn daily_file_in_daily_forecast_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let mut csv = String::from("date,value\n");
    for i in 0..120 {
        // A weekly pattern; day 50 is missing (a gap).
        if i == 50 {
            continue;
        }
        let v = [100.0, 110.0, 120.0, 115.0, 105.0, 40.0, 35.0][i % 7] + (i % 3) as f64;
        csv.push_str(&format!("{},{v}\n", start + Duration::days(i as i64)));
    }
    std::fs::write(dir.path().join("d.csv"), csv).expect("write");
    let o = costkit(
        &["forecast", "--input", "d.csv", "--horizon", "14"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows = parse(&text(&o.stdout), 14);
    for (k, r) in rows.iter().enumerate() {
        let day = start + Duration::days(120 + k as i64);
        assert_eq!(r.0, day.to_string(), "date-only in, date-only out");
        let want = [100.0, 110.0, 120.0, 115.0, 105.0, 40.0, 35.0][(120 + k) % 7] + 1.0;
        assert!((r.1 - want).abs() < 6.0, "{r:?} vs {want}");
    }
    assert!(text(&o.stderr).contains("backtest"), "{}", text(&o.stderr));
}

#[test]
fn hourly_from_stdin_keeps_the_time_of_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start =
        NaiveDateTime::parse_from_str("2024-03-01 00:00:00", "%Y-%m-%d %H:%M:%S").expect("time");
    let mut csv = String::from("date,value\n");
    for i in 0..24 * 21 {
        let t = start + Duration::hours(i);
        let v = 50.0 + 30.0 * ((t.hour_of_day() as f64 - 12.0) / 12.0).abs();
        csv.push_str(&format!("{},{v}\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(["forecast", "--input", "-", "--horizon", "48"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(csv.as_bytes()).expect("write stdin");
    }
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows = parse(&text(&o.stdout), 48);
    let last = start + Duration::hours(24 * 21 - 1);
    for (k, r) in rows.iter().enumerate() {
        let t = last + Duration::hours(k as i64 + 1);
        assert_eq!(r.0, t.format("%Y-%m-%d %H:%M:%S").to_string());
        let want = 50.0 + 30.0 * ((t.hour_of_day() as f64 - 12.0) / 12.0).abs();
        assert!((r.1 - want).abs() < 3.0, "{r:?} vs {want}");
    }
}

trait HourOfDay {
    fn hour_of_day(&self) -> u32;
}
impl HourOfDay for NaiveDateTime {
    fn hour_of_day(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
}

#[test]
fn bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.csv"),
        "date,value\n2024-01-01,1\n2024-01-02,lots\n",
    )
    .expect("write");
    let o = costkit(
        &["forecast", "--input", "bad.csv", "--horizon", "3"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout: {}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stderr).contains("bad.csv:3: value: `lots` is not a number"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(dir.path().join("empty.csv"), "date,value\n").expect("write");
    let o = costkit(
        &["forecast", "--input", "empty.csv", "--horizon", "3"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("empty.csv: no rows"),
        "{}",
        text(&o.stderr)
    );
    let o = costkit(
        &["forecast", "--input", "missing.csv", "--horizon", "3"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("missing.csv"),
        "{}",
        text(&o.stderr)
    );
    let o = costkit(&["forecast", "--input", "bad.csv"], dir.path());
    assert!(!o.status.success());
}

const HEADER: &str = "BilledCost,BillingAccountId,BillingAccountName,BillingAccountType,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,ContractedCost,ContractedUnitPrice,EffectiveCost,InvoiceIssuerName,ListCost,ListUnitPrice,PricingCategory,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,RegionName,ResourceId,ServiceCategory,ServiceName,SubAccountId,SubAccountName,SubAccountType,Tags";

fn focus_row(day: NaiveDate, service: &str, cost: &str) -> String {
    let ts = |d: NaiveDate| format!("{d}T00:00:00Z");
    let month = day.with_day(1).expect("first");
    let next_month = (month + Duration::days(32)).with_day(1).expect("next");
    format!(
        "{cost},000123456789,Acme,Organization,USD,{},{},Usage,,x,Usage-Based,{},{},{cost},,{cost},AWS,{cost},,Standard,1,Hours,AWS,AWS,us-east-1,US East,r-1,Compute,{service},000123456789,prod,Account,{{}}",
        ts(next_month),
        ts(month),
        ts(day + Duration::days(1)),
        ts(day)
    )
}

#[test]
fn store_mode_prints_period_totals_with_ranges_and_backtests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = NaiveDate::from_ymd_opt(2024, 6, 1).expect("date");
    let mut csv = format!("{HEADER}\n");
    let mut sept_ec2 = Decimal::ZERO;
    for i in 0..106 {
        let day = start + Duration::days(i);
        let weekend = day.weekday().number_from_monday() >= 6;
        // Cents and sub-cent amounts: the actual-to-date must stay exact.
        let ec2 = Decimal::new(
            if weekend {
                60_125
            } else {
                100_375 + (i % 5) * 1_000
            },
            3,
        );
        if day.month() == 9 {
            sept_ec2 += ec2;
        }
        csv.push_str(&focus_row(
            day,
            "Amazon Elastic Compute Cloud",
            &ec2.to_string(),
        ));
        csv.push('\n');
        csv.push_str(&focus_row(day, "Amazon Simple Storage Service", "10"));
        csv.push('\n');
    }
    std::fs::write(dir.path().join("focus.csv"), csv).expect("write");
    let o = costkit(&["load", "focus.csv"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));

    let o = costkit(
        &["forecast", "--by", "service", "--format", "json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let series = v.as_array().expect("array");
    assert_eq!(series.len(), 2);
    let ec2 = &series[0];
    assert_eq!(
        ec2["group"], "Amazon Elastic Compute Cloud",
        "largest first"
    );
    assert_eq!(ec2["last_day"], "2024-09-14");
    let month = &ec2["periods"][0];
    assert_eq!(month["period"], "2024-09");
    let dec = |x: &serde_json::Value| x.as_str().expect("string").parse::<Decimal>().expect("dec");
    assert_eq!(dec(&month["actual"]), sept_ec2);
    assert_eq!(month["remaining_days"], 16);
    assert_eq!(
        dec(&month["total"]),
        dec(&month["actual"]) + dec(&month["forecast"])
    );
    assert!(
        dec(&month["lo80"]) <= dec(&month["total"]) && dec(&month["total"]) <= dec(&month["hi80"])
    );
    // About 16 days at 60..105 a day.
    let fc = dec(&month["forecast"]);
    assert!(
        fc > Decimal::from(1100) && fc < Decimal::from(1600),
        "{month}"
    );
    assert_eq!(ec2["periods"][1]["period"], "2024-Q3");
    assert_eq!(ec2["periods"][2]["period"], "2024");
    assert!(ec2["backtest"]["mase"].is_number(), "{ec2}");
    // S3 is a constant 10 a day: 16 more days of 10.
    let s3 = &series[1];
    assert_eq!(dec(&s3["periods"][0]["total"]), Decimal::from(300));

    let o = costkit(&["forecast", "--by", "service"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for want in [
        "Month 2024-09",
        "Quarter 2024-Q3",
        "Year 2024",
        "MASE",
        "80%",
        "Amazon Elastic Compute Cloud",
        "300.00",
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }

    // As of 2024-09-01 the September actual is zero and all of September is forecast.
    let o = costkit(
        &[
            "forecast",
            "--by",
            "service",
            "--format",
            "json",
            "--now",
            "2024-09-01T00:00:00Z",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[0]["last_day"], "2024-08-31");
    assert_eq!(v[0]["periods"][0]["actual"], "0");
    assert_eq!(v[0]["periods"][0]["remaining_days"], 30);
}

#[test]
fn store_mode_withholds_forecasts_of_too_little_history() {
    // Ten days of EC2 spend: the table says "not enough history" and why, the JSON keeps the
    // exact spend so far and gives no forecast numbers.
    let dir = tempfile::tempdir().expect("tempdir");
    let start = NaiveDate::from_ymd_opt(2024, 9, 1).expect("date");
    let mut csv = format!("{HEADER}\n");
    for i in 0..10 {
        csv.push_str(&focus_row(
            start + Duration::days(i),
            "Amazon Elastic Compute Cloud",
            "12.5",
        ));
        csv.push('\n');
    }
    std::fs::write(dir.path().join("focus.csv"), csv).expect("write");
    let o = costkit(&["load", "focus.csv"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = costkit(&["forecast", "--format", "json"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[0]["status"], "insufficient-history", "{v}");
    let month = &v[0]["periods"][0];
    assert_eq!(month["actual"], "125");
    assert!(
        month["total"].is_null() && month["hi95"].is_null(),
        "{month}"
    );
    let o = costkit(&["forecast"], dir.path());
    let out = text(&o.stdout);
    assert!(
        out.contains("not enough history") && out.contains("10 days with spend"),
        "{out}"
    );
    assert!(!out.contains("80%:"), "{out}");
}

#[test]
fn store_mode_without_a_store_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit(&["forecast"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("costkit load"),
        "{}",
        text(&o.stderr)
    );
}
