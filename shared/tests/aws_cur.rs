//! AWS CUR (legacy) and CUR 2.0 (CSV and Parquet) normalizer tests.
//!
//! Reconciliation tests read each raw file themselves (csv / parquet crates) and compute AWS's billed
//! measure (Σ net unblended, else unblended) and its standard amortized-cost formula per line item
//! type, then compare with the FOCUS output per currency, exactly.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, MapBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use costkit_core::focus::*;
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect, SourceTotals};
use costkit_core::{FocusRecord, NormalizeError, NormalizeErrorKind};
use rust_decimal::Decimal;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

const SAMPLE: &str =
    "samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv";
const LEGACY_3000: &str = "tests/fixtures/aws/cur_legacy_3000.csv.gz";
const CUR2_3000: &str = "tests/fixtures/aws/cur2_3000.csv.gz";

struct Run {
    records: Vec<FocusRecord>,
    totals: SourceTotals,
    notes: Vec<String>,
    dialect: Dialect,
    extensions: Vec<String>,
}

fn try_run(path: &Path) -> Result<Run, NormalizeError> {
    let jobs = plan(&[path.to_path_buf()], None)?;
    assert_eq!(jobs.len(), 1);
    let mut stream = jobs[0].open(&Progress::default())?;
    let mut records = Vec::new();
    for r in stream.by_ref() {
        records.push(r?);
    }
    Ok(Run {
        records,
        totals: stream.source_totals(),
        notes: stream.notes(),
        dialect: stream.dialect(),
        extensions: stream
            .extension_columns()
            .iter()
            .map(|t| t.to_string())
            .collect(),
    })
}

fn run(path: &Path) -> Run {
    try_run(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s.trim())
        .or_else(|_| Decimal::from_scientific(s.trim()))
        .unwrap_or_else(|e| panic!("`{s}`: {e}"))
}

fn dz(s: Option<&String>) -> Decimal {
    match s {
        Some(v) if !v.is_empty() => d(v),
        _ => Decimal::ZERO,
    }
}

/// A raw source row: column name -> cell text (absent/null cells are missing).
type RawRow = HashMap<String, String>;

fn read_csv(path: &Path) -> Vec<RawRow> {
    let mut bytes = Vec::new();
    File::open(path)
        .expect("open")
        .read_to_end(&mut bytes)
        .expect("read");
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .expect("gunzip");
        s
    } else {
        String::from_utf8(bytes).expect("utf8")
    };
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    rdr.records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .filter(|(_, v)| !v.is_empty())
                .collect()
        })
        .collect()
}

/// AWS's billed and amortized measures, summed per currency from raw rows. `n` maps a legacy
/// column name to the file's naming.
fn source_measures(
    rows: &[RawRow],
    n: &dyn Fn(&str) -> String,
) -> (BTreeMap<String, Decimal>, BTreeMap<String, Decimal>) {
    let mut billed = BTreeMap::new();
    let mut amortized = BTreeMap::new();
    let get = |r: &RawRow, c: &str| r.get(&n(c)).cloned();
    let net_or = |r: &RawRow, net: &str, gross: &str| get(r, net).or_else(|| get(r, gross));
    for r in rows {
        let cur = get(r, "lineItem/CurrencyCode").expect("currency");
        let b = dz(net_or(r, "lineItem/NetUnblendedCost", "lineItem/UnblendedCost").as_ref());
        let lit = get(r, "lineItem/LineItemType").expect("type");
        let a = match lit.as_str() {
            "DiscountedUsage" => dz(net_or(
                r,
                "reservation/NetEffectiveCost",
                "reservation/EffectiveCost",
            )
            .as_ref()),
            "SavingsPlanCoveredUsage" => dz(net_or(
                r,
                "savingsPlan/NetSavingsPlanEffectiveCost",
                "savingsPlan/SavingsPlanEffectiveCost",
            )
            .as_ref()),
            "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => Decimal::ZERO,
            "SavingsPlanRecurringFee" => {
                dz(get(r, "savingsPlan/TotalCommitmentToDate").as_ref())
                    - dz(get(r, "savingsPlan/UsedCommitment").as_ref())
            }
            "RIFee" => {
                dz(net_or(
                    r,
                    "reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod",
                    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
                )
                .as_ref())
                    + dz(net_or(
                        r,
                        "reservation/NetUnusedRecurringFee",
                        "reservation/UnusedRecurringFee",
                    )
                    .as_ref())
            }
            "Fee" if get(r, "reservation/ReservationARN").is_some() => Decimal::ZERO,
            _ => b,
        };
        *billed.entry(cur.clone()).or_insert(Decimal::ZERO) += b;
        *amortized.entry(cur).or_insert(Decimal::ZERO) += a;
    }
    (norm(billed), norm(amortized))
}

fn norm(m: BTreeMap<String, Decimal>) -> BTreeMap<String, Decimal> {
    m.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

fn output_sums(records: &[FocusRecord]) -> (BTreeMap<String, Decimal>, BTreeMap<String, Decimal>) {
    let mut billed = BTreeMap::new();
    let mut effective = BTreeMap::new();
    for r in records {
        *billed
            .entry(r.billing_currency.to_string())
            .or_insert(Decimal::ZERO) += r.billed_cost;
        *effective
            .entry(r.billing_currency.to_string())
            .or_insert(Decimal::ZERO) += r.effective_cost;
    }
    (norm(billed), norm(effective))
}

fn totals_map(t: &costkit_core::money::CurrencyTotals) -> BTreeMap<String, Decimal> {
    t.normalized()
        .0
        .iter()
        .map(|(c, v)| (c.to_string(), *v))
        .collect()
}

/// Checks output sums, the stream's own source totals and the test's independent measures agree.
fn reconcile(label: &str, run: &Run, raw: &[RawRow], n: &dyn Fn(&str) -> String) {
    let (src_billed, src_amortized) = source_measures(raw, n);
    let (out_billed, out_effective) = output_sums(&run.records);
    eprintln!(
        "{label}: {} source rows -> {} records; billed {:?}; amortized {:?}",
        raw.len(),
        run.records.len(),
        src_billed,
        src_amortized
    );
    assert_eq!(
        out_billed, src_billed,
        "{label}: Σ BilledCost vs source billed"
    );
    assert_eq!(
        out_effective, src_amortized,
        "{label}: Σ EffectiveCost vs source amortized"
    );
    assert_eq!(
        totals_map(&run.totals.billed),
        src_billed,
        "{label}: source_totals().billed"
    );
    assert_eq!(
        totals_map(run.totals.effective.as_ref().expect("amortized measure")),
        src_amortized,
        "{label}: source_totals().effective"
    );
    assert_eq!(run.totals.rows as usize, raw.len(), "{label}: rows read");
}

fn legacy(c: &str) -> String {
    c.to_string()
}

fn cur2(c: &str) -> String {
    costkit_core::normalize::aws_cur::cur2_name(c)
}

fn ext<'a>(r: &'a FocusRecord, name: &str) -> Option<&'a str> {
    r.extension(name)
}

fn dec(s: &str) -> Decimal {
    d(s)
}

// ---------------------------------------------------------------------------------------------
// Reconciliation

#[test]
fn reconciles_the_real_legacy_sample() {
    let path = repo(SAMPLE);
    let r = run(&path);
    assert_eq!(r.dialect, Dialect::AwsCur);
    reconcile("legacy sample", &r, &read_csv(&path), &legacy);
    // Only Usage and Tax rows: nothing is folded or split.
    assert_eq!(r.records.len(), 1281);
    let tax: Vec<_> = r
        .records
        .iter()
        .filter(|x| x.charge_category == ChargeCategory::Tax)
        .collect();
    assert_eq!(tax.len(), 12);
    for t in tax {
        assert_eq!(t.pricing_quantity, None);
        assert_eq!(t.pricing_unit, None);
        assert_eq!(t.pricing_category, None);
        assert_eq!(t.sku_id, None);
        assert_eq!(t.sku_price_id, None);
        assert_eq!(t.list_unit_price, None);
        assert_eq!(t.effective_cost, t.billed_cost);
        assert_eq!(t.list_cost, t.billed_cost);
        assert_eq!(t.contracted_cost, t.billed_cost);
    }
    let first = &r.records[0];
    assert_eq!(first.billing_account_id, "123412340534");
    assert_eq!(
        first.invoice_id, None,
        "an empty bill/InvoiceId is a null, not \"\""
    );
    assert_eq!(
        first.invoice_issuer_name,
        "Amazon Web Services Canada, Inc."
    );
    assert_eq!(first.publisher_name, "Amazon Web Services Canada, Inc.");
    assert_eq!(first.provider_name, "AWS");
    assert_eq!(first.host_provider_name, "AWS");
    // Every usage row has a normalised unit and a FOCUS subcategory of its category.
    for x in r
        .records
        .iter()
        .filter(|x| x.charge_category == ChargeCategory::Usage)
    {
        let unit = x.pricing_unit.as_deref().unwrap_or("");
        assert!(
            !["Hrs", "GB-Mo", "Lambda-GB-Second"].contains(&unit),
            "unit {unit} not normalised"
        );
        assert_eq!(x.charge_frequency, Some(ChargeFrequency::UsageBased));
        assert_eq!(x.pricing_category, Some(PricingCategory::Standard));
        assert!(x.service_subcategory.is_some());
    }
    let glue = r
        .records
        .iter()
        .find(|x| ext(x, "x_ServiceCode") == Some("AWSGlue"))
        .expect("a Glue row");
    assert_eq!(glue.service_category, ServiceCategory::Analytics);
    assert_eq!(glue.service_name, "AWS Glue");
}

#[test]
fn reconciles_the_generated_legacy_fixture() {
    let path = repo(LEGACY_3000);
    let r = run(&path);
    assert_eq!(r.dialect, Dialect::AwsCur);
    let raw = read_csv(&path);
    reconcile("legacy 3000", &r, &raw, &legacy);
    let negations = raw
        .iter()
        .filter(|x| x["lineItem/LineItemType"] == "SavingsPlanNegation")
        .count();
    assert!(negations > 100);
    // Tax rows name no SKU, so no SkuMeter either (FOCUS); their usage type stays an extension.
    let taxes: Vec<&FocusRecord> = r
        .records
        .iter()
        .filter(|x| x.charge_category == ChargeCategory::Tax)
        .collect();
    assert!(!taxes.is_empty());
    for t in &taxes {
        assert_eq!((t.sku_id.as_deref(), t.sku_meter.as_deref()), (None, None));
    }
    assert!(taxes.iter().any(|t| ext(t, "x_UsageType").is_some()));
    // No negation row survives as such. Covered usage and negations are summed per (savings plan,
    // account, product); only keys that do not cancel leave a residual Adjustment row, carrying
    // exactly that remainder. The generator pairs them randomly, so many keys do not cancel here.
    let mut expected: BTreeMap<(String, String, String), Decimal> = BTreeMap::new();
    for x in &raw {
        let t = x["lineItem/LineItemType"].as_str();
        if t == "SavingsPlanNegation" || t == "SavingsPlanCoveredUsage" {
            let key = (
                x["savingsPlan/SavingsPlanARN"].clone(),
                x["lineItem/UsageAccountId"].clone(),
                x["lineItem/ProductCode"].clone(),
            );
            *expected.entry(key).or_insert(Decimal::ZERO) += d(&x["lineItem/NetUnblendedCost"]);
        }
    }
    expected.retain(|_, v| !v.is_zero());
    let residuals: BTreeMap<(String, String, String), Decimal> = r
        .records
        .iter()
        .filter(|x| ext(x, "x_LineItemType") == Some("SavingsPlanNegation"))
        .map(|x| {
            assert_eq!(x.charge_category, ChargeCategory::Adjustment);
            assert!(x.effective_cost.is_zero());
            let key = (
                x.commitment_discount_id
                    .as_deref()
                    .unwrap_or("")
                    .to_string(),
                x.sub_account_id.as_deref().unwrap_or("").to_string(),
                ext(x, "x_ServiceCode").unwrap_or("").to_string(),
            );
            (key, x.billed_cost)
        })
        .collect();
    assert_eq!(residuals, expected);
    assert!(negations > residuals.len());
    let covered_billed: Decimal = r
        .records
        .iter()
        .filter(|x| ext(x, "x_LineItemType") == Some("SavingsPlanCoveredUsage"))
        .map(|x| x.billed_cost)
        .sum();
    assert_eq!(covered_billed, Decimal::ZERO);
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("SavingsPlanNegation rows folded")));
    assert_eq!(
        r.extensions,
        [
            "x_ServiceCode",
            "x_UsageType",
            "x_Operation",
            "x_LineItemType",
            "x_BillType",
            "x_ProductFamily",
            "x_CostCategories",
            "x_Discounts"
        ]
    );
}

#[test]
fn reconciles_the_cur2_csv_fixture_and_matches_legacy() {
    let path = repo(CUR2_3000);
    let r = run(&path);
    assert_eq!(r.dialect, Dialect::AwsCur2);
    reconcile("cur2 csv 3000", &r, &read_csv(&path), &cur2);
    let l = run(&repo(LEGACY_3000));
    assert_same_records(&l.records, &r.records);
}

/// Legacy and CUR 2.0 of the same data give the same FOCUS rows; only tag keys differ in case
/// (CUR 2.0 lower-cases them).
fn assert_same_records(a: &[FocusRecord], b: &[FocusRecord]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        let mut x = x.clone();
        let mut y = y.clone();
        x.tags = lower_tags(&x.tags);
        y.tags = lower_tags(&y.tags);
        x.resource_name = x.resource_name.map(|n| n.to_lowercase().into());
        y.resource_name = y.resource_name.map(|n| n.to_lowercase().into());
        assert_eq!(x, y);
    }
}

fn lower_tags(t: &Tags) -> Tags {
    let mut out = Tags::new();
    for (k, v) in &t.0 {
        out.0.insert(k.to_lowercase().into(), v.clone());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// CUR 2.0 Parquet: written here from the CUR 2.0 CSV fixture the way AWS types the columns
// (doubles for money, timestamps, maps for product / resource_tags / cost_category / discount).

const MAP_COLUMNS: &[&str] = &["product", "resource_tags", "cost_category", "discount"];

fn is_money(name: &str) -> bool {
    [
        "_cost",
        "_rate",
        "_amount",
        "_fee",
        "_commitment",
        "_to_date",
        "_units",
        "_factor",
        "_billing_period",
        "_for_usage",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

fn is_time(name: &str) -> bool {
    name.ends_with("_date")
}

fn write_cur2_parquet(csv_path: &Path, out: &Path) {
    let mut bytes = Vec::new();
    File::open(csv_path)
        .expect("open")
        .read_to_end(&mut bytes)
        .expect("read");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("record")).collect();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if MAP_COLUMNS.contains(&h.as_str()) {
            let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for r in &rows {
                let cell = &r[i];
                let obj: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(cell).expect("map json");
                for (k, v) in obj {
                    b.keys().append_value(k);
                    b.values().append_value(v.as_str().expect("string value"));
                }
                b.append(true).expect("map row");
            }
            let a = b.finish();
            fields.push(Field::new(h, a.data_type().clone(), true));
            arrays.push(Arc::new(a));
        } else if is_money(h) {
            let mut b = Float64Builder::new();
            for r in &rows {
                let c = &r[i];
                b.append_option(if c.is_empty() {
                    None
                } else {
                    Some(c.parse::<f64>().expect("float"))
                });
            }
            fields.push(Field::new(h, DataType::Float64, true));
            arrays.push(Arc::new(b.finish()));
        } else if is_time(h) {
            let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
            for r in &rows {
                let c = &r[i];
                let t = chrono::DateTime::parse_from_rfc3339(c)
                    .expect("rfc3339")
                    .timestamp_millis();
                b.append_value(t);
            }
            fields.push(Field::new(
                h,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ));
            arrays.push(Arc::new(b.finish()));
        } else {
            let mut b = StringBuilder::new();
            for r in &rows {
                let c = &r[i];
                b.append_option(if c.is_empty() { None } else { Some(c) });
            }
            fields.push(Field::new(h, DataType::Utf8, true));
            arrays.push(Arc::new(b.finish()));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("batch");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(File::create(out).expect("create"), schema, None)
            .expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

/// Reads the Parquet file back with arrow directly (not through costkit) for the independent sums.
fn read_parquet_raw(path: &Path) -> Vec<RawRow> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        File::open(path).expect("open"),
    )
    .expect("builder")
    .build()
    .expect("reader");
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let mut m = RawRow::new();
            for (f, col) in schema.fields().iter().zip(batch.columns()) {
                if col.is_null(row) {
                    continue;
                }
                let v = match col.data_type() {
                    DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
                    // Rust prints the shortest text that round-trips, i.e. what the exporter wrote.
                    DataType::Float64 => col.as_primitive::<Float64Type>().value(row).to_string(),
                    _ => continue,
                };
                m.insert(f.name().clone(), v);
            }
            out.push(m);
        }
    }
    out
}

#[test]
fn reconciles_cur2_parquet_and_matches_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pq = dir.path().join("cur2_3000.parquet");
    write_cur2_parquet(&repo(CUR2_3000), &pq);
    let r = run(&pq);
    assert_eq!(r.dialect, Dialect::AwsCur2);
    reconcile("cur2 parquet 3000", &r, &read_parquet_raw(&pq), &cur2);
    let csv = run(&repo(CUR2_3000));
    assert_same_records(&csv.records, &r.records);
}

// ---------------------------------------------------------------------------------------------
// Tricky cases

fn fixture(name: &str) -> Run {
    let path = repo(&format!("tests/fixtures/aws/{name}"));
    let r = run(&path);
    reconcile(name, &r, &read_csv(&path), &legacy);
    r
}

#[test]
fn savings_plan_negations_are_folded() {
    let r = fixture("sp_negation.csv");
    let sp = "arn:aws:savingsplans::111111111111:savingsplan/sp-0001";
    // 8 source rows: 2 usage + 3 covered + 3 negations -> 5 records + 1 residual.
    assert_eq!(r.records.len(), 6);
    let covered: Vec<_> = r
        .records
        .iter()
        .filter(|x| ext(x, "x_LineItemType") == Some("SavingsPlanCoveredUsage"))
        .collect();
    assert_eq!(covered.len(), 3);
    for c in &covered {
        assert_eq!(c.charge_category, ChargeCategory::Usage);
        assert_eq!(
            c.billed_cost,
            Decimal::ZERO,
            "covered usage is billed through the plan"
        );
        assert_eq!(c.pricing_category, Some(PricingCategory::Committed));
        assert_eq!(c.commitment_discount_id.as_deref(), Some(sp));
        assert_eq!(
            c.commitment_discount_category,
            Some(CommitmentDiscountCategory::Spend)
        );
        assert_eq!(
            c.commitment_discount_status,
            Some(CommitmentDiscountStatus::Used)
        );
        assert_eq!(c.commitment_discount_unit.as_deref(), Some("USD"));
        assert_eq!(c.commitment_discount_quantity, Some(c.effective_cost));
    }
    assert_eq!(covered[0].effective_cost, dec("0.35"));
    assert_eq!(covered[0].contracted_cost, dec("0.50"));
    assert_eq!(covered[0].list_cost, dec("0.50"));
    assert_eq!(covered[0].contracted_unit_price, Some(dec("0.1")));
    // Account 222222222222 covered 0.25 but its negation was only -0.20: the 0.05 remainder stays
    // billed, as an Adjustment at the end of the stream. Account 111111111111 cancels exactly.
    let residual = r.records.last().expect("residual");
    assert_eq!(residual.charge_category, ChargeCategory::Adjustment);
    assert_eq!(residual.billed_cost, dec("0.05"));
    assert_eq!(residual.effective_cost, Decimal::ZERO);
    assert_eq!(residual.sub_account_id.as_deref(), Some("222222222222"));
    assert_eq!(residual.commitment_discount_id.as_deref(), Some(sp));
    assert_eq!(residual.charge_period_start, residual.billing_period_start);
    assert_eq!(residual.charge_period_end, residual.billing_period_end);
    assert_eq!(ext(residual, "x_LineItemType"), Some("SavingsPlanNegation"));
    let adjustments = r
        .records
        .iter()
        .filter(|x| x.charge_category == ChargeCategory::Adjustment)
        .count();
    assert_eq!(adjustments, 1);
    let (billed, effective) = output_sums(&r.records);
    assert_eq!(billed["USD"], dec("1.75"));
    assert_eq!(effective["USD"], dec("2.44"));
    assert!(
        r.notes.iter().any(|n| n.contains("did not cancel out")),
        "{:?}",
        r.notes
    );
    // Lambda unit and tags on the plain usage rows.
    let lambda = r
        .records
        .iter()
        .find(|x| x.service_name == "AWS Lambda")
        .expect("lambda");
    assert_eq!(lambda.pricing_unit.as_deref(), Some("GB-Seconds"));
    assert_eq!(lambda.service_category, ServiceCategory::Compute);
    assert_eq!(
        lambda.service_subcategory.as_deref(),
        Some("Serverless Compute")
    );
    let ec2 = &r.records[0];
    assert_eq!(ec2.tags.to_json(), r#"{"Team":"web"}"#);
    assert_eq!(ec2.pricing_unit.as_deref(), Some("Hours"));
    assert_eq!(ec2.resource_type.as_deref(), Some("ec2:instance"));
    assert_eq!(ec2.region_name.as_deref(), Some("US East (N. Virginia)"));
}

#[test]
fn commitment_fees_split_into_purchase_and_unused() {
    let r = fixture("ri_sp_fees.csv");
    let ri1 = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-0001";
    let ri2 = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-0002";
    let sp = "arn:aws:savingsplans::111111111111:savingsplan/sp-0001";
    let rows: Vec<(
        ChargeCategory,
        Option<CommitmentDiscountStatus>,
        Decimal,
        Decimal,
    )> = r
        .records
        .iter()
        .map(|x| {
            (
                x.charge_category,
                x.commitment_discount_status,
                x.billed_cost,
                x.effective_cost,
            )
        })
        .collect();
    use ChargeCategory::{Purchase, Usage};
    use CommitmentDiscountStatus::{Unused, Used};
    assert_eq!(
        rows,
        vec![
            (Purchase, None, dec("73"), Decimal::ZERO),
            (Usage, Some(Unused), Decimal::ZERO, dec("12.55")),
            (Purchase, None, dec("36.5"), Decimal::ZERO), // fully used RI: no Unused row
            (Usage, Some(Used), Decimal::ZERO, dec("0.085")),
            (Purchase, None, dec("100"), Decimal::ZERO),
            (Usage, Some(Unused), Decimal::ZERO, dec("7.5")),
            (Purchase, None, dec("1000"), Decimal::ZERO),
            (Purchase, None, dec("500"), Decimal::ZERO),
            (Purchase, None, dec("20"), dec("20")),
        ]
    );
    let rec = &r.records;
    // RI fee: Purchase row and its Unused row.
    assert_eq!(rec[0].charge_frequency, Some(ChargeFrequency::Recurring));
    assert_eq!(rec[0].pricing_category, Some(PricingCategory::Standard));
    assert_eq!(rec[0].commitment_discount_id.as_deref(), Some(ri1));
    assert_eq!(
        rec[0].commitment_discount_category,
        Some(CommitmentDiscountCategory::Usage)
    );
    assert_eq!(rec[0].commitment_discount_status, None);
    assert_eq!(rec[0].pricing_quantity, Some(dec("730")));
    assert_eq!(rec[0].pricing_unit.as_deref(), Some("Hours"));
    assert_eq!(rec[0].list_cost, dec("73"));
    assert_eq!(rec[1].charge_frequency, Some(ChargeFrequency::UsageBased));
    assert_eq!(rec[1].pricing_category, Some(PricingCategory::Committed));
    assert_eq!(rec[1].commitment_discount_id.as_deref(), Some(ri1));
    assert_eq!(rec[1].resource_id.as_deref(), Some(ri1));
    assert_eq!(rec[1].pricing_quantity, Some(dec("73")));
    assert_eq!(rec[1].pricing_unit.as_deref(), Some("Hours"));
    assert_eq!(rec[1].consumed_quantity, None);
    assert_eq!(rec[1].consumed_unit, None);
    assert_eq!(
        (rec[1].list_cost, rec[1].contracted_cost),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert_eq!(rec[1].charge_period_start, rec[0].charge_period_start);
    assert_eq!(rec[2].commitment_discount_id.as_deref(), Some(ri2));
    // RI-covered usage: public price stands in for the contracted price.
    assert_eq!(rec[3].list_cost, dec("0.096"));
    assert_eq!(rec[3].contracted_cost, dec("0.096"));
    assert_eq!(rec[3].commitment_discount_unit.as_deref(), Some("Hours"));
    // Savings Plan recurring fee and its unused commitment (100 - 92.50).
    assert_eq!(rec[4].commitment_discount_id.as_deref(), Some(sp));
    assert_eq!(rec[4].commitment_discount_quantity, Some(dec("100")));
    assert_eq!(
        rec[4].pricing_unit.as_deref(),
        Some("Hours"),
        "empty pricing/unit on a fee row falls back to Hours"
    );
    assert_eq!(
        rec[5].commitment_discount_category,
        Some(CommitmentDiscountCategory::Spend)
    );
    assert_eq!(rec[5].pricing_quantity, Some(dec("7.5")));
    assert_eq!(rec[5].commitment_discount_unit.as_deref(), Some("USD"));
    assert_eq!(rec[5].region_id, None);
    // Upfront fees are one-time and amortise to 0 here.
    assert_eq!(rec[6].charge_frequency, Some(ChargeFrequency::OneTime));
    assert_eq!(rec[7].charge_frequency, Some(ChargeFrequency::OneTime));
    assert_eq!(rec[7].commitment_discount_id.as_deref(), Some(ri1));
    // A fee with a usage amount but no pricing/unit counts what was bought: `Units`
    // (FOCUS: PricingUnit is required whenever PricingQuantity is set).
    assert_eq!(rec[6].pricing_quantity, Some(dec("1")));
    assert_eq!(rec[6].pricing_unit.as_deref(), Some("Units"));
    assert_eq!(rec[7].pricing_unit.as_deref(), Some("Hours"), "unit kept");
    assert_eq!(rec[8].pricing_quantity, Some(dec("1")));
    assert_eq!(rec[8].pricing_unit.as_deref(), Some("Units"));
    // A monthly support fee is recurring and costs what it bills.
    assert_eq!(rec[8].charge_frequency, Some(ChargeFrequency::Recurring));
    assert_eq!(rec[8].service_subcategory.as_deref(), Some("Support"));
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("split into a Purchase row and an Unused")));
}

#[test]
fn refunds_credits_taxes_and_leading_zero_accounts() {
    let r = fixture("refund_credit_tax.csv");
    let rec = &r.records;
    assert_eq!(rec.len(), 8);
    for x in rec {
        assert_eq!(x.billing_account_id, "012345678901");
        assert_eq!(x.sub_account_id.as_deref(), Some("012345678901"));
        assert_eq!(x.sub_account_type.as_deref(), Some("Account"));
    }
    // Usage row: tags (empty aws:createdBy cell = tag absent), Name tag as ResourceName.
    assert_eq!(
        rec[0].tags.to_json(),
        r#"{"Team":"web","Name":"frontend-1"}"#
    );
    assert_eq!(rec[0].resource_name.as_deref(), Some("frontend-1"));
    assert_eq!(rec[0].availability_zone.as_deref(), Some("us-east-1a"));
    // Tax.
    let tax = &rec[1];
    assert_eq!(tax.charge_category, ChargeCategory::Tax);
    assert_eq!(tax.charge_class, None);
    assert_eq!(
        (
            tax.pricing_quantity,
            tax.pricing_unit.as_deref(),
            tax.pricing_category
        ),
        (None, None, None)
    );
    assert_eq!(
        (tax.sku_id.as_deref(), tax.sku_price_id.as_deref()),
        (None, None)
    );
    assert_eq!(tax.pricing_currency, None);
    assert_eq!(tax.charge_frequency, Some(ChargeFrequency::Recurring));
    assert_eq!(
        (tax.effective_cost, tax.list_cost, tax.contracted_cost),
        (dec("0.26"), dec("0.26"), dec("0.26"))
    );
    // Credits: same-period credit is not a correction; a credit for August in September is.
    for (x, class) in [(&rec[2], None), (&rec[3], Some(ChargeClass::Correction))] {
        assert_eq!(x.charge_category, ChargeCategory::Credit);
        assert_eq!(x.charge_class, class);
        assert_eq!(x.effective_cost, x.billed_cost);
        assert_eq!(x.list_cost, x.billed_cost);
        assert_eq!(x.contracted_cost, x.billed_cost);
        assert_eq!(x.pricing_quantity, None);
        assert_eq!(x.charge_frequency, Some(ChargeFrequency::OneTime));
    }
    // Refunds keep the refunded category with negative amounts.
    let expect = [
        (&rec[4], ChargeCategory::Usage, None, "-0.4"),
        (
            &rec[5],
            ChargeCategory::Usage,
            Some(ChargeClass::Correction),
            "-0.3",
        ),
        (&rec[6], ChargeCategory::Tax, None, "-0.05"),
        (&rec[7], ChargeCategory::Purchase, None, "-10"),
    ];
    for (x, cat, class, amount) in expect {
        assert_eq!(x.charge_category, cat, "{:?}", x.charge_description);
        assert_eq!(x.charge_class, class, "{:?}", x.charge_description);
        assert_eq!(x.billed_cost, dec(amount));
        assert_eq!(x.effective_cost, x.billed_cost);
        assert_eq!(ext(x, "x_LineItemType"), Some("Refund"));
    }
    assert_eq!(rec[4].pricing_quantity, Some(dec("4")));
    assert_eq!(rec[4].consumed_quantity, None, "a refund consumes nothing");
    assert_eq!(rec[6].pricing_quantity, None);
    assert_eq!(rec[7].charge_frequency, Some(ChargeFrequency::OneTime));
}

#[test]
fn header_only_file_yields_no_rows() {
    let r = fixture("header_only.csv");
    assert!(r.records.is_empty());
    assert_eq!(r.totals.rows, 0);
    assert!(r.totals.billed.0.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn non_numeric_cost_names_file_line_and_column() {
    let path = repo("tests/fixtures/aws/bad_cost.csv");
    let e = try_run(&path).err().expect("must fail");
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.line, Some(4));
    assert_eq!(e.column.as_deref(), Some("lineItem/UnblendedCost"));
    assert!(
        matches!(e.kind, NormalizeErrorKind::InvalidValue(ref m) if m.contains("12,50")),
        "{e}"
    );
}

#[test]
fn missing_required_column_is_reported() {
    let path = repo("tests/fixtures/aws/missing_unblended_cost.csv");
    let e = try_run(&path).err().expect("must fail");
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.line, Some(1));
    assert_eq!(e.column.as_deref(), Some("lineItem/UnblendedCost"));
    assert_eq!(e.kind, NormalizeErrorKind::MissingColumn);
}

#[test]
fn cur2_errors_use_cur2_column_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cur2_bad.csv");
    let mut text = String::new();
    let raw = std::fs::read(repo(CUR2_3000)).expect("read");
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let first = lines.next().expect("row");
    let bad = first.replace(",Usage,", ",,");
    assert_ne!(bad, first);
    std::fs::write(&path, format!("{header}\n{first}\n{bad}\n")).expect("write");
    let e = try_run(&path).err().expect("must fail");
    assert_eq!(e.line, Some(3));
    assert_eq!(e.column.as_deref(), Some("line_item_line_item_type"));
}
