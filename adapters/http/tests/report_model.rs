//! The report model over real SQLite stores loaded from the repository's fixtures and samples:
//! totals equal the store's sums, breakdowns and the daily series add up to the totals, the CSV
//! carries the same numbers as the JSON, and the JSON validates against the published schema.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use costkit_core::aggregate::{CostBasis, GroupBy};
use costkit_core::budget::BudgetFile;
use costkit_core::money::Currency;
use costkit_core::report::{
    build, render_csv, render_json, EngineSections, ForecastInterval, ForecastLine, Recommendation,
    Report, ReportAnomaly, ReportError, ReportOptions, ReportPeriod, ReportScope, RootCause,
};
use costkit_core::store::{CostStore, Filter};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;
use serde_json::Value;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn all_samples() -> SqliteStore {
    let mut s = SqliteStore::in_memory().expect("store");
    common::load(
        &mut s,
        &[
            common::TWO_MONTHS,
            common::MULTI,
            common::AZURE_EA,
            common::AWS_CUR,
        ],
    );
    s
}

fn report(
    store: &dyn CostStore,
    period: &str,
    scope: &ReportScope,
    options: &ReportOptions,
    now: &str,
) -> Report {
    build(
        store,
        &ReportPeriod::parse(period).expect("period"),
        scope,
        options,
        EngineSections::default(),
        at(now),
    )
    .expect("report")
}

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(common::repo_file("docs/report.schema.json")).expect("schema file");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
}

/// Every period and provider of every sample: JSON totals equal the store's own sums, and every
/// breakdown and the daily series add up to them.
#[test]
fn totals_equal_the_store_for_every_period_and_scope() {
    let store = all_samples();
    let periods = common::periods(&store);
    assert!(
        periods.len() >= 4,
        "samples span several periods: {periods:?}"
    );
    let options = ReportOptions {
        tag_keys: vec!["team".into()],
        // Small, so the "(N others)" folding is exercised and must keep the sums.
        breakdown_limit: 3,
        ..ReportOptions::default()
    };
    let mut checked = 0;
    for period in &periods {
        let mut scopes = vec![ReportScope::default()];
        let providers: std::collections::BTreeSet<String> = store
            .daily(&Filter {
                billing_period: Some(period.clone()),
                provider: None,
            })
            .expect("daily")
            .into_iter()
            .map(|r| r.slice.provider.to_string())
            .collect();
        scopes.extend(
            providers
                .into_iter()
                .map(|p| ReportScope { provider: Some(p) }),
        );
        for scope in scopes {
            let r = report(&store, period, &scope, &options, "2025-06-01T00:00:00Z");
            let filter = Filter {
                billing_period: Some(period.clone()),
                provider: scope.provider.clone(),
            };
            // The JSON as served, read back as text: what a consumer sees.
            let json: Value =
                serde_json::from_slice(&render_json(&r).expect("json")).expect("parse");
            let totals = json["totals"].as_array().expect("totals");
            assert!(!totals.is_empty());
            for t in totals {
                let cur = t["currency"].as_str().expect("currency");
                let (b, e) = common::store_sums(&store, &filter, cur);
                assert_eq!(
                    dec(t["billed"].as_str().expect("billed")),
                    b,
                    "{period} {scope:?} {cur}"
                );
                assert_eq!(
                    dec(t["effective"].as_str().expect("effective")),
                    e,
                    "{period} {scope:?} {cur}"
                );
            }
            for b in &r.breakdowns {
                let mut sums: BTreeMap<&Currency, (Decimal, Decimal)> = BTreeMap::new();
                for l in &b.lines {
                    let s = sums.entry(&l.currency).or_default();
                    s.0 += l.billed;
                    s.1 += l.effective;
                }
                for t in &r.totals {
                    assert_eq!(
                        sums.get(&t.currency).copied().unwrap_or_default(),
                        (t.billed, t.effective),
                        "{period} {scope:?} breakdown {} adds up to the total",
                        b.dimension
                    );
                }
            }
            if r.notes.iter().all(|n| !n.contains("outside the month")) {
                for t in &r.totals {
                    let daily: Decimal = r
                        .daily
                        .lines
                        .iter()
                        .filter(|l| l.currency == t.currency)
                        .flat_map(|l| l.billed.iter())
                        .sum();
                    assert_eq!(daily, t.billed, "{period} {scope:?} daily series");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "checked {checked} reports");
}

/// The CSV's total rows equal the JSON's totals, and every CSV row has the seven columns.
#[test]
fn csv_carries_the_json_numbers() {
    let store = all_samples();
    let r = report(
        &store,
        "2024-09",
        &ReportScope::default(),
        &ReportOptions::default(),
        "2025-06-01T00:00:00Z",
    );
    let csv = render_csv(&r).expect("csv");
    let mut rd = csv::Reader::from_reader(&csv[..]);
    assert_eq!(
        rd.headers().expect("header").iter().collect::<Vec<_>>(),
        [
            "section",
            "dimension",
            "group",
            "day",
            "currency",
            "metric",
            "value"
        ]
    );
    let mut totals: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    let mut breakdown_billed: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    let mut rows = 0;
    for rec in rd.records() {
        let rec = rec.expect("row");
        assert_eq!(rec.len(), 7);
        rows += 1;
        match &rec[0] {
            "total" => {
                totals.insert((rec[4].to_string(), rec[5].to_string()), dec(&rec[6]));
            }
            "breakdown" if &rec[5] == "billed" => {
                *breakdown_billed
                    .entry((rec[1].to_string(), rec[4].to_string()))
                    .or_default() += dec(&rec[6]);
            }
            _ => {}
        }
    }
    assert!(rows > 100);
    for t in &r.totals {
        let c = t.currency.to_string();
        assert_eq!(totals[&(c.clone(), "billed".to_string())], t.billed);
        assert_eq!(totals[&(c.clone(), "effective".to_string())], t.effective);
        for dim in [
            "provider",
            "service",
            "account",
            "region",
            "charge-category",
        ] {
            assert_eq!(
                breakdown_billed[&(dim.to_string(), c.clone())],
                t.billed,
                "{dim}"
            );
        }
    }
}

/// Like-for-like change and movers, checked by hand against the two-month fixture: August has
/// 10 + 10 + 4.50 on the 1st-3rd and 1000 on the 20th; September 15 + 12.25 + 0.40 on the 1st-3rd.
#[test]
fn change_is_like_for_like() {
    let mut store = SqliteStore::in_memory().expect("store");
    common::load(&mut store, &[common::TWO_MONTHS]);
    // Mid-month, data through the 3rd: September 1-3 against August 1-3.
    let r = report(
        &store,
        "2024-09",
        &ReportScope::default(),
        &ReportOptions::default(),
        "2024-09-05T08:00:00Z",
    );
    assert!(!r.complete);
    assert_eq!(r.data_through.to_string(), "2024-09-03");
    assert_eq!(r.change.previous.start.to_string(), "2024-08-01");
    assert_eq!(r.change.previous.end.to_string(), "2024-08-04");
    let usd = &r.change.lines[0];
    assert_eq!(usd.billed.previous, dec("24.5"));
    assert_eq!(usd.billed.current, dec("27.65"));
    assert_eq!(usd.billed.change, dec("3.15"));
    // 3.15 / 24.5 = 12.857...%
    assert_eq!(usd.billed.change_pct, Some(dec("12.86")));
    // Movers by service: EC2 10 + 10 -> 15 + 12.25 (+7.25); S3 4.50 -> 0.40 (-4.10).
    let movers: Vec<(&str, Decimal)> = r
        .top_movers
        .lines
        .iter()
        .map(|m| (m.group.as_str(), m.change))
        .collect();
    assert_eq!(
        movers,
        vec![
            ("Amazon Elastic Compute Cloud", dec("7.25")),
            ("Amazon Simple Storage Service", dec("-4.1")),
        ]
    );
    // August's whole month is the previous period of a whole September; the spike on the 20th
    // is in it.
    let full = report(
        &store,
        "2024-09",
        &ReportScope::default(),
        &ReportOptions::default(),
        "2024-10-02T00:00:00Z",
    );
    assert!(full.complete);
    assert_eq!(full.change.lines[0].billed.previous, dec("24.5"));
    // Data stops on the 3rd, so the comparison still covers 3 days: the range follows the data.
    assert_eq!(full.change.current.end.to_string(), "2024-09-04");
    // August against July: no July data, a note says so, and percentages are null.
    let aug = report(
        &store,
        "2024-08",
        &ReportScope::default(),
        &ReportOptions::default(),
        "2024-09-02T00:00:00Z",
    );
    assert!(aug.notes.iter().any(|n| n.contains("2024-07")));
    assert_eq!(aug.change.lines[0].billed.change_pct, None);
    assert_eq!(aug.change.lines[0].billed.current, dec("1024.5"));
}

#[test]
fn budgets_show_the_standing_at_the_report_date() {
    let mut store = SqliteStore::in_memory().expect("store");
    common::load(&mut store, &[common::TWO_MONTHS]);
    let budgets = BudgetFile::parse(
        "version: 1
budgets:
  - name: aws
    period: monthly
    amount: {fixed: 100}
    currency: USD
    scope: {providers: [AWS]}
    thresholds:
      - percent: 20
      - percent: 100
        on: forecasted
    forecast_min_days: 3
  - name: azure
    period: monthly
    amount: {fixed: 5}
    currency: USD
    scope: {providers: [Microsoft]}
    thresholds: [{percent: 50}]
",
        "budgets.yaml",
    )
    .expect("budgets");
    let options = ReportOptions {
        budgets: budgets.budgets,
        ..ReportOptions::default()
    };
    let r = report(
        &store,
        "2024-09",
        &ReportScope::default(),
        &options,
        "2024-09-05T08:00:00Z",
    );
    assert_eq!(r.budgets.len(), 2);
    let aws = &r.budgets[0];
    assert_eq!(aws.period, "2024-09");
    assert_eq!(aws.actual, dec("27.65"));
    assert_eq!(aws.percent_used, Some(dec("27.65")));
    // Run rate: 27.65 over 3 days of data, times 30 days.
    assert_eq!(aws.forecast, Some(dec("276.5")));
    assert!(
        aws.thresholds.iter().all(|t| t.crossed),
        "{:?}",
        aws.thresholds
    );
    // The August report, built later, shows August's budget period, not the current one.
    let aug = report(
        &store,
        "2024-08",
        &ReportScope::default(),
        &options,
        "2024-11-20T00:00:00Z",
    );
    assert_eq!(aug.budgets[0].period, "2024-08");
    assert_eq!(aug.budgets[0].actual, dec("1024.5"));
    // A provider-scoped report shows only that provider's budgets.
    let scoped = report(
        &store,
        "2024-09",
        &ReportScope {
            provider: Some("AWS".into()),
        },
        &options,
        "2024-09-05T08:00:00Z",
    );
    let names: Vec<&str> = scoped.budgets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["aws"]);
}

#[test]
fn missing_data_and_bad_periods_are_errors() {
    let mut store = SqliteStore::in_memory().expect("store");
    common::load(&mut store, &[common::TWO_MONTHS]);
    let r = build(
        &store,
        &ReportPeriod::parse("2030-01").expect("period"),
        &ReportScope::default(),
        &ReportOptions::default(),
        EngineSections::default(),
        at("2030-02-01T00:00:00Z"),
    );
    assert!(matches!(r, Err(ReportError::NoData { .. })));
    let r = build(
        &store,
        &ReportPeriod::parse("2024-09").expect("period"),
        &ReportScope {
            provider: Some("Microsoft".into()),
        },
        &ReportOptions::default(),
        EngineSections::default(),
        at("2024-10-01T00:00:00Z"),
    );
    assert!(
        matches!(&r, Err(e @ ReportError::NoData { .. }) if e.to_string() == "no cost data for 2024-09 (provider Microsoft)")
    );
    assert!(matches!(
        ReportPeriod::parse("2024-13"),
        Err(ReportError::InvalidPeriod(_))
    ));
}

/// Every report of the samples validates, with and without the engine sections; documents that
/// break the schema's rules are rejected (the schema is not vacuous).
#[test]
fn json_validates_against_the_published_schema() {
    let v = schema();
    let store = all_samples();
    let options = ReportOptions {
        tag_keys: vec!["team".into(), "env".into()],
        movers_by: GroupBy::Tag("team".into()),
        basis: CostBasis::Effective,
        budgets: BudgetFile::parse(
            "version: 1\nbudgets:\n  - name: all\n    period: quarterly\n    amount: {fixed: 50}\n    currency: USD\n    thresholds: [{percent: 80}]\n",
            "b.yaml",
        )
        .expect("budgets")
        .budgets,
        ..ReportOptions::default()
    };
    for period in common::periods(&store) {
        let r = report(
            &store,
            &period,
            &ReportScope::default(),
            &options,
            "2025-01-01T00:00:00Z",
        );
        let doc: Value = serde_json::from_slice(&render_json(&r).expect("json")).expect("parse");
        assert_valid(&v, &doc);
    }
    // With every engine section filled.
    let engines = EngineSections {
        anomalies: Some(vec![ReportAnomaly {
            day: "2024-09-02".parse().expect("day"),
            dimension: "service".into(),
            group: "Amazon Elastic Compute Cloud".into(),
            currency: Currency::new("USD"),
            actual: dec("12.25"),
            expected: dec("3.1"),
            lower: Some(dec("1")),
            upper: None,
            score: 4.2,
            root_causes: vec![RootCause {
                dimension: "account".into(),
                group: "000123456789".into(),
                change: dec("9.15"),
            }],
        }]),
        forecast: Some(vec![
            ForecastLine {
                currency: Currency::new("USD"),
                basis: "billed".into(),
                method: "ets".into(),
                actual: dec("27.65"),
                status: "ok",
                note: None,
                total: Some(dec("60.5")),
                intervals: vec![ForecastInterval {
                    level_pct: 80,
                    lower: dec("50"),
                    upper: dec("70"),
                }],
                backtest: None,
                daily: Vec::new(),
            },
            ForecastLine {
                // A withheld forecast: no numbers, a reason.
                currency: Currency::new("EUR"),
                basis: "billed".into(),
                method: "croston-sba (intermittent)".into(),
                actual: dec("0.09"),
                status: "insufficient-history",
                note: Some("not enough history to forecast".into()),
                total: None,
                intervals: Vec::new(),
                backtest: None,
                daily: Vec::new(),
            },
        ]),
        recommendations: Some(vec![Recommendation {
            source: "idle:ebs-unattached".into(),
            title: "Delete unattached volume".into(),
            subject: "resource=vol-1".into(),
            resource_id: Some("vol-1".into()),
            severity: "info",
            currency: Some(Currency::new("USD")),
            amount: dec("8"),
            window_days: 30,
            monthly_savings: Some(dec("8")),
            reasons: vec!["ebs-unattached: no instance hours in its zone".into()],
            as_of: "2024-09-30".parse().expect("day"),
        }]),
        leaderboard: None,
        notes: Vec::new(),
    };
    let r = build(
        &store,
        &ReportPeriod::parse("2024-09").expect("period"),
        &ReportScope::default(),
        &options,
        engines,
        at("2025-01-01T00:00:00Z"),
    )
    .expect("report");
    let doc: Value = serde_json::from_slice(&render_json(&r).expect("json")).expect("parse");
    assert_valid(&v, &doc);
    assert_eq!(doc["anomalies"][0]["root_causes"][0]["change"], "9.15");
    assert!(doc["forecast"][1]["total"].is_null());
    // A status outside the documented ones is rejected.
    let mut bad = doc.clone();
    bad["forecast"][1]["status"] = serde_json::json!("maybe");
    assert!(!v.is_valid(&bad));
    // So is a recommendation from an unknown kind of source.
    let mut bad = doc.clone();
    bad["recommendations"][0]["source"] = serde_json::json!("aws-cost-optimization-hub");
    assert!(!v.is_valid(&bad));

    // Amounts as JSON numbers, a missing section and an unknown field are all rejected.
    let mut bad = doc.clone();
    bad["totals"][0]["billed"] = serde_json::json!(47.93);
    assert!(!v.is_valid(&bad));
    let mut bad = doc.clone();
    bad.as_object_mut().expect("object").remove("change");
    assert!(!v.is_valid(&bad));
    let mut bad = doc.clone();
    bad["surprise"] = serde_json::json!(1);
    assert!(!v.is_valid(&bad));
}
