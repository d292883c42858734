//! AWS Cost Explorer `GetCostAndUsage` responses: reconciliation against the raw JSON, one test per
//! grouping shape, and errors that name file, line and field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use costkit_core::focus::{
    ChargeCategory, ChargeFrequency, PricingCategory, ServiceCategory, TagValue,
};
use costkit_core::input::Progress;
use costkit_core::normalize::aws_ce::{self, CeOptions, ALL_SERVICES, UNKNOWN_PAYER};
use costkit_core::normalize::{plan, Dialect, Job, RecordStream};
use costkit_core::{FocusRecord, NormalizeError, NormalizeErrorKind};
use rust_decimal::Decimal;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/aws-ce")
        .join(name)
}

/// Plans (detection included) and reads a file to the end or to its first error.
fn read(
    path: &Path,
) -> (
    Vec<FocusRecord>,
    Option<NormalizeError>,
    Box<dyn RecordStream>,
) {
    let jobs = plan(&[path.to_path_buf()], None).expect("plan");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].dialect,
        Dialect::AwsCostExplorer,
        "detected dialect of {}",
        path.display()
    );
    let mut stream = jobs[0].open(&Progress::default()).expect("open");
    let (records, error) = drain(&mut stream);
    (records, error, stream)
}

fn drain(stream: &mut Box<dyn RecordStream>) -> (Vec<FocusRecord>, Option<NormalizeError>) {
    let mut records = Vec::new();
    let mut error = None;
    for item in stream.by_ref() {
        match item {
            Ok(r) => {
                assert!(
                    error.is_none(),
                    "a record was yielded after the error {error:?}"
                );
                records.push(r);
            }
            Err(e) => {
                assert!(error.is_none(), "two errors: {error:?} then {e:?}");
                error = Some(e);
            }
        }
    }
    (records, error)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// The responses of a file read independently of the library: one object, an array, or NDJSON.
fn responses(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read fixture");
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("ndjson"))
            .collect(),
    }
}

/// Σ of a metric per currency over the groups (or the Total when a period has no groups), where
/// `names` lists the metrics to try in order of preference.
fn raw_sum(path: &Path, names: &[&str]) -> BTreeMap<String, Decimal> {
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for resp in responses(path) {
        for result in resp["ResultsByTime"].as_array().expect("ResultsByTime") {
            let groups: Vec<&Value> = result["Groups"]
                .as_array()
                .map(|g| g.iter().map(|x| &x["Metrics"]).collect())
                .unwrap_or_default();
            let metric_sets = if groups.is_empty() {
                vec![&result["Total"]]
            } else {
                groups
            };
            for metrics in metric_sets {
                if let Some(m) = names.iter().map(|n| &metrics[*n]).find(|m| m.is_object()) {
                    let amount = dec(m["Amount"].as_str().expect("Amount"));
                    *sums
                        .entry(m["Unit"].as_str().expect("Unit").to_string())
                        .or_default() += amount;
                }
            }
        }
    }
    sums.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

fn output_sum(
    records: &[FocusRecord],
    f: fn(&FocusRecord) -> Decimal,
) -> BTreeMap<String, Decimal> {
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in records {
        *sums.entry(r.billing_currency.to_string()).or_default() += f(r);
    }
    sums.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

const FIXTURES: &[&str] = &[
    "ungrouped-daily.json",
    "ungrouped-daily-pages.ndjson",
    "service-account-3days-2pages.json",
    "tag-team-daily.json",
    "record-type-monthly.json",
    "usage-type-region.json",
];

#[test]
fn every_fixture_reconciles_to_the_raw_metrics() {
    for name in FIXTURES {
        let path = fixture(name);
        let (records, error, stream) = read(&path);
        assert!(error.is_none(), "{name}: {error:?}");
        assert!(!records.is_empty(), "{name}");
        let billed = raw_sum(&path, &["NetUnblendedCost", "UnblendedCost"]);
        let effective = raw_sum(
            &path,
            &[
                "NetAmortizedCost",
                "AmortizedCost",
                "NetUnblendedCost",
                "UnblendedCost",
            ],
        );
        assert_eq!(
            output_sum(&records, |r| r.billed_cost),
            billed,
            "{name}: Σ BilledCost"
        );
        assert_eq!(
            output_sum(&records, |r| r.effective_cost),
            effective,
            "{name}: Σ EffectiveCost"
        );
        // The stream's own source totals agree too.
        let totals = stream.source_totals();
        let st: BTreeMap<String, Decimal> = totals
            .billed
            .normalized()
            .0
            .into_iter()
            .map(|(c, v)| (c.to_string(), v))
            .collect();
        assert_eq!(st, billed, "{name}: source_totals().billed");
        let amortized = raw_sum(&path, &["NetAmortizedCost", "AmortizedCost"]);
        match totals.effective {
            Some(e) => {
                let e: BTreeMap<String, Decimal> = e
                    .normalized()
                    .0
                    .into_iter()
                    .map(|(c, v)| (c.to_string(), v))
                    .collect();
                assert_eq!(e, amortized, "{name}: source_totals().effective");
            }
            None => assert!(
                amortized.is_empty(),
                "{name}: the file has an amortized metric"
            ),
        }
        assert_eq!(totals.rows, records.len() as u64, "{name}");
        for r in &records {
            assert_eq!(
                r.extension("x_AggregationSource"),
                Some("CostExplorer"),
                "{name}"
            );
            assert_eq!(r.provider_name, "AWS");
            assert!(r.charge_period_end > r.charge_period_start);
            assert!(
                r.billing_period_start <= r.charge_period_start
                    && r.charge_period_end <= r.billing_period_end
            );
            assert_eq!(
                r.list_cost, r.billed_cost,
                "{name}: ListCost = BilledCost (no list price in CE)"
            );
            assert_eq!(r.contracted_cost, r.billed_cost, "{name}");
            assert!(r.service_subcategory.is_some());
            assert!(r.charge_frequency.is_some());
        }
        let declared = stream.extension_columns();
        for r in &records {
            for (k, _) in &r.extensions {
                assert!(declared.contains(k), "{name}: undeclared {k}");
            }
        }
    }
}

#[test]
fn ungrouped_daily_totals_become_one_usage_record_per_day() {
    let (records, error, stream) = read(&fixture("ungrouped-daily.json"));
    assert!(error.is_none());
    assert_eq!(records.len(), 3);
    let days: Vec<String> = records
        .iter()
        .map(|r| r.charge_period_start.format("%Y-%m-%d").to_string())
        .collect();
    assert_eq!(days, ["2024-03-01", "2024-03-02", "2024-03-03"]);
    for r in &records {
        assert_eq!(
            r.charge_period_end - r.charge_period_start,
            chrono::Duration::days(1)
        );
        assert_eq!(r.service_name, ALL_SERVICES);
        assert_eq!(r.service_category, ServiceCategory::Other);
        assert_eq!(r.charge_category, ChargeCategory::Usage);
        assert_eq!(r.billing_account_id, UNKNOWN_PAYER);
        assert_eq!(r.extension("x_GroupBy"), None);
        assert_eq!(r.billing_currency.as_str(), "USD");
        // Mixed units across the whole account: no quantity claimed.
        assert_eq!(r.consumed_quantity, None);
    }
    assert_eq!(
        records[0].charge_description.as_deref(),
        Some("Cost Explorer daily aggregate: total of all costs (not grouped)")
    );
    assert_eq!(records[0].billed_cost, dec("412.7783019466"));
    assert_eq!(records[0].effective_cost, dec("431.0934572210"));
    assert_eq!(records[0].extension("x_UsageQuantity"), Some("1874.2211"));
    assert_eq!(records[2].extension("x_Estimated"), Some("true"));
    assert_eq!(records[0].extension("x_Estimated"), Some("false"));
    let notes = stream.notes().join("\n");
    assert!(notes.contains("not grouped by RECORD_TYPE"), "{notes}");
    assert!(notes.contains("1 records are marked Estimated"), "{notes}");
    assert!(notes.contains(UNKNOWN_PAYER), "{notes}");
    assert!(!notes.contains("NextPageToken"), "{notes}");
}

#[test]
fn ndjson_pages_read_like_the_single_response() {
    let (single, _, _) = read(&fixture("ungrouped-daily.json"));
    let (pages, error, _) = read(&fixture("ungrouped-daily-pages.ndjson"));
    assert!(error.is_none());
    assert_eq!(single, pages);
}

#[test]
fn service_and_account_pages_map_accounts_services_and_net_costs() {
    let path = fixture("service-account-3days-2pages.json");
    let (records, error, stream) = read(&path);
    assert!(error.is_none());
    let group_count: usize = responses(&path)
        .iter()
        .flat_map(|p| p["ResultsByTime"].as_array().expect("results").iter())
        .map(|r| r["Groups"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        records.len(),
        group_count,
        "one record per group, zero-cost groups kept"
    );
    assert_eq!(records.len(), 15);

    let ec2 = records
        .iter()
        .find(|r| {
            r.service_name == "Amazon Elastic Compute Cloud - Compute"
                && r.sub_account_id.as_deref() == Some("111122223333")
        })
        .expect("EC2 record");
    // NetUnblendedCost wins over UnblendedCost; NetAmortizedCost over AmortizedCost.
    assert_eq!(ec2.billed_cost, dec("203.8045640000"));
    assert_eq!(ec2.effective_cost, dec("224.3245640000"));
    assert_eq!(ec2.extension("x_UnblendedCost"), Some("214.5311200000"));
    assert_eq!(ec2.service_category, ServiceCategory::Compute);
    assert_eq!(ec2.service_subcategory.as_deref(), Some("Virtual Machines"));
    assert_eq!(ec2.sub_account_name.as_deref(), Some("payments-prod"));
    assert_eq!(ec2.sub_account_type.as_deref(), Some("Account"));
    assert_eq!(ec2.billing_account_id, "111122223333");
    assert_eq!(ec2.extension("x_GroupBy"), Some("SERVICE,LINKED_ACCOUNT"));

    let tax = records
        .iter()
        .find(|r| r.service_name == "Tax")
        .expect("tax record");
    assert_eq!(tax.charge_category, ChargeCategory::Tax);
    assert_eq!(tax.pricing_quantity, None);

    let lambda = records
        .iter()
        .find(|r| r.service_name == "AWS Lambda")
        .expect("zero-cost group kept");
    assert_eq!(lambda.billed_cost, Decimal::ZERO);
    assert_eq!(lambda.sub_account_name.as_deref(), Some("search-staging"));

    // Day 2 straddles the page break: both halves are there, once each.
    let day2 = records
        .iter()
        .filter(|r| r.charge_period_start.format("%d").to_string() == "02")
        .count();
    assert_eq!(day2, 4);
    let estimated = records
        .iter()
        .filter(|r| r.extension("x_Estimated") == Some("true"))
        .count();
    assert_eq!(estimated, 4);

    let notes = stream.notes().join("\n");
    assert!(
        notes.contains("Amazon Kendra"),
        "unknown service listed: {notes}"
    );
    assert!(notes.contains("BilledCost is NetUnblendedCost"), "{notes}");
    assert!(
        !notes.contains("NextPageToken"),
        "the last page has no token: {notes}"
    );
}

#[test]
fn a_known_payer_becomes_the_billing_account() {
    let job = Job {
        dialect: Dialect::AwsCostExplorer,
        inputs: vec![fixture("service-account-3days-2pages.json")],
        amortized: Vec::new(),
    };
    let options = CeOptions {
        payer_account_id: Some("999988887777".into()),
    };
    let mut stream = aws_ce::open_with(&job, &Progress::default(), &options).expect("open");
    let (records, error) = drain(&mut stream);
    assert!(error.is_none());
    assert!(records
        .iter()
        .all(|r| r.billing_account_id == "999988887777"));
    assert!(records.iter().all(|r| r.sub_account_id.is_some()));
}

#[test]
fn tag_groups_become_tags_and_untagged_stays_untagged() {
    let (records, error, _) = read(&fixture("tag-team-daily.json"));
    assert!(error.is_none());
    assert_eq!(records.len(), 6);
    let first_day: Vec<&FocusRecord> = records.iter().take(3).collect();
    assert!(
        first_day[0].tags.is_empty(),
        "`Team$` means the cost carries no Team tag"
    );
    assert_eq!(
        first_day[1].tags.get("Team"),
        Some(&TagValue::Str("payments".into()))
    );
    assert_eq!(
        first_day[2].tags.get("Team"),
        Some(&TagValue::Str("search".into()))
    );
    assert_eq!(first_day[1].tags.to_json(), r#"{"Team":"payments"}"#);
    assert_eq!(
        first_day[0].charge_description.as_deref(),
        Some("Cost Explorer daily aggregate: tag Team not set")
    );
    assert_eq!(
        first_day[1].charge_description.as_deref(),
        Some("Cost Explorer daily aggregate: tag Team = payments")
    );
    assert_eq!(first_day[1].billed_cost, dec("201.3390016610"));
    assert_eq!(first_day[1].effective_cost, dec("219.7390016610"));
    for r in &records {
        assert_eq!(r.extension("x_GroupBy"), Some("TAG:Team"));
        assert_eq!(r.service_name, ALL_SERVICES);
    }
}

#[test]
fn record_types_give_charge_categories_and_amortization() {
    let (records, error, stream) = read(&fixture("record-type-monthly.json"));
    assert!(error.is_none());
    assert_eq!(records.len(), 12);
    let by = |rt: &str, acct: &str| -> &FocusRecord {
        records
            .iter()
            .find(|r| {
                r.extension("x_RecordType") == Some(rt) && r.sub_account_id.as_deref() == Some(acct)
            })
            .unwrap_or_else(|| panic!("{rt} {acct}"))
    };
    let (a, b) = ("111122223333", "444455556666");
    assert_eq!(
        by("Credit", a).charge_description.as_deref(),
        Some(
            "Cost Explorer monthly aggregate: RECORD_TYPE = Credit, LINKED_ACCOUNT = 111122223333"
        )
    );
    for r in &records {
        // A monthly period is the month.
        assert_eq!(r.charge_period_start, r.billing_period_start);
        assert_eq!(r.charge_period_end, r.billing_period_end);
    }
    assert_eq!(by("Usage", a).charge_category, ChargeCategory::Usage);
    assert_eq!(
        by("Usage", a).charge_frequency,
        Some(ChargeFrequency::UsageBased)
    );
    assert_eq!(by("Tax", a).charge_category, ChargeCategory::Tax);
    assert_eq!(by("Tax", a).billed_cost, dec("152.31"));
    assert_eq!(by("Credit", a).charge_category, ChargeCategory::Credit);
    assert_eq!(by("Credit", a).effective_cost, dec("-50"));
    assert_eq!(by("EdpDiscount", a).charge_category, ChargeCategory::Credit);
    assert_eq!(by("Refund", b).charge_category, ChargeCategory::Adjustment);
    assert_eq!(by("RIFee", a).charge_category, ChargeCategory::Purchase);
    assert_eq!(
        by("RIFee", a).charge_frequency,
        Some(ChargeFrequency::Recurring)
    );
    assert_eq!(
        by("SavingsPlanRecurringFee", b).charge_category,
        ChargeCategory::Purchase
    );
    assert_eq!(
        by("SavingsPlanCoveredUsage", b).pricing_category,
        Some(PricingCategory::Committed)
    );
    assert_eq!(
        by("DiscountedUsage", a).pricing_category,
        Some(PricingCategory::Committed)
    );
    assert_eq!(
        by("SavingsPlanNegation", b).charge_category,
        ChargeCategory::Usage
    );
    // No Net metrics in this response: UnblendedCost / AmortizedCost are used.
    assert_eq!(by("RIFee", a).billed_cost, dec("73"));
    assert_eq!(by("RIFee", a).effective_cost, dec("5"));

    // Amortization invariant per commitment: what the Savings Plan fee billed is what the amortized
    // view spreads over covered usage, negation and unused fee.
    let sp: Vec<&FocusRecord> = records
        .iter()
        .filter(|r| {
            r.extension("x_RecordType")
                .is_some_and(|t| t.starts_with("SavingsPlan"))
        })
        .collect();
    let fee_billed: Decimal = sp
        .iter()
        .filter(|r| r.charge_category == ChargeCategory::Purchase)
        .map(|r| r.billed_cost)
        .sum();
    let sp_effective: Decimal = sp.iter().map(|r| r.effective_cost).sum();
    assert_eq!(sp_effective, fee_billed);
    let ri_fee = by("RIFee", a).billed_cost;
    assert_eq!(
        by("DiscountedUsage", a).effective_cost + by("RIFee", a).effective_cost,
        ri_fee
    );
    // Quantities are not claimed across usage types (mixed units).
    assert!(records.iter().all(|r| r.consumed_quantity.is_none()));
    let notes = stream.notes().join("\n");
    assert!(!notes.contains("not grouped by RECORD_TYPE"), "{notes}");
    assert!(notes.contains("BilledCost is UnblendedCost"), "{notes}");
}

#[test]
fn usage_type_groups_carry_quantities_units_and_regions() {
    let (records, error, _) = read(&fixture("usage-type-region.json"));
    assert!(error.is_none());
    assert_eq!(records.len(), 4);
    let r = &records[0];
    // No SKU id in Cost Explorer, so no SkuMeter (FOCUS); the usage type is an extension.
    assert_eq!(r.sku_meter, None);
    assert_eq!(r.extension("x_UsageType"), Some("BoxUsage:m5.large"));
    assert_eq!(r.consumed_quantity, Some(dec("24")));
    assert_eq!(r.consumed_unit.as_deref(), Some("Hours"));
    assert_eq!(r.pricing_quantity, Some(dec("24")));
    assert_eq!(r.region_id.as_deref(), Some("us-east-1"));
    assert_eq!(r.region_name.as_deref(), Some("US East (N. Virginia)"));
    assert_eq!(records[1].consumed_unit.as_deref(), Some("GB-Months"));
    assert_eq!(records[1].region_name.as_deref(), Some("Europe (Ireland)"));
    // "global" is no region, and "N/A" is no unit.
    assert_eq!(records[3].region_id, None);
    assert_eq!(records[3].consumed_quantity, None);
    assert_eq!(records[3].extension("x_UsageQuantity"), Some("1"));
    // No amortized metric: EffectiveCost = BilledCost.
    assert!(records.iter().all(|r| r.effective_cost == r.billed_cost));
}

#[test]
fn an_empty_result_set_is_zero_records_and_no_error() {
    let (records, error, stream) = read(&fixture("empty-results.json"));
    assert!(error.is_none());
    assert!(records.is_empty());
    assert!(stream.source_totals().billed.0.is_empty());
}

fn expect_error(name: &str, records_before: usize) -> NormalizeError {
    let path = fixture(name);
    let (records, error, _) = read(&path);
    assert_eq!(
        records.len(),
        records_before,
        "{name}: records before the error"
    );
    let e = error.unwrap_or_else(|| panic!("{name}: expected an error"));
    assert_eq!(e.file, path.display().to_string(), "{name}");
    e
}

#[test]
fn a_non_numeric_amount_names_line_and_field() {
    let e = expect_error("bad-amount.json", 1);
    assert_eq!(e.line, Some(27), "the line where the group starts");
    assert_eq!(
        e.column.as_deref(),
        Some("ResultsByTime[0].Groups[1].Metrics.UnblendedCost.Amount")
    );
    assert_eq!(
        e.kind,
        NormalizeErrorKind::InvalidValue("`12,0077318842` is not a number".into())
    );
}

#[test]
fn a_response_without_a_billed_metric_is_a_missing_column() {
    let e = expect_error("bad-no-billed-metric.json", 0);
    assert_eq!(e.line, Some(16));
    assert_eq!(
        e.column.as_deref(),
        Some("ResultsByTime[0].Groups[0].Metrics.UnblendedCost")
    );
    assert_eq!(e.kind, NormalizeErrorKind::MissingColumn);
}

#[test]
fn a_page_saved_twice_is_refused_instead_of_double_counted() {
    let e = expect_error("bad-page-twice.json", 2);
    assert_eq!(e.line, Some(60));
    assert_eq!(e.column.as_deref(), Some("ResultsByTime[0].Groups[0].Keys"));
    assert!(
        matches!(e.kind, NormalizeErrorKind::InvalidValue(ref m) if m.contains("counted twice")),
        "{e}"
    );
}

#[test]
fn responses_of_different_queries_are_refused() {
    let e = expect_error("bad-mixed-queries.json", 2);
    assert_eq!(e.line, Some(45));
    assert_eq!(e.column.as_deref(), Some("GroupDefinitions"));
    assert!(
        matches!(e.kind, NormalizeErrorKind::Malformed(ref m) if m.contains("LINKED_ACCOUNT")),
        "{e}"
    );
}

#[test]
fn a_truncated_response_is_malformed_at_its_end() {
    let path = fixture("bad-truncated.json");
    let lines = std::fs::read_to_string(&path)
        .expect("read")
        .split('\n')
        .count() as u64;
    let e = expect_error("bad-truncated.json", 0);
    assert_eq!(e.line, Some(lines));
    assert!(
        matches!(e.kind, NormalizeErrorKind::Malformed(ref m) if m.contains("truncated")),
        "{e}"
    );
}
