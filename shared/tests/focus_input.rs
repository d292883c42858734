//! FOCUS input dialect: every bundled FOCUS sample and fixture normalizes, and its money
//! reconciles to the cent with sums the test computes itself from the raw file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use costkit_core::error::NormalizeErrorKind;
use costkit_core::focus::{ChargeCategory, CommitmentDiscountStatus, FocusColumn};
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect, RecordStream};
use costkit_core::{FocusRecord, NormalizeError};
use rust_decimal::Decimal;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/focus").join(name)
}

/// Every FOCUS sample and hand-made export fixture that must normalize.
fn focus_files() -> Vec<PathBuf> {
    let mut files = vec![repo()
        .join("samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv")];
    let mut spec: Vec<PathBuf> = std::fs::read_dir(repo().join("samples/focus/spec-1.2-examples"))
        .expect("spec examples folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    spec.sort();
    assert_eq!(spec.len(), 22, "the 22 bundled FOCUS 1.2 spec example CSVs");
    files.extend(spec);
    for f in [
        "aws_focus_1.2_with_aws_columns.csv",
        "azure_focuscost_1.0.csv",
        "azure_focuscost_1.0r2.csv",
        "azure_focuscost_1.2-preview.csv",
    ] {
        files.push(fixture(f));
    }
    files
}

struct Run {
    records: Vec<FocusRecord>,
    stream: Box<dyn RecordStream>,
}

fn open(path: &Path) -> Result<Box<dyn RecordStream>, NormalizeError> {
    let jobs = plan(&[path.to_path_buf()], None)?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].dialect,
        Dialect::Focus,
        "{} detected as FOCUS",
        path.display()
    );
    jobs[0].open(&Progress::default())
}

fn normalize(path: &Path) -> Result<Run, NormalizeError> {
    let mut stream = open(path)?;
    let mut records = Vec::new();
    for r in stream.by_ref() {
        records.push(r?);
    }
    Ok(Run { records, stream })
}

/// The test's own reading of a raw cell: FOCUS-Sample-Data writes `NULL`, the spec examples `null`.
fn raw_null(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || s.eq_ignore_ascii_case("null")
}

/// The test's own amount parser: plain decimals, and the spec examples' `"$10,000.00 "`.
fn raw_amount(s: &str) -> Decimal {
    let cleaned: String = s
        .trim()
        .chars()
        .filter(|c| *c != '$' && *c != ',')
        .collect();
    Decimal::from_str(&cleaned).unwrap_or_else(|_| panic!("raw amount `{s}`"))
}

type Totals = BTreeMap<String, Decimal>;

/// Σ BilledCost and Σ EffectiveCost per BillingCurrency, straight from the raw CSV.
fn raw_totals(path: &Path) -> (Totals, Totals) {
    let mut rdr = csv::Reader::from_path(path).expect("open raw");
    let headers: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (billed_i, effective_i, cur_i) = (
        col("BilledCost").expect("BilledCost"),
        col("EffectiveCost"),
        col("BillingCurrency"),
    );
    let (mut billed, mut effective) = (Totals::new(), Totals::new());
    for row in rdr.records() {
        let row = row.expect("raw row");
        let cur = cur_i
            .map(|i| row[i].trim())
            .filter(|c| !raw_null(c))
            .unwrap_or("")
            .to_string();
        let b = raw_amount(&row[billed_i]);
        // A file without EffectiveCost has no amortized view: the amortized measure is the billed one.
        let e = effective_i.map(|i| raw_amount(&row[i])).unwrap_or(b);
        *billed.entry(cur.clone()).or_default() += b;
        *effective.entry(cur).or_default() += e;
    }
    (norm(billed), norm(effective))
}

fn norm(t: Totals) -> Totals {
    t.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

fn output_totals(records: &[FocusRecord]) -> (Totals, Totals) {
    let (mut billed, mut effective) = (Totals::new(), Totals::new());
    for r in records {
        *billed.entry(r.billing_currency.to_string()).or_default() += r.billed_cost;
        *effective.entry(r.billing_currency.to_string()).or_default() += r.effective_cost;
    }
    (norm(billed), norm(effective))
}

fn raw_rows(path: &Path) -> usize {
    csv::Reader::from_path(path)
        .expect("open raw")
        .records()
        .count()
}

#[test]
fn every_focus_sample_reconciles_per_currency() {
    let mut report = Vec::new();
    for path in focus_files() {
        let run = normalize(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            run.records.len(),
            raw_rows(&path),
            "{}: one record per row",
            path.display()
        );
        let (raw_billed, raw_effective) = raw_totals(&path);
        let (out_billed, out_effective) = output_totals(&run.records);
        assert_eq!(
            out_billed,
            raw_billed,
            "{}: Σ BilledCost per currency",
            path.display()
        );
        assert_eq!(
            out_effective,
            raw_effective,
            "{}: Σ EffectiveCost per currency",
            path.display()
        );
        let src = run.stream.source_totals();
        let src_billed: Totals = norm(
            src.billed
                .0
                .iter()
                .map(|(c, v)| (c.to_string(), *v))
                .collect(),
        );
        assert_eq!(
            src_billed,
            raw_billed,
            "{}: source_totals().billed",
            path.display()
        );
        report.push(format!(
            "{}: billed {raw_billed:?} effective {raw_effective:?}",
            path.display()
        ));
    }
    // Visible with --nocapture; these are the reconciled numbers quoted in docs/mapping/focus.md.
    println!("{}", report.join("\n"));
}

#[test]
fn known_totals_of_the_multi_provider_sample() {
    // Pinned from an independent read of the file (python csv + decimal.Decimal), so a bug shared
    // by the reader and this test's own parser cannot hide.
    let path = repo()
        .join("samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv");
    let run = normalize(&path).expect("normalizes");
    let (billed, effective) = output_totals(&run.records);
    let usd = |s: &str| Totals::from([("USD".to_string(), Decimal::from_str(s).expect("dec"))]);
    assert_eq!(billed, usd("20.52022672899"));
    assert_eq!(effective, usd("14.97651418586"));
    assert_eq!(run.records.len(), 1000);
}

#[test]
fn focus_1_0_is_upgraded_to_1_2() {
    let path = repo()
        .join("samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv");
    let run = normalize(&path).expect("normalizes");
    let notes = run.stream.notes().join("\n");
    assert!(notes.contains("FOCUS 1.0"), "{notes}");
    assert!(notes.contains("x_ prefix FOCUS requires: Id"), "{notes}");
    for r in &run.records {
        // 1.1/1.2 columns the file does not have are null, never "" or invented.
        assert_eq!(r.capacity_reservation_id, None);
        assert_eq!(r.sku_meter, None);
        assert_eq!(r.service_subcategory, None);
        assert_eq!(r.invoice_id, None);
        assert_eq!(r.billing_account_type, None);
        // Pre-1.2 prices are in BillingCurrency, so the PricingCurrency view is the billing one.
        assert_eq!(
            r.pricing_currency.as_ref().map(|c| c.to_string()),
            Some(r.billing_currency.to_string())
        );
        assert_eq!(r.pricing_currency_effective_cost, Some(r.effective_cost));
        assert_eq!(r.pricing_currency_list_unit_price, r.list_unit_price);
        assert!(
            r.extension("x_Id").is_some(),
            "the Id column is kept as x_Id"
        );
    }
    // `NULL` literals are nulls.
    let first = &run.records[0];
    assert_eq!(first.availability_zone, None);
    assert_eq!(first.charge_class, None);
    assert_eq!(first.resource_name, None);
    assert_eq!(first.cell(FocusColumn::ChargeClass), None);
    assert_eq!(first.extension("x_Id"), Some("11472"));
    // The Oracle rows' null ContractedCost is filled from ListCost and said so.
    assert!(
        notes.contains("null ListCost/ContractedCost cells"),
        "{notes}"
    );
    let oracle: Vec<&FocusRecord> = run
        .records
        .iter()
        .filter(|r| r.provider_name == "Oracle")
        .collect();
    assert_eq!(oracle.len(), 7);
    assert!(oracle
        .iter()
        .any(|r| r.contracted_cost == r.list_cost && r.contracted_unit_price.is_none()));
}

#[test]
fn lowercase_null_and_placeholders_in_spec_examples() {
    let path = repo()
        .join("samples/focus/spec-1.2-examples/commitment_discount_scenarios__commitment_discount_usage_scenario_4.csv");
    let run = normalize(&path).expect("normalizes");
    let standard = &run.records[1];
    assert_eq!(standard.commitment_discount_id, None, "`null` is a null");
    assert_eq!(standard.commitment_discount_status, None);
    assert_eq!(standard.commitment_discount_quantity, None);
    assert_eq!(
        run.records[0].resource_id.as_deref(),
        Some("<my-resource-id>"),
        "placeholders are kept as text"
    );
    // Virtual currency: PricingCurrency "Token" with BillingCurrency USD.
    let vc = normalize(&repo().join(
        "samples/focus/spec-1.2-examples/saas_examples__virtual_currency_pricing_model_a2.csv",
    ))
    .expect("normalizes");
    assert!(vc.records.iter().all(|r| r
        .pricing_currency
        .as_ref()
        .is_some_and(|c| c.as_str() == "Token")));
    assert!(vc
        .records
        .iter()
        .all(|r| r.billing_currency.as_str() == "USD"));
    assert_eq!(
        vc.records[0].pricing_currency_effective_cost,
        Some(Decimal::from(245))
    );
}

#[test]
fn human_formatted_amounts_and_two_digit_years() {
    let path = repo().join("samples/focus/spec-1.2-examples/saas_examples__simple_agreements__simple_saas_agreements_a1.csv");
    let run = normalize(&path).expect("normalizes");
    let r = &run.records[0];
    assert_eq!(r.billed_cost, Decimal::from(10_000));
    assert_eq!(r.list_unit_price, Some(Decimal::from(10_000)));
    assert_eq!(
        r.cell(FocusColumn::BillingPeriodStart).as_deref(),
        Some("2025-04-01T00:00:00Z")
    );
    assert_eq!(
        r.cell(FocusColumn::ChargePeriodEnd).as_deref(),
        Some("2026-04-01T00:00:00Z")
    );
    let notes = run.stream.notes().join("\n");
    assert!(
        notes.contains("currency symbol or thousands separators"),
        "{notes}"
    );
    assert!(notes.contains("M/D/YY"), "{notes}");
}

#[test]
fn aws_focus_export_keeps_x_columns() {
    let run = normalize(&fixture("aws_focus_1.2_with_aws_columns.csv")).expect("normalizes");
    let cols = run.stream.extension_columns();
    for x in [
        "x_CostCategories",
        "x_Discounts",
        "x_Operation",
        "x_ServiceCode",
        "x_UsageType",
    ] {
        assert!(cols.iter().any(|c| c == x), "{x} declared");
    }
    let od = &run.records[0];
    assert_eq!(
        od.extension("x_Discounts"),
        Some(r#"{"edp_discount": -0.0096}"#)
    );
    assert_eq!(
        od.extension("x_CostCategories"),
        Some(r#"{"env": "production"}"#)
    );
    assert_eq!(od.extension("x_UsageType"), Some("BoxUsage:m5.large"));
    assert_eq!(
        od.billing_account_id, "012345678901",
        "ids keep leading zeros"
    );
    assert_eq!(
        od.cell(FocusColumn::ChargePeriodStart).as_deref(),
        Some("2025-03-03T10:00:00Z")
    );
    assert_eq!(
        od.sku_price_details
            .as_ref()
            .and_then(|d| d.get("x_Tenancy"))
            .and_then(|v| v.as_str()),
        Some("Shared")
    );
    let tax = run
        .records
        .iter()
        .find(|r| r.charge_category == ChargeCategory::Tax)
        .expect("tax row");
    assert_eq!(tax.pricing_quantity, None);
    assert_eq!(
        tax.extension("x_Operation"),
        None,
        "empty x_ cells are absent, not \"\""
    );
    assert!(
        run.stream
            .notes()
            .iter()
            .all(|n| !n.contains("absent from the input")),
        "AWS's table has all 57 columns"
    );
}

#[test]
fn azure_focuscost_1_0_dates_without_seconds_and_promoted_columns() {
    let v10 = normalize(&fixture("azure_focuscost_1.0.csv")).expect("1.0 normalizes");
    let v10r2 = normalize(&fixture("azure_focuscost_1.0r2.csv")).expect("1.0r2 normalizes");
    assert_eq!(
        v10.records, v10r2.records,
        "1.0 and 1.0r2 differ only in how dates are written"
    );
    let r = &v10.records[0];
    assert_eq!(
        r.cell(FocusColumn::ChargePeriodStart).as_deref(),
        Some("2024-05-02T00:00:00Z")
    );
    assert_eq!(r.billing_currency.as_str(), "EUR");
    assert_eq!(
        r.invoice_id.as_deref(),
        Some("E0600AB1CD"),
        "InvoiceId from x_InvoiceId"
    );
    assert_eq!(
        r.sku_meter.as_deref(),
        Some("D2s v5"),
        "SkuMeter from x_SkuMeterName"
    );
    assert_eq!(
        r.extension("x_InvoiceId"),
        Some("E0600AB1CD"),
        "the x_ column itself still passes through"
    );
    assert_eq!(r.extension("x_BilledCostInUsd"), Some("2.4"));
    assert_eq!(r.extension("x_ResourceGroupName"), Some("rg-web"));
    assert_eq!(
        r.extension("x_SkuMeterId"),
        Some("8a1b2c3d-0000-4e5f-9a8b-123456789abc")
    );
    let notes = v10.stream.notes().join("\n");
    assert!(notes.contains("InvoiceId from x_InvoiceId"), "{notes}");

    let v12 =
        normalize(&fixture("azure_focuscost_1.2-preview.csv")).expect("1.2-preview normalizes");
    let p = &v12.records[0];
    assert_eq!(p.invoice_id.as_deref(), Some("E0600AB1CD"));
    assert_eq!(
        p.pricing_currency.as_ref().map(|c| c.as_str()),
        Some("USD"),
        "a real PricingCurrency is taken as is"
    );
    assert_eq!(
        p.pricing_currency_effective_cost,
        Some(Decimal::from_str("2.4").expect("dec"))
    );
}

#[test]
fn unknown_non_focus_column_becomes_x_prefixed() {
    let run = normalize(
        &repo()
            .join("samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv"),
    )
    .expect("normalizes");
    assert_eq!(run.stream.extension_columns(), vec!["x_Id"]);
}

/// Per CommitmentDiscountId: Σ EffectiveCost of its Usage rows (Used + Unused) equals Σ BilledCost
/// of its Purchase rows, wherever a file has both.
#[test]
fn commitment_discount_invariant() {
    let mut checked = Vec::new();
    for path in focus_files() {
        let run = normalize(&path).expect("normalizes");
        let mut by_id: BTreeMap<String, (Decimal, Decimal, bool, bool)> = BTreeMap::new();
        for r in &run.records {
            let Some(id) = &r.commitment_discount_id else {
                continue;
            };
            let e = by_id.entry(id.to_string()).or_default();
            match r.charge_category {
                ChargeCategory::Usage => {
                    e.0 += r.effective_cost;
                    e.2 = true;
                }
                ChargeCategory::Purchase => {
                    e.1 += r.billed_cost;
                    e.3 = true;
                }
                _ => {}
            }
        }
        for (id, (usage_effective, purchase_billed, has_usage, has_purchase)) in by_id {
            if has_usage && has_purchase {
                assert_eq!(usage_effective, purchase_billed, "{}: {id}", path.display());
                checked.push(
                    path.file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default(),
                );
            }
        }
    }
    checked.sort();
    checked.dedup();
    assert!(
        checked.len() >= 4,
        "the invariant ran on the AWS and Azure fixtures: {checked:?}"
    );

    // The spec's scenarios split purchase and usage into separate files: one hour of the $1.00/hour
    // commitment (purchase scenario 2) is consumed 0.75 Used + 0.25 Unused (usage scenario 3).
    let spec = repo().join("samples/focus/spec-1.2-examples");
    let purchase = normalize(
        &spec.join("commitment_discount_scenarios__commitment_discount_purchase_scenario_2.csv"),
    )
    .expect("ok");
    let usage = normalize(
        &spec.join("commitment_discount_scenarios__commitment_discount_usage_scenario_3.csv"),
    )
    .expect("ok");
    let hourly_fee = purchase.records[0].billed_cost;
    let consumed: Decimal = usage.records.iter().map(|r| r.effective_cost).sum();
    assert_eq!(consumed, hourly_fee);
    assert!(usage.records.iter().any(|r| r.commitment_discount_status
        == Some(CommitmentDiscountStatus::Unused)
        && r.consumed_quantity.is_none()));
}

#[test]
fn hour_30_rolls_over_with_a_note() {
    let path = repo()
        .join("samples/focus/spec-1.2-examples/commitment_discount_scenarios__commitment_discount_purchase_scenario_2.csv");
    let run = normalize(&path).expect("normalizes");
    assert_eq!(
        run.records[2].cell(FocusColumn::ChargePeriodEnd).as_deref(),
        Some("2023-02-02T06:00:00Z")
    );
    assert!(run
        .stream
        .notes()
        .iter()
        .any(|n| n.contains("hour of 24 or more")));
}

fn expect_error(name: &str) -> NormalizeError {
    let path = fixture(name);
    match normalize(&path) {
        Ok(_) => panic!("{name} should fail"),
        Err(e) => {
            assert_eq!(e.file, path.display().to_string());
            e
        }
    }
}

#[test]
fn refund_is_not_a_charge_category() {
    let e = expect_error("invalid_refund_category.csv");
    assert_eq!(e.line, Some(3));
    assert_eq!(e.column.as_deref(), Some("ChargeCategory"));
    assert!(
        matches!(&e.kind, NormalizeErrorKind::InvalidValue(m) if m.contains("`Refund`")),
        "{e}"
    );
}

#[test]
fn non_numeric_cost_names_the_cell() {
    let e = expect_error("invalid_cost_text.csv");
    assert_eq!(e.line, Some(4));
    assert_eq!(e.column.as_deref(), Some("EffectiveCost"));
}

#[test]
fn missing_billed_cost_column() {
    let path = fixture("missing_billed_cost.csv");
    // Without BilledCost the header is not recognised as FOCUS; forced, the dialect names the column.
    let jobs = plan(std::slice::from_ref(&path), Some(Dialect::Focus)).expect("plan");
    let e = match jobs[0].open(&Progress::default()) {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert_eq!(e.line, Some(1));
    assert_eq!(e.column.as_deref(), Some("BilledCost"));
    assert_eq!(e.kind, NormalizeErrorKind::MissingColumn);
}

#[test]
fn header_only_file_gives_no_rows() {
    let run = normalize(&fixture("header_only.csv")).expect("no error");
    assert!(run.records.is_empty());
    assert_eq!(run.stream.source_totals().rows, 0);
}

/// The writers the validator harness checks: CSV metrics keep a decimal point (so a type-inferring
/// reader sees decimals), Parquet writes nulls for mandatory text the source did not have, and a
/// written Parquet file reads back through the FOCUS dialect with the same money.
#[test]
fn output_writers_round_trip() {
    use arrow_array::Array;
    use costkit_core::output::{open_sink, OutputColumns, PendingFile};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let src = repo()
        .join("samples/focus/spec-1.2-examples/commitment_discount_scenarios__commitment_discount_purchase_scenario_1.csv");
    let run = normalize(&src).expect("normalizes");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["out.csv", "out.parquet"] {
        let pending = PendingFile::create(&dir.path().join(name)).expect("pending");
        let mut sink =
            open_sink(&pending, OutputColumns::new(run.stream.extension_columns())).expect("sink");
        for r in &run.records {
            sink.write(r).expect("write");
        }
        assert_eq!(sink.finish().expect("finish"), 1);
        pending.commit().expect("commit");
    }

    let mut rdr = csv::Reader::from_path(dir.path().join("out.csv")).expect("csv");
    let headers = rdr.headers().expect("headers").clone();
    let row = rdr.records().next().expect("a row").expect("row");
    let get = |n: &str| {
        row.get(headers.iter().position(|h| h == n).expect(n))
            .expect("cell")
            .to_string()
    };
    assert_eq!(get("BilledCost"), "8760.0");
    assert_eq!(get("EffectiveCost"), "0.0");
    assert_eq!(get("CommitmentDiscountQuantity"), "8760.0");
    assert_eq!(get("ProviderName"), "");

    let file = std::fs::File::open(dir.path().join("out.parquet")).expect("parquet");
    let batch = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("reader")
        .build()
        .expect("build")
        .next()
        .expect("a batch")
        .expect("batch");
    for col in [
        "ProviderName",
        "BillingAccountId",
        "ServiceName",
        "BillingCurrency",
        "InvoiceIssuerName",
    ] {
        let a = batch.column_by_name(col).expect(col);
        assert_eq!(a.null_count(), 1, "{col} is null, not \"\"");
    }

    let back = normalize(&dir.path().join("out.parquet")).expect("reads back");
    assert_eq!(output_totals(&back.records), output_totals(&run.records));
    assert_eq!(
        back.records[0].charge_period_end,
        run.records[0].charge_period_end
    );
}
