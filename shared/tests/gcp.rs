//! Google Cloud Billing export (standard and detailed, NDJSON and flattened CSV) -> FOCUS.
//!
//! The fixtures in `tests/fixtures/gcp/` are hand-made from Google's documented schema (no real
//! export is public); `make_fixtures.py` there writes them. Every reconciliation below recomputes
//! the source's billed measure, Σ cost + Σ credits.amount per currency, from the raw file itself.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use costkit_core::focus::{
    ChargeCategory, ChargeClass, ChargeFrequency, CommitmentDiscountCategory,
    CommitmentDiscountStatus, FocusColumn, PricingCategory, ServiceCategory,
};
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect, Job, RecordStream};
use costkit_core::time::format_timestamp;
use costkit_core::{FocusRecord, NormalizeError, NormalizeErrorKind};
use rust_decimal::Decimal;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/gcp")
        .join(name)
}

fn open(name: &str) -> Box<dyn RecordStream> {
    let path = fixture(name);
    let jobs = plan(std::slice::from_ref(&path), None).expect("the dialect is detected");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].dialect,
        Dialect::GcpBilling,
        "{name} is detected as a GCP billing export"
    );
    jobs[0].open(&Progress::default()).expect("opens")
}

fn records(name: &str) -> Vec<FocusRecord> {
    open(name)
        .collect::<Result<Vec<_>, _>>()
        .expect("every row maps")
}

/// The error a forced GCP job ends with (or fails to open with).
fn error_of(name: &str) -> NormalizeError {
    let job = Job {
        dialect: Dialect::GcpBilling,
        inputs: vec![fixture(name)],
        amortized: Vec::new(),
    };
    match job.open(&Progress::default()) {
        Err(e) => e,
        Ok(stream) => stream
            .collect::<Result<Vec<_>, _>>()
            .expect_err("the file must be rejected"),
    }
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .expect("number"),
        Value::String(s) => Decimal::from_str(s).expect("numeric string"),
        other => panic!("not a number: {other}"),
    }
}

type Totals = BTreeMap<String, Decimal>;

fn add(t: &mut Totals, currency: &str, amount: Decimal) {
    *t.entry(currency.to_string()).or_default() += amount;
}

/// Σ cost + Σ credits.amount per currency, read straight from NDJSON text.
fn raw_ndjson_totals(reader: impl BufRead) -> (Totals, u64) {
    let mut t = Totals::new();
    let mut rows = 0;
    for line in reader.lines() {
        let line = line.expect("utf-8");
        if line.trim().is_empty() {
            continue;
        }
        let row: Value = serde_json::from_str(&line).expect("json");
        let mut amount = dec(&row["cost"]);
        for c in row["credits"].as_array().expect("credits array") {
            amount += dec(&c["amount"]);
        }
        add(&mut t, row["currency"].as_str().expect("currency"), amount);
        rows += 1;
    }
    (t, rows)
}

/// The same measure from the flattened CSV (credits are a JSON array in one cell).
fn raw_csv_totals(path: &Path) -> (Totals, u64) {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let headers = reader.headers().expect("header").clone();
    let col = |n: &str| headers.iter().position(|h| h == n).expect(n);
    let (cost, currency, credits) = (col("cost"), col("currency"), col("credits"));
    let mut t = Totals::new();
    let mut rows = 0;
    for rec in reader.records() {
        let rec = rec.expect("row");
        let mut amount = Decimal::from_str(&rec[cost]).expect("cost");
        let list: Value = serde_json::from_str(&rec[credits]).expect("credits json");
        for c in list.as_array().expect("array") {
            amount += dec(&c["amount"]);
        }
        add(&mut t, &rec[currency], amount);
        rows += 1;
    }
    (t, rows)
}

fn raw_totals(name: &str) -> (Totals, u64) {
    let path = fixture(name);
    if name.ends_with(".csv") {
        raw_csv_totals(&path)
    } else if name.ends_with(".gz") {
        let file = std::fs::File::open(&path).expect("gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .expect("gunzip");
        raw_ndjson_totals(BufReader::new(text.as_bytes()))
    } else {
        raw_ndjson_totals(BufReader::new(std::fs::File::open(&path).expect("ndjson")))
    }
}

fn normalized(t: Totals) -> Totals {
    t.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

const FIXTURES: &[&str] = &[
    "standard.ndjson",
    "standard.csv",
    "standard.ndjson.gz",
    "detailed.ndjson",
    "detailed.csv",
];

#[test]
fn every_fixture_reconciles_to_cost_plus_credits() {
    for name in FIXTURES {
        let (expected, source_rows) = raw_totals(name);
        let expected = normalized(expected);
        let mut stream = open(name);
        let mut billed = Totals::new();
        let mut effective = Totals::new();
        let mut n = 0;
        for r in stream.by_ref() {
            let r = r.expect("maps");
            add(&mut billed, r.billing_currency.as_str(), r.billed_cost);
            add(
                &mut effective,
                r.billing_currency.as_str(),
                r.effective_cost,
            );
            n += 1;
        }
        assert_eq!(
            normalized(billed),
            expected,
            "{name}: Σ BilledCost == Σ cost + Σ credits"
        );
        // The export has no amortized measure: EffectiveCost is the billed measure (documented).
        assert_eq!(
            normalized(effective),
            expected,
            "{name}: Σ EffectiveCost == billed measure"
        );
        let totals = stream.source_totals();
        let own: Totals = totals
            .billed
            .0
            .iter()
            .map(|(c, v)| (c.to_string(), v.normalize()))
            .collect();
        assert_eq!(own, expected, "{name}: source_totals");
        assert_eq!(
            totals.effective, None,
            "{name}: no amortized measure in the source"
        );
        assert_eq!(totals.rows, source_rows, "{name}: every source row read");
        assert!(
            n > source_rows,
            "{name}: promotion credits add Credit records"
        );
    }
    // The numbers, so a reader of the test sees what is reconciled.
    assert_eq!(
        normalized(raw_totals("standard.ndjson").0).get("USD"),
        Some(&Decimal::from_str("8.294454").expect("d"))
    );
    assert_eq!(
        normalized(raw_totals("detailed.ndjson").0).get("EUR"),
        Some(&Decimal::from_str("28.75594552382").expect("d"))
    );
}

#[test]
fn ndjson_and_csv_give_identical_records() {
    for table in ["standard", "detailed"] {
        let json = records(&format!("{table}.ndjson"));
        let csv = records(&format!("{table}.csv"));
        assert_eq!(json.len(), csv.len(), "{table}");
        for (i, (a, b)) in json.iter().zip(&csv).enumerate() {
            assert_eq!(a, b, "{table}: record {i} differs between NDJSON and CSV");
        }
    }
}

#[test]
fn gzip_copy_reads_like_the_original() {
    assert_eq!(records("standard.ndjson.gz"), records("standard.ndjson"));
}

fn at<'a>(recs: &'a [FocusRecord], start: &str, sku_description: &str) -> &'a FocusRecord {
    recs.iter()
        .find(|r| {
            format_timestamp(&r.charge_period_start) == start
                && r.charge_category != ChargeCategory::Credit
                && r.charge_description.as_deref() == Some(sku_description)
        })
        .unwrap_or_else(|| panic!("no record at {start} for {sku_description}"))
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

#[test]
fn invoice_month_is_pacific_time() {
    let std = records("standard.ndjson");
    // 02:00Z on Oct 1 is 19:00 PDT on Sep 30: the September invoice, whose period ends 07:00Z.
    let late = at(&std, "2024-10-01T02:00:00Z", "CPU Allocation Time (tier 1)");
    assert_eq!(
        format_timestamp(&late.billing_period_start),
        "2024-09-01T07:00:00Z"
    );
    assert_eq!(
        format_timestamp(&late.billing_period_end),
        "2024-10-01T07:00:00Z"
    );
    assert!(late.charge_period_start < late.billing_period_end);
    assert_eq!(late.extension("x_InvoiceMonth"), Some("202409"));
    // Every record of a month shares one billing period.
    assert!(std
        .iter()
        .all(|r| r.billing_period_start == late.billing_period_start));

    let det = records("detailed.ndjson");
    // 07:00Z on Dec 1 is 23:00 PST on Nov 30: November's period ends at 08:00Z (standard time).
    let last_hour = at(
        &det,
        "2024-12-01T07:00:00Z",
        "N2 Instance Core running in EMEA",
    );
    assert_eq!(
        format_timestamp(&last_hour.billing_period_start),
        "2024-11-01T07:00:00Z"
    );
    assert_eq!(
        format_timestamp(&last_hour.billing_period_end),
        "2024-12-01T08:00:00Z"
    );
    assert_eq!(
        format_timestamp(&last_hour.charge_period_end),
        "2024-12-01T08:00:00Z"
    );
    // BigQuery's `2024-11-01 07:00:00 UTC` spelling reads as the same instant as ISO 8601.
    let first_hour = at(
        &det,
        "2024-11-01T07:00:00Z",
        "N2 Instance Core running in EMEA",
    );
    assert_eq!(
        first_hour.charge_period_start,
        first_hour.billing_period_start
    );
}

#[test]
fn tax_rows_with_and_without_project() {
    let std = records("standard.csv");
    let taxes: Vec<&FocusRecord> = std
        .iter()
        .filter(|r| r.charge_category == ChargeCategory::Tax)
        .collect();
    assert_eq!(taxes.len(), 2);
    let account = taxes
        .iter()
        .find(|r| r.sub_account_id.is_none())
        .expect("an account-level tax");
    assert_eq!(account.billed_cost, d("0.35"));
    assert_eq!(account.sub_account_name, None);
    assert_eq!(account.sub_account_type, None);
    assert_eq!(
        account.charge_description.as_deref(),
        Some("Local tax (2.5%)")
    );
    assert_eq!(account.service_name, "Invoice");
    let project = taxes
        .iter()
        .find(|r| r.sub_account_id.is_some())
        .expect("a project tax");
    assert_eq!(project.sub_account_id.as_deref(), Some("web-prod-4821"));
    assert_eq!(project.sub_account_type.as_deref(), Some("Project"));
    assert_eq!(project.billed_cost, d("0.663"));
    for t in taxes {
        // FOCUS: tax has no price, quantity, SKU or pricing category; its other costs equal BilledCost.
        assert_eq!(t.pricing_quantity, None);
        assert_eq!(t.pricing_unit, None);
        assert_eq!(t.pricing_category, None);
        assert_eq!(t.sku_id, None);
        assert_eq!(t.sku_price_id, None);
        assert_eq!(t.consumed_quantity, None);
        assert_eq!(
            (t.list_cost, t.contracted_cost, t.effective_cost),
            (t.billed_cost, t.billed_cost, t.billed_cost)
        );
        assert_eq!(t.charge_frequency, Some(ChargeFrequency::Recurring));
        assert_eq!(t.extension("x_CostType"), Some("tax"));
    }
}

#[test]
fn cud_credits_fill_the_commitment_columns() {
    let std = records("standard.ndjson");
    let covered = at(
        &std,
        "2024-09-14T11:00:00Z",
        "N1 Predefined Instance Core running in Americas",
    );
    assert_eq!(covered.charge_category, ChargeCategory::Usage);
    assert_eq!(
        covered.billed_cost,
        Decimal::ZERO,
        "fully covered: cost 0.25296 - CUD credit 0.25296"
    );
    assert_eq!(
        covered.list_cost,
        d("0.25296"),
        "no cost_at_list: ListCost falls back on cost"
    );
    assert_eq!(covered.contracted_cost, d("0.25296"));
    assert_eq!(
        covered.commitment_discount_id.as_deref(),
        Some("Committed Usage Discount: CPU")
    );
    assert_eq!(
        covered.commitment_discount_name.as_deref(),
        Some("Committed use discount: CPU in Americas for 1 Year")
    );
    assert_eq!(
        covered.commitment_discount_category,
        Some(CommitmentDiscountCategory::Usage)
    );
    assert_eq!(
        covered.commitment_discount_status,
        Some(CommitmentDiscountStatus::Used)
    );
    assert_eq!(covered.pricing_category, Some(PricingCategory::Committed));
    assert_eq!(covered.extension("x_CreditsTotal"), Some("-0.25296"));

    let fee = at(
        &std,
        "2024-09-14T11:00:00Z",
        "Commitment v1: Cpu in Americas for 1 Year",
    );
    assert_eq!(fee.charge_category, ChargeCategory::Purchase);
    assert_eq!(fee.charge_frequency, Some(ChargeFrequency::Recurring));
    assert_eq!(
        fee.pricing_category,
        Some(PricingCategory::Standard),
        "a commitment purchase is never Committed"
    );
    assert_eq!(fee.billed_cost, d("0.1572"));
    assert_eq!(fee.effective_cost, d("0.1572"));
    assert_eq!(fee.pricing_quantity, Some(d("8")));
    assert_eq!(fee.pricing_unit.as_deref(), Some("Hours"));
    // The standard export names no commitment on the fee row: no id, so no category either.
    assert_eq!(fee.commitment_discount_id, None);
    assert_eq!(fee.commitment_discount_category, None);

    let sql = at(
        &std,
        "2024-09-15T01:00:00Z",
        "Cloud SQL for PostgreSQL: Regional - vCPU in Americas",
    );
    assert_eq!(
        sql.billed_cost,
        d("0.116"),
        "0.1656 - 0.0414 (spend CUD) - 0.0082 (DISCOUNT)"
    );
    assert_eq!(sql.list_cost, d("0.184"));
    assert_eq!(
        sql.commitment_discount_category,
        Some(CommitmentDiscountCategory::Spend)
    );
    assert_eq!(
        sql.commitment_discount_id.as_deref(),
        Some("a1b2c3d4-cud-sql")
    );
    assert_eq!(
        sql.commitment_discount_name.as_deref(),
        Some("Cloud SQL CUD 1 Year")
    );

    // The detailed export carries the subscription id on both the covered usage and the fee.
    let det = records("detailed.csv");
    let ram = at(
        &det,
        "2024-11-12T03:00:00Z",
        "N2 Instance Ram running in EMEA",
    );
    let ram_fee = at(
        &det,
        "2024-11-12T03:00:00Z",
        "Commitment v1: Ram in EMEA for 3 Years",
    );
    assert_eq!(ram.commitment_discount_id.as_deref(), Some("ram-3y-0042"));
    assert_eq!(
        ram_fee.commitment_discount_id.as_deref(),
        Some("ram-3y-0042")
    );
    assert_eq!(
        ram_fee.commitment_discount_category,
        Some(CommitmentDiscountCategory::Usage)
    );
    assert_eq!(
        ram_fee.commitment_discount_status, None,
        "status is for usage rows only"
    );
    assert_eq!(ram.billed_cost, Decimal::ZERO);
    assert_eq!(ram_fee.billed_cost, d("0.027"));
}

#[test]
fn promotion_credits_become_credit_rows_and_other_credits_stay_on_the_row() {
    let std = records("standard.ndjson");
    let i = std
        .iter()
        .position(|r| r.charge_description.as_deref() == Some("Standard Storage US Multi-region"))
        .expect("storage row");
    let (usage, promo) = (&std[i], &std[i + 1]);
    assert_eq!(usage.charge_category, ChargeCategory::Usage);
    assert_eq!(
        usage.billed_cost,
        d("0.003466"),
        "cost 0.004333 - FREE_TIER 0.000867"
    );
    assert_eq!(usage.list_cost, d("0.004333"));
    assert!(usage
        .extension("x_Credits")
        .is_some_and(|c| c.contains("FREE_TIER") && !c.contains("PROMOTION")));
    assert_eq!(usage.extension("x_CreditsTotal"), Some("-0.004333"));
    assert_eq!(promo.charge_category, ChargeCategory::Credit);
    assert_eq!(promo.billed_cost, d("-0.003466"));
    assert_eq!(
        (promo.effective_cost, promo.list_cost, promo.contracted_cost),
        (promo.billed_cost, promo.billed_cost, promo.billed_cost)
    );
    assert_eq!(
        promo.charge_description.as_deref(),
        Some("Free trial credit $300")
    );
    assert_eq!(promo.extension("x_CreditType"), Some("PROMOTION"));
    assert_eq!(
        promo.extension("x_Cost"),
        None,
        "the source cost is on the usage record only"
    );
    assert_eq!(promo.pricing_quantity, None);
    assert_eq!(promo.consumed_quantity, None);
    // The credit keeps the usage's attribution, so allocation by project and service still works.
    assert_eq!(promo.sub_account_id, usage.sub_account_id);
    assert_eq!(promo.service_name, usage.service_name);
    assert_eq!(promo.charge_period_start, usage.charge_period_start);
    assert_eq!(promo.tags, usage.tags);

    let sud = at(
        &std,
        "2024-09-14T10:00:00Z",
        "N2 Instance Core running in Americas",
    );
    assert_eq!(
        sud.billed_cost,
        d("0.100982"),
        "0.126228 - SUSTAINED_USAGE_DISCOUNT 0.025246"
    );
    assert_eq!(sud.pricing_category, Some(PricingCategory::Standard));

    let det = records("detailed.ndjson");
    let gke = at(
        &det,
        "2024-11-12T05:00:00Z",
        "Autopilot Cluster Management Fee",
    );
    assert_eq!(gke.billed_cost, Decimal::ZERO, "FREE_TIER stays on the row");
    let credits = det.iter().filter(|r| {
        r.charge_category == ChargeCategory::Credit
            && r.extension("x_CreditType") == Some("PROMOTION")
    });
    let amounts: Vec<Decimal> = credits.map(|r| r.billed_cost).collect();
    assert_eq!(amounts, vec![d("-5.7")]);
    let logging = at(&det, "2024-11-20T00:00:00Z", "Log Storage cost");
    assert_eq!(
        logging.billed_cost,
        d("22.5"),
        "SUBSCRIPTION_BENEFIT stays on the row"
    );
}

#[test]
fn labels_project_labels_tags_and_system_labels_merge_with_prefixes() {
    let std = records("standard.ndjson");
    let r = at(
        &std,
        "2024-09-14T10:00:00Z",
        "N2 Instance Core running in Americas",
    );
    let tags: Value =
        serde_json::from_str(&r.cell(FocusColumn::Tags).expect("tags")).expect("json");
    let expected = serde_json::json!({
        "env": "prod",
        "team": "web",
        "canary": true,
        "project:cost-center": "cc-100",
        "project:owner": "web-team",
        "tag:123456789012/environment": "production",
        "tag:482193746501/tier": "frontend",
        "gcp-system:compute.googleapis.com/machine_spec": "n2-standard-4",
        "gcp-system:compute.googleapis.com/cores": "4",
        "gcp-system:compute.googleapis.com/memory": "16384",
    });
    assert_eq!(tags, expected);
    let tax = std
        .iter()
        .find(|r| r.charge_category == ChargeCategory::Tax && r.sub_account_id.is_none())
        .expect("tax");
    assert!(tax.tags.is_empty(), "no labels: Tags is null, not {{}}");
}

#[test]
fn adjustments_corrections_and_rounding() {
    let std = records("standard.ndjson");
    let goodwill = std
        .iter()
        .find(|r| r.extension("x_AdjustmentType") == Some("GOODWILL"))
        .expect("goodwill");
    assert_eq!(goodwill.charge_category, ChargeCategory::Credit);
    assert_eq!(goodwill.charge_class, None, "it credits the current month");
    assert_eq!(goodwill.billed_cost, d("-5"));
    assert_eq!(
        goodwill.charge_description.as_deref(),
        Some("Goodwill credit for the us-central1 incident")
    );
    assert_eq!(goodwill.pricing_quantity, None);

    let correction = std
        .iter()
        .find(|r| r.extension("x_AdjustmentType") == Some("USAGE_CORRECTION"))
        .expect("correction");
    assert_eq!(correction.charge_category, ChargeCategory::Adjustment);
    assert_eq!(
        correction.charge_class,
        Some(ChargeClass::Correction),
        "August usage fixed on the September invoice"
    );
    assert_eq!(correction.billed_cost, d("-1.875"));
    assert_eq!(
        correction.extension("x_AdjustmentMode"),
        Some("COMPLETE_NEGATION")
    );

    let rounding = std
        .iter()
        .find(|r| r.extension("x_CostType") == Some("rounding_error"))
        .expect("rounding");
    assert_eq!(rounding.charge_category, ChargeCategory::Adjustment);
    assert_eq!(rounding.billed_cost, d("-0.004128"));
    assert_eq!(rounding.sub_account_id, None);
    // No sku.id on the invoice-level row, so no SkuMeter (FOCUS: null when SkuId is null).
    assert_eq!(
        (rounding.sku_id.as_deref(), rounding.sku_meter.as_deref()),
        (None, None)
    );
    assert_eq!(rounding.charge_frequency, Some(ChargeFrequency::OneTime));

    let det = records("detailed.ndjson");
    let price = det
        .iter()
        .find(|r| r.extension("x_AdjustmentType") == Some("PRICE_CORRECTION"))
        .expect("price fix");
    assert_eq!(price.charge_category, ChargeCategory::Adjustment);
    assert_eq!(
        price.charge_class, None,
        "November usage on the November invoice is not a correction"
    );
}

#[test]
fn detailed_export_prices_units_resources_and_currency() {
    let det = records("detailed.ndjson");
    let disk = at(
        &det,
        "2024-11-12T04:00:00Z",
        "Balanced PD Capacity in Belgium",
    );
    assert_eq!(disk.pricing_unit.as_deref(), Some("GiB-Months"));
    assert_eq!(disk.pricing_quantity, Some(d("0.074404762")));
    assert_eq!(disk.consumed_unit.as_deref(), Some("B-Seconds"));
    assert_eq!(disk.consumed_quantity, Some(d("193273528320000")));
    assert_eq!(disk.region_id.as_deref(), Some("europe-west1"));
    assert_eq!(disk.region_name.as_deref(), Some("Belgium"));
    assert_eq!(disk.availability_zone.as_deref(), Some("europe-west1-b"));
    assert_eq!(
        disk.resource_id.as_deref(),
        Some("//compute.googleapis.com/projects/web-prod-4821/zones/europe-west1-b/disks/checkout-7f9c-boot")
    );
    assert_eq!(disk.resource_name.as_deref(), Some("checkout-7f9c-boot"));
    assert_eq!(disk.resource_type.as_deref(), Some("compute.disks"));
    assert_eq!(disk.sku_price_id.as_deref(), Some("D973-5D65-BAB2/0"));
    assert_eq!(disk.service_category, ServiceCategory::Compute);
    assert_eq!(
        disk.service_subcategory.as_deref(),
        Some("Virtual Machines")
    );

    // ContractedCost = ContractedUnitPrice × PricingQuantity wherever the export gives a price.
    let priced: Vec<&FocusRecord> = det
        .iter()
        .filter(|r| r.contracted_unit_price.is_some())
        .collect();
    assert_eq!(priced.len(), 8);
    for r in priced {
        let unit = r.contracted_unit_price.expect("price");
        let qty = r.pricing_quantity.expect("quantity");
        assert_eq!(unit * qty, r.contracted_cost, "{:?}", r.charge_description);
    }

    // EUR billing; prices are in USD at the row's conversion rate.
    let vm = at(
        &det,
        "2024-11-01T07:00:00Z",
        "N2 Instance Core running in EMEA",
    );
    assert_eq!(vm.billing_currency.as_str(), "EUR");
    assert_eq!(
        vm.pricing_currency.as_ref().map(|c| c.as_str()),
        Some("USD")
    );
    assert_eq!(vm.list_cost, d("0.1276"));
    assert_eq!(vm.billed_cost, d("0.0896"));
    assert_eq!(
        vm.pricing_currency_effective_cost,
        Some((d("0.0896") / d("0.9243")).round_dp(10))
    );
    assert_eq!(vm.extension("x_CurrencyConversionRate"), Some("0.9243"));
    assert_eq!(vm.extension("x_ExportTime"), Some("2024-12-02T10:00:00Z"));

    // A BigQuery job: resource.name only, a multi-region location and no region.
    let bq = at(&det, "2024-11-18T09:00:00Z", "Analysis (eu)");
    assert_eq!(
        bq.resource_id.as_deref(),
        Some("projects/data-lake-7730/jobs/bquxjob_1a2b3c")
    );
    assert_eq!(bq.resource_type, None);
    assert_eq!(bq.region_id.as_deref(), Some("EU"));
    assert_eq!(bq.service_category, ServiceCategory::Databases);
    assert_eq!(bq.pricing_unit.as_deref(), Some("TiB"));
}

#[test]
fn providers_and_marketplace_sellers() {
    let std = records("standard.ndjson");
    for r in &std {
        assert_eq!(r.provider_name, "Google Cloud");
        assert_eq!(r.host_provider_name, "Google Cloud");
        assert_eq!(r.invoice_issuer_name, "Google");
        assert_eq!(r.billing_account_id, "01A2B3-C4D5E6-F7A8B9");
    }
    let acme = at(&std, "2024-09-20T00:00:00Z", "Acme Observability Pro plan");
    assert_eq!(acme.publisher_name, "Acme Observability Inc.");
    assert_eq!(acme.service_provider_name, "Acme Observability Inc.");
    assert_eq!(acme.billed_cost, d("12.5"));
    assert_eq!(
        acme.extension("x_TransactionType"),
        Some("THIRD_PARTY_RESELLER")
    );
    let vm = at(
        &std,
        "2024-09-14T10:00:00Z",
        "N2 Instance Core running in Americas",
    );
    assert_eq!(vm.publisher_name, "Google Cloud");
    let egress = at(
        &std,
        "2024-09-16T05:00:00Z",
        "Network Internet Data Transfer Out from Americas to Americas",
    );
    assert_eq!(
        egress.region_id.as_deref(),
        Some("us"),
        "no location.region: location.location"
    );
    assert_eq!(egress.pricing_unit.as_deref(), Some("GiB"));
    assert_eq!(egress.service_category, ServiceCategory::Networking);
}

#[test]
fn malformed_json_line_names_file_and_line() {
    let e = error_of("errors/malformed.ndjson");
    assert!(e.file.ends_with("malformed.ndjson"), "{e}");
    assert_eq!(e.line, Some(3));
    assert!(matches!(e.kind, NormalizeErrorKind::Malformed(_)), "{e}");
}

#[test]
fn non_numeric_cost_names_file_line_and_field() {
    let e = error_of("errors/bad_cost.ndjson");
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(2), Some("cost")),
        "{e}"
    );
    assert!(e.to_string().contains("`n/a` is not a number"), "{e}");

    let e = error_of("errors/bad_cost.csv");
    assert!(e.file.ends_with("bad_cost.csv"));
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(3), Some("cost")),
        "{e}"
    );

    let e = error_of("errors/bad_credit.ndjson");
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(1), Some("credits[0].amount")),
        "{e}"
    );
}

#[test]
fn rows_before_an_error_are_still_yielded() {
    let job = Job {
        dialect: Dialect::GcpBilling,
        inputs: vec![fixture("errors/bad_cost.csv")],
        amortized: Vec::new(),
    };
    let results: Vec<_> = job.open(&Progress::default()).expect("opens").collect();
    assert_eq!(
        results.len(),
        2,
        "row 1 maps, row 2 fails, the stream stops"
    );
    assert!(results[0].is_ok());
    assert!(results[1].is_err());
}

#[test]
fn missing_cost_column_is_reported_on_the_header() {
    let e = error_of("errors/missing_cost.csv");
    assert_eq!((e.line, e.column.as_deref()), (Some(1), Some("cost")));
    assert_eq!(e.kind, NormalizeErrorKind::MissingColumn);
}

#[test]
fn header_only_csv_is_zero_rows_and_empty_files_are_errors() {
    let mut stream = open("errors/header_only.csv");
    assert!(stream.next().is_none());
    assert_eq!(stream.source_totals().rows, 0);
    assert!(stream.source_totals().billed.0.is_empty());

    for name in ["errors/empty.ndjson", "errors/blank.ndjson"] {
        let e = error_of(name);
        assert_eq!(e.kind, NormalizeErrorKind::Empty, "{name}: {e}");
        assert!(e.file.ends_with(name.trim_start_matches("errors/")));
    }
    // Auto-detection of a 0-byte file says Empty too (a whitespace-only file is refused by the
    // shared sniffing as an unknown single-column header, before any dialect sees it).
    let e = plan(&[fixture("errors/empty.ndjson")], None).expect_err("nothing to detect");
    assert_eq!(e.kind, NormalizeErrorKind::Empty, "{e}");
}

#[test]
fn a_json_array_is_refused_with_a_hint() {
    let e = error_of("errors/array.json");
    assert_eq!(e.line, Some(1));
    assert!(e.to_string().contains("NEWLINE_DELIMITED_JSON"), "{e}");
}

#[test]
fn every_mandatory_column_is_set() {
    for name in ["standard.ndjson", "detailed.ndjson"] {
        let declared: Vec<String> = open(name)
            .extension_columns()
            .iter()
            .map(|c| c.to_string())
            .collect();
        for r in records(name) {
            assert!(!r.billing_account_id.is_empty());
            assert!(!r.service_name.is_empty());
            assert!(!r.invoice_issuer_name.is_empty());
            assert!(
                r.charge_period_end > r.charge_period_start,
                "{:?}",
                r.charge_description
            );
            assert!(r.billing_period_end > r.billing_period_start);
            assert!(r.charge_description.is_some());
            if matches!(
                r.charge_category,
                ChargeCategory::Usage | ChargeCategory::Purchase
            ) {
                assert!(
                    r.pricing_quantity.is_some() && r.pricing_unit.is_some(),
                    "{:?}",
                    r.charge_description
                );
                assert!(r.pricing_category.is_some());
            }
            if r.charge_category != ChargeCategory::Usage {
                assert_eq!(r.consumed_quantity, None);
                assert_eq!(r.commitment_discount_status, None);
            }
            if r.commitment_discount_id.is_none() {
                assert_eq!(r.commitment_discount_category, None);
            }
            // x_ values appear in the declared order.
            let mut last = 0;
            for (k, _) in &r.extensions {
                let pos = declared
                    .iter()
                    .position(|d| d == k.as_str())
                    .expect("declared");
                assert!(pos >= last);
                last = pos;
            }
        }
    }
}
