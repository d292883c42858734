//! Azure cost details: every sample and fixture reconciles exactly with its raw cost columns (read
//! here independently with the `csv` crate), the actual/amortized join keeps both totals, and the
//! tricky rows (commitments, marketplace, refunds, tags, units, dates) come out as documented.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use costkit_core::focus::*;
use costkit_core::input::Progress;
use costkit_core::normalize::{azure, plan, Dialect, Job, SourceTotals};
use costkit_core::time::format_timestamp;
use costkit_core::{NormalizeError, NormalizeErrorKind};
use rust_decimal::Decimal;

const EA_ACTUAL: &str = "samples/azure/ea-actual/finops-toolkit_EA_ActualCost_Small.csv";
const EA_EMPTY: &str = "samples/azure/ea-actual/finops-toolkit_EA_NoRows_header-only.csv";
const EA_AMORTIZED: &str = "samples/azure/ea-amortized/finops-toolkit_EA_AmortizedCost_Small.csv";
const EA_GENERIC: &str =
    "samples/azure/ea-export-generic/focus-converters_sample-anonymous-ea-export-dataset.csv";
const TWIN_ACTUAL: &str = "tests/fixtures/azure/ea-twin_ActualCost.csv";
const TWIN_AMORTIZED: &str = "tests/fixtures/azure/ea-twin_AmortizedCost.csv";
const MCA_ACTUAL: &str = "tests/fixtures/azure/mca_ActualCost.csv";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

type Totals = BTreeMap<String, Decimal>;

/// A raw export read without costkit: lower-cased header -> cell, one map per row.
fn raw_rows(p: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::ReaderBuilder::new()
        .from_path(repo(p))
        .expect("open raw");
    let headers: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("raw row");
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(|v| v.trim().to_string()))
                .collect()
        })
        .collect()
}

fn num(s: &str) -> Decimal {
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .expect("raw number")
}

fn cost_of(row: &HashMap<String, String>) -> Decimal {
    let c = ["costinbillingcurrency", "cost", "pretaxcost"]
        .iter()
        .find_map(|k| row.get(*k))
        .expect("cost column");
    num(c)
}

fn currency_of(row: &HashMap<String, String>) -> String {
    ["billingcurrencycode", "billingcurrency"]
        .iter()
        .find_map(|k| row.get(*k))
        .expect("currency")
        .to_uppercase()
}

/// Σ cost per currency over the raw rows `keep` accepts.
fn raw_sum(p: &str, keep: impl Fn(&HashMap<String, String>) -> bool) -> Totals {
    let mut t = Totals::new();
    for row in raw_rows(p).iter().filter(|r| keep(r)) {
        *t.entry(currency_of(row)).or_default() += cost_of(row);
    }
    t.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

/// Amortized rows whose invoice amount is 0: commitment-covered usage and unused commitment.
fn is_commitment_usage(row: &HashMap<String, String>) -> bool {
    let ct = row
        .get("chargetype")
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let pm = row
        .get("pricingmodel")
        .map(|s| s.to_ascii_lowercase().replace(' ', ""))
        .unwrap_or_default();
    ct.starts_with("unused") || (ct == "usage" && (pm == "reservation" || pm == "savingsplan"))
}

struct Out {
    records: Vec<FocusRecord>,
    totals: SourceTotals,
    notes: Vec<String>,
    extensions: Vec<String>,
}

fn run(job: &Job) -> Out {
    let mut s = job.open(&Progress::default()).expect("open");
    let records: Vec<FocusRecord> = s.by_ref().map(|r| r.expect("record")).collect();
    Out {
        records,
        totals: s.source_totals(),
        notes: s.notes(),
        extensions: s
            .extension_columns()
            .iter()
            .map(|t| t.to_string())
            .collect(),
    }
}

fn run_plan(paths: &[&str]) -> Vec<(Job, Out)> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| repo(p)).collect();
    plan(&paths, None)
        .expect("plan")
        .into_iter()
        .map(|j| (j.clone(), run(&j)))
        .collect()
}

fn single(paths: &[&str]) -> (Job, Out) {
    let mut v = run_plan(paths);
    assert_eq!(v.len(), 1, "expected one job");
    v.remove(0)
}

fn sum(records: &[FocusRecord], f: impl Fn(&FocusRecord) -> Decimal) -> Totals {
    let mut t = Totals::new();
    for r in records {
        *t.entry(r.billing_currency.to_string()).or_default() += f(r);
    }
    t.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

fn totals(t: &costkit_core::money::CurrencyTotals) -> Totals {
    t.normalized()
        .0
        .iter()
        .map(|(c, v)| (c.to_string(), *v))
        .collect()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn ext<'a>(r: &'a FocusRecord, name: &str) -> Option<&'a str> {
    r.extensions
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// FOCUS rules every Azure record must keep, whatever the row.
fn assert_focus_rules(records: &[FocusRecord]) {
    for r in records {
        assert!(!r.billing_account_id.is_empty() && !r.service_name.is_empty());
        assert_eq!(
            (r.provider_name.as_str(), r.host_provider_name.as_str()),
            ("Microsoft", "Microsoft")
        );
        assert!(!r.publisher_name.is_empty() && !r.invoice_issuer_name.is_empty());
        assert!(r.charge_period_end > r.charge_period_start);
        assert!(r.billing_period_end > r.billing_period_start);
        assert!(r.billing_currency.is_iso4217_shaped());
        if let (Some(p), Some(q)) = (r.list_unit_price, r.pricing_quantity) {
            assert_eq!(
                (p * q).normalize(),
                r.list_cost.normalize(),
                "ListCost = ListUnitPrice x PricingQuantity: {r:?}"
            );
        }
        if let (Some(p), Some(q)) = (r.contracted_unit_price, r.pricing_quantity) {
            assert_eq!(
                (p * q).normalize(),
                r.contracted_cost.normalize(),
                "ContractedCost rule: {r:?}"
            );
        }
        if r.charge_category == ChargeCategory::Tax {
            assert!(r.pricing_quantity.is_none() && r.pricing_category.is_none());
        }
        if r.commitment_discount_status.is_some() {
            assert_eq!(r.charge_category, ChargeCategory::Usage);
        }
        if r.commitment_discount_status == Some(CommitmentDiscountStatus::Unused) {
            assert!(r.consumed_quantity.is_none() && r.consumed_unit.is_none());
        }
        if let Some(id) = &r.resource_id {
            assert_eq!(id.as_str(), id.to_ascii_lowercase());
        }
        assert!(r.tags.0.keys().all(|k| !k.is_empty()));
    }
}

#[test]
fn ea_actual_sample_reconciles_and_maps_rows() {
    let (job, out) = single(&[EA_ACTUAL]);
    assert_eq!(job.dialect, Dialect::AzureActual);
    assert_eq!(out.records.len(), raw_rows(EA_ACTUAL).len());
    let billed = raw_sum(EA_ACTUAL, |_| true);
    assert_eq!(billed.get("USD"), Some(&d("8.5450077867419368")));
    assert_eq!(sum(&out.records, |r| r.billed_cost), billed);
    assert_eq!(totals(&out.totals.billed), billed);
    // Actual alone: EffectiveCost is what was paid.
    assert_eq!(sum(&out.records, |r| r.effective_cost), billed);
    assert_eq!(out.totals.effective, None);
    assert_eq!(out.totals.rows, 11);
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("actual cost only:") && n.contains("1 reservation")),
        "{:?}",
        out.notes
    );
    assert_focus_rules(&out.records);

    let purchase = &out.records[0];
    assert_eq!(purchase.charge_category, ChargeCategory::Purchase);
    assert_eq!(purchase.charge_frequency, Some(ChargeFrequency::Recurring));
    assert_eq!(purchase.pricing_category, Some(PricingCategory::Standard));
    assert_eq!(
        purchase.commitment_discount_category,
        Some(CommitmentDiscountCategory::Usage)
    );
    assert_eq!(
        purchase.commitment_discount_type.as_deref(),
        Some("Reservation")
    );
    assert_eq!(
        purchase.commitment_discount_name.as_deref(),
        Some("VM_RI_06-21-2023_18-56")
    );
    assert_eq!(purchase.commitment_discount_status, None);
    assert_eq!(purchase.service_name, "Azure Reservations");
    assert_eq!(purchase.billing_account_type.as_deref(), Some("Enrollment"));
    assert_eq!(
        (
            purchase.billed_cost,
            purchase.list_cost,
            purchase.contracted_cost
        ),
        (d("3.25"), d("3.25"), d("3.25"))
    );

    let blob = &out.records[1];
    assert_eq!(
        format_timestamp(&blob.charge_period_start),
        "2023-09-04T00:00:00Z"
    );
    assert_eq!(
        format_timestamp(&blob.charge_period_end),
        "2023-09-05T00:00:00Z"
    );
    assert_eq!(
        format_timestamp(&blob.billing_period_start),
        "2023-09-01T00:00:00Z"
    );
    assert_eq!(
        format_timestamp(&blob.billing_period_end),
        "2023-10-01T00:00:00Z"
    );
    assert_eq!(blob.billing_account_id, "8611537");
    assert_eq!(
        blob.sub_account_id.as_deref(),
        Some("ed570627-0265-4620-bb42-bae06bcfa914")
    );
    assert_eq!(blob.sub_account_type.as_deref(), Some("Subscription"));
    assert_eq!(
        blob.resource_type.as_deref(),
        Some("microsoft.storage/storageaccounts")
    );
    assert_eq!(
        (blob.service_name.as_str(), blob.service_category),
        ("Storage Accounts", ServiceCategory::Storage)
    );
    assert_eq!(
        (blob.region_id.as_deref(), blob.region_name.as_deref()),
        (Some("eastus2"), Some("East US 2"))
    );
    // UnitOfMeasure `10K`: block 10000 of Units.
    assert_eq!(blob.consumed_quantity, Some(d("0.0004")));
    assert_eq!(blob.pricing_quantity, Some(d("0.00000004")));
    assert_eq!(blob.pricing_unit.as_deref(), Some("Units"));
    assert_eq!(blob.list_unit_price, Some(d("1000")));
    assert_eq!(blob.list_cost, d("0.00004"));
    assert_eq!(ext(blob, "x_PricingBlockSize"), Some("10000"));
    assert_eq!(ext(blob, "x_PricingUnitDescription"), Some("10K"));
    // EA tags come without braces.
    assert_eq!(blob.tags.get("env"), Some(&TagValue::Str("prod".into())));
    assert_eq!(
        blob.tags.get("databricks-environment"),
        Some(&TagValue::Str("true".into()))
    );
    assert_eq!(blob.tags.0.len(), 5);
    assert_eq!(
        ext(blob, "x_ResourceGroupName"),
        Some("databricks-rg-PeskyData-s6taefbli5c5e")
    );
    assert_eq!(ext(blob, "x_MeterCategory"), Some("Storage"));
    assert_eq!(ext(blob, "x_MeterSubCategory"), Some("Tiered Block Blob"));
    assert_eq!(
        ext(blob, "x_MeterId"),
        Some("aaaef613-418a-4a5f-af72-d224d7dee2c6")
    );
    assert_eq!(ext(blob, "x_PublisherType"), Some("Azure"));
    assert_eq!(ext(blob, "x_CostCenter"), Some("ACM9000"));
    for name in [
        "x_ResourceGroupName",
        "x_MeterCategory",
        "x_MeterSubCategory",
        "x_MeterId",
        "x_PublisherType",
        "x_CostCenter",
    ] {
        assert!(out.extensions.iter().any(|e| e == name), "{name} declared");
    }

    let keyvault = out
        .records
        .iter()
        .find(|r| r.service_name == "Key Vault")
        .expect("key vault row");
    assert_eq!(keyvault.region_id, None, "no ResourceLocation -> no region");
    assert_eq!(
        keyvault.resource_id.as_deref(),
        Some("/subscriptions/64e355d7-997c-491d-b0c1-8414dccfcf42/resourcegroups/ftk-micflan-darkslate2/providers/microsoft.keyvault/vaults/ftk-micfla-5pd7gdo37oozc")
    );
    let disk = out
        .records
        .iter()
        .find(|r| r.resource_type.as_deref() == Some("microsoft.compute/disks"))
        .expect("disk");
    assert_eq!(
        disk.tags.get("org"),
        Some(&TagValue::Bool(true)),
        "empty tag value -> true"
    );
}

#[test]
fn header_only_export_yields_nothing() {
    let (job, out) = single(&[EA_EMPTY]);
    assert_eq!(job.dialect, Dialect::AzureActual);
    assert!(out.records.is_empty());
    assert!(out.totals.billed.0.is_empty());
    assert_eq!(out.totals.rows, 0);
}

#[test]
fn ea_amortized_sample_reconciles() {
    let job = Job {
        dialect: Dialect::AzureAmortized,
        inputs: vec![repo(EA_AMORTIZED)],
        amortized: Vec::new(),
    };
    let out = run(&job);
    assert_eq!(out.records.len(), 28);
    let effective = raw_sum(EA_AMORTIZED, |_| true);
    let billed = raw_sum(EA_AMORTIZED, |r| !is_commitment_usage(r));
    assert_eq!(
        effective.get("USD"),
        Some(&d("16.296932136636644627485419"))
    );
    assert_eq!(sum(&out.records, |r| r.effective_cost), effective);
    assert_eq!(out.totals.effective.as_ref().map(totals), Some(effective));
    assert_eq!(sum(&out.records, |r| r.billed_cost), billed);
    assert_eq!(totals(&out.totals.billed), billed);
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("amortized cost only:")),
        "{:?}",
        out.notes
    );
    assert_focus_rules(&out.records);

    let ri = &out.records[0];
    assert_eq!(
        (ri.billed_cost, ri.effective_cost),
        (Decimal::ZERO, d("0.493152"))
    );
    assert_eq!(
        ri.commitment_discount_status,
        Some(CommitmentDiscountStatus::Used)
    );
    assert_eq!(ri.commitment_discount_type.as_deref(), Some("Reservation"));
    assert_eq!(ri.pricing_category, Some(PricingCategory::Committed));
    assert_eq!(ri.service_name, "Virtual Machine Scale Sets");
    let sp = &out.records[1];
    assert_eq!(
        (sp.billed_cost, sp.effective_cost),
        (Decimal::ZERO, d("0.006000000468"))
    );
    assert_eq!(
        sp.commitment_discount_category,
        Some(CommitmentDiscountCategory::Spend)
    );
    assert_eq!(sp.commitment_discount_type.as_deref(), Some("Savings Plan"));
    assert_eq!(
        sp.commitment_discount_status,
        Some(CommitmentDiscountStatus::Used)
    );
    let on_demand = &out.records[2];
    assert_eq!(on_demand.billed_cost, on_demand.effective_cost);
}

#[test]
fn generic_ea_export_in_cad_reconciles() {
    let (job, out) = single(&[EA_GENERIC]);
    assert_eq!(job.dialect, Dialect::AzureActual);
    let billed = raw_sum(EA_GENERIC, |_| true);
    assert_eq!(billed.keys().collect::<Vec<_>>(), vec!["CAD"]);
    assert_eq!(billed.get("CAD"), Some(&d("1.26136926505726")));
    assert_eq!(sum(&out.records, |r| r.billed_cost), billed);
    assert_eq!(totals(&out.totals.billed), billed);
    assert_eq!(out.records.len(), 27);
    assert_focus_rules(&out.records);
    // E notation: 5.64902E-05.
    assert_eq!(out.records[1].billed_cost, d("0.0000564902"));
    assert_eq!(out.records[1].billing_currency.as_str(), "CAD");
    for r in &out.records {
        assert_eq!(r.tags.get("tagA"), Some(&TagValue::Str("valueA".into())));
        assert_eq!(r.tags.0.len(), 3);
        assert_eq!(
            format_timestamp(&r.charge_period_start),
            "2023-09-02T00:00:00Z"
        );
        assert_eq!(
            format_timestamp(&r.billing_period_end),
            "2023-10-01T00:00:00Z"
        );
    }
    let spot = &out.records[2];
    assert_eq!(spot.pricing_category, Some(PricingCategory::Dynamic));
    assert_eq!(spot.region_id.as_deref(), Some("centralus"));
}

#[test]
fn real_ea_pair_is_joined_and_keeps_both_totals() {
    // Same enrollment and period: plan() pairs them, although the amortized sample holds rows the
    // actual sample lacks (they are excerpts, not complete twins).
    let (job, out) = single(&[EA_ACTUAL, EA_AMORTIZED]);
    assert_eq!(job.dialect, Dialect::AzureActual);
    assert_eq!(job.inputs, vec![repo(EA_ACTUAL)]);
    assert_eq!(job.amortized, vec![repo(EA_AMORTIZED)]);
    let billed = raw_sum(EA_ACTUAL, |_| true);
    let effective = raw_sum(EA_AMORTIZED, |_| true);
    assert_eq!(sum(&out.records, |r| r.billed_cost), billed);
    assert_eq!(sum(&out.records, |r| r.effective_cost), effective);
    assert_eq!(totals(&out.totals.billed), billed);
    assert_eq!(out.totals.effective.as_ref().map(totals), Some(effective));
    // 28 amortized rows + the reservation purchase only the actual export has.
    assert_eq!(out.records.len(), 29);
    assert_eq!(out.totals.rows, 11 + 28, "source rows read on both sides");
    let purchase = out
        .records
        .iter()
        .find(|r| r.charge_category == ChargeCategory::Purchase)
        .expect("purchase");
    assert_eq!(
        (purchase.billed_cost, purchase.effective_cost),
        (d("3.25"), Decimal::ZERO)
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("10 of 11 actual rows matched")),
        "{:?}",
        out.notes
    );
    assert!(
        out.notes.iter().any(|n| n.starts_with("16 amortized rows")),
        "{:?}",
        out.notes
    );
    assert_focus_rules(&out.records);
}

#[test]
fn twin_fixture_join_splits_billed_and_effective() {
    let (job, out) = single(&[TWIN_AMORTIZED, TWIN_ACTUAL]);
    assert_eq!((job.inputs.len(), job.amortized.len()), (1, 1));
    let billed = raw_sum(TWIN_ACTUAL, |_| true);
    let effective = raw_sum(TWIN_AMORTIZED, |_| true);
    assert_eq!(billed.get("USD"), Some(&d("5.89008")));
    assert_eq!(effective.get("USD"), Some(&d("2.85608")));
    assert_eq!(sum(&out.records, |r| r.billed_cost), billed);
    assert_eq!(sum(&out.records, |r| r.effective_cost), effective);
    assert_eq!(totals(&out.totals.billed), billed);
    assert_eq!(out.totals.effective.as_ref().map(totals), Some(effective));
    assert_eq!(out.records.len(), 7);
    assert!(
        !out.notes.iter().any(|n| n.contains("had no twin")),
        "{:?}",
        out.notes
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("5 of 6 actual rows matched")),
        "{:?}",
        out.notes
    );
    assert!(
        out.notes.iter().any(|n| n.contains("2 tag keys repeated")),
        "{:?}",
        out.notes
    );
    assert_focus_rules(&out.records);

    let by = |day: &str, status: Option<CommitmentDiscountStatus>, cat: ChargeCategory| {
        out.records
            .iter()
            .find(|r| {
                format_timestamp(&r.charge_period_start).starts_with(day)
                    && r.commitment_discount_status == status
                    && r.charge_category == cat
            })
            .expect("row")
    };
    let purchase = by("2023-09-01", None, ChargeCategory::Purchase);
    assert_eq!(
        (purchase.billed_cost, purchase.effective_cost),
        (d("3.25"), Decimal::ZERO)
    );
    let used = by(
        "2023-09-04",
        Some(CommitmentDiscountStatus::Used),
        ChargeCategory::Usage,
    );
    assert_eq!(
        (used.billed_cost, used.effective_cost),
        (Decimal::ZERO, d("0.108"))
    );
    assert_eq!(used.consumed_quantity, Some(d("24")));
    assert_eq!(used.contracted_cost, d("0.2496"));
    assert_eq!(used.tags.get("env"), Some(&TagValue::Str("test".into())));
    assert_eq!(used.tags.0.len(), 1, "Env repeats env");
    let unused = by(
        "2023-09-05",
        Some(CommitmentDiscountStatus::Unused),
        ChargeCategory::Usage,
    );
    assert_eq!(
        (unused.billed_cost, unused.effective_cost),
        (Decimal::ZERO, d("0.018"))
    );
    assert_eq!(
        (unused.consumed_quantity, unused.pricing_quantity),
        (None, Some(d("4")))
    );
    assert_eq!(
        unused.commitment_discount_id,
        purchase.commitment_discount_id
    );
    assert_eq!(unused.pricing_category, Some(PricingCategory::Committed));
    let used2 = by(
        "2023-09-05",
        Some(CommitmentDiscountStatus::Used),
        ChargeCategory::Usage,
    );
    assert_eq!(
        (used2.billed_cost, used2.effective_cost),
        (Decimal::ZERO, d("0.09"))
    );
    // Per commitment: EffectiveCost of its usage = what the fixture amortized for these days.
    let id = purchase.commitment_discount_id.clone();
    let eff: Decimal = out
        .records
        .iter()
        .filter(|r| r.commitment_discount_id == id && r.charge_category == ChargeCategory::Usage)
        .map(|r| r.effective_cost)
        .sum();
    assert_eq!(eff, d("0.216"));
    let vm = out
        .records
        .iter()
        .find(|r| r.billed_cost == d("2.64"))
        .expect("on-demand vm");
    assert_eq!(vm.effective_cost, d("2.64"));
    let blobs: Vec<&FocusRecord> = out
        .records
        .iter()
        .filter(|r| r.billed_cost == d("0.00004"))
        .collect();
    assert_eq!(blobs.len(), 2, "duplicate identities pair one to one");
}

#[test]
fn twin_fixtures_alone_follow_the_single_source_rules() {
    let actual = run(&Job {
        dialect: Dialect::AzureActual,
        inputs: vec![repo(TWIN_ACTUAL)],
        amortized: Vec::new(),
    });
    let billed = raw_sum(TWIN_ACTUAL, |_| true);
    assert_eq!(sum(&actual.records, |r| r.billed_cost), billed);
    assert_eq!(sum(&actual.records, |r| r.effective_cost), billed);
    let amortized = run(&Job {
        dialect: Dialect::AzureAmortized,
        inputs: vec![repo(TWIN_AMORTIZED)],
        amortized: Vec::new(),
    });
    assert_eq!(
        sum(&amortized.records, |r| r.effective_cost),
        raw_sum(TWIN_AMORTIZED, |_| true)
    );
    let derived = raw_sum(TWIN_AMORTIZED, |r| !is_commitment_usage(r));
    assert_eq!(derived.get("USD"), Some(&d("2.64008")));
    assert_eq!(sum(&amortized.records, |r| r.billed_cost), derived);
    assert_eq!(totals(&amortized.totals.billed), derived);
}

#[test]
fn mca_fixture_maps_billing_profile_marketplace_refund_and_pricing_currency() {
    let (job, out) = single(&[MCA_ACTUAL]);
    assert_eq!(job.dialect, Dialect::AzureActual);
    let billed = raw_sum(MCA_ACTUAL, |_| true);
    assert_eq!(billed.get("EUR"), Some(&d("-35.855408")));
    assert_eq!(sum(&out.records, |r| r.billed_cost), billed);
    assert_eq!(totals(&out.totals.billed), billed);
    assert_eq!(out.records.len(), 6);
    assert_focus_rules(&out.records);

    let vm = &out.records[0];
    assert_eq!(vm.billing_account_id, "ABCD-EF12-GH3-IJK");
    assert_eq!(vm.billing_account_name.as_deref(), Some("Contoso EU"));
    assert_eq!(vm.billing_account_type.as_deref(), Some("Billing Profile"));
    assert_eq!(
        ext(vm, "x_BillingAccountId"),
        Some(
            "1a2b3c4d-0000-1111-2222-333344445555:6e7f8a9b-0000-1111-2222-333344445555_2019-05-31"
        )
    );
    assert_eq!(
        format_timestamp(&vm.charge_period_start),
        "2024-03-05T00:00:00Z"
    );
    assert_eq!(
        format_timestamp(&vm.billing_period_end),
        "2024-04-01T00:00:00Z"
    );
    assert_eq!(vm.invoice_id.as_deref(), Some("G000333444"));
    assert_eq!(vm.sku_id.as_deref(), Some("DZH318Z0BQ4L"));
    assert_eq!(
        vm.pricing_category,
        Some(PricingCategory::Standard),
        "`On Demand` with a space"
    );
    assert_eq!(
        vm.pricing_currency.as_ref().map(|c| c.as_str()),
        Some("USD")
    );
    assert_eq!(vm.pricing_currency_effective_cost, Some(d("2.0736")));
    assert_eq!(vm.pricing_currency_list_unit_price, Some(d("0.096")));
    assert_eq!(vm.list_unit_price, Some(d("0.08832")));
    assert_eq!(vm.list_cost, d("2.11968"), "= paygCostInBillingCurrency");
    assert_eq!(vm.contracted_cost, d("1.907712"));
    assert_eq!(
        (vm.region_id.as_deref(), vm.region_name.as_deref()),
        (Some("westeurope"), Some("West Europe"))
    );
    assert_eq!(vm.tags.get("team"), Some(&TagValue::Str("data".into())));
    assert_eq!(vm.tags.0.len(), 2, "Team repeats team");
    assert!(
        out.notes.iter().any(|n| n.contains("1 tag keys repeated")),
        "{:?}",
        out.notes
    );

    let queue = &out.records[1];
    assert_eq!(queue.pricing_quantity, Some(d("0.00035")));
    assert_eq!(queue.list_cost, d("0.01288"));
    assert!(queue.tags.is_empty());

    let saas = &out.records[2];
    assert_eq!(saas.charge_category, ChargeCategory::Purchase);
    assert_eq!(saas.charge_frequency, Some(ChargeFrequency::Recurring));
    assert_eq!(
        saas.billed_cost,
        d("82.754"),
        "Azure Marketplace is invoiced by Microsoft"
    );
    assert_eq!(saas.publisher_name, "Twilio SendGrid");
    assert_eq!(saas.service_provider_name, "Twilio SendGrid");
    assert_eq!(saas.host_provider_name, "Microsoft");
    assert_eq!(saas.invoice_issuer_name, "Microsoft");
    assert_eq!(saas.commitment_discount_id, None);
    assert_eq!(ext(saas, "x_PublisherType"), Some("Marketplace"));

    let sp = &out.records[3];
    assert_eq!(
        sp.commitment_discount_status,
        Some(CommitmentDiscountStatus::Used)
    );
    assert_eq!(
        sp.commitment_discount_category,
        Some(CommitmentDiscountCategory::Spend)
    );
    assert_eq!(
        sp.resource_id, vm.resource_id,
        "ARM ids compare lower-cased"
    );
    assert_eq!(sp.billed_cost, Decimal::ZERO);

    let refund = &out.records[4];
    assert_eq!(
        refund.charge_category,
        ChargeCategory::Purchase,
        "a reservation refund stays a purchase"
    );
    assert_eq!(refund.billed_cost, d("-120.52"));
    assert_eq!(refund.effective_cost, d("-120.52"));
    assert_eq!(refund.charge_frequency, Some(ChargeFrequency::OneTime));
    assert_eq!(
        refund.commitment_discount_type.as_deref(),
        Some("Reservation")
    );
    assert_eq!(refund.pricing_category, Some(PricingCategory::Standard));
    assert_eq!(
        refund.charge_class, None,
        "refunded within the billing period"
    );

    let rounding = &out.records[5];
    assert_eq!(rounding.charge_category, ChargeCategory::Adjustment);
    assert_eq!(
        (rounding.sub_account_id.as_ref(), rounding.pricing_category),
        (None, None)
    );
    assert_eq!(
        (rounding.list_cost, rounding.contracted_cost),
        (d("-0.01"), d("-0.01"))
    );
}

#[test]
fn exports_of_different_accounts_or_periods_are_not_joined() {
    let jobs = run_plan(&[MCA_ACTUAL, EA_AMORTIZED, EA_EMPTY]);
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|(j, _)| j.amortized.is_empty()));
    let dialects: Vec<Dialect> = jobs.iter().map(|(j, _)| j.dialect).collect();
    assert_eq!(
        dialects
            .iter()
            .filter(|d| **d == Dialect::AzureAmortized)
            .count(),
        1
    );
    let grouped = azure::group_jobs(
        vec![repo(TWIN_ACTUAL)],
        vec![repo(EA_AMORTIZED), repo(TWIN_AMORTIZED)],
    );
    // All three are enrollment 8611537, September 2023: the actual file takes both amortized files.
    assert_eq!(grouped.len(), 1);
    assert_eq!(grouped[0].amortized.len(), 2);
}

fn open_err(path: &str) -> NormalizeError {
    let job = Job {
        dialect: Dialect::AzureActual,
        inputs: vec![repo(path)],
        amortized: Vec::new(),
    };
    match job.open(&Progress::default()) {
        Err(e) => e,
        Ok(mut s) => s.find_map(Result::err).expect("an error"),
    }
}

#[test]
fn errors_name_file_line_and_column() {
    let e = open_err("tests/fixtures/azure/err_bad-cost.csv");
    assert!(e.file.ends_with("err_bad-cost.csv"), "{e}");
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(4), Some("Cost")),
        "{e}"
    );
    assert!(
        matches!(e.kind, NormalizeErrorKind::InvalidValue(ref m) if m.contains("n/a")),
        "{e}"
    );

    let e = open_err("tests/fixtures/azure/err_missing-cost-column.csv");
    assert_eq!(
        (e.line, e.column.as_deref(), &e.kind),
        (
            Some(1),
            Some("CostInBillingCurrency"),
            &NormalizeErrorKind::MissingColumn
        )
    );

    let e = open_err("tests/fixtures/azure/err_bad-tags.csv");
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(3), Some("Tags")),
        "{e}"
    );

    let e = open_err("tests/fixtures/azure/err_bad-date.csv");
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(2), Some("Date")),
        "{e}"
    );
}

#[test]
fn a_bad_row_in_the_buffered_actual_side_fails_the_join_with_its_position() {
    let job = Job {
        dialect: Dialect::AzureActual,
        inputs: vec![repo("tests/fixtures/azure/err_bad-cost.csv")],
        amortized: vec![repo(TWIN_AMORTIZED)],
    };
    let e = match job.open(&Progress::default()) {
        Err(e) => e,
        Ok(mut s) => s.find_map(Result::err).expect("an error"),
    };
    assert_eq!(
        (e.line, e.column.as_deref()),
        (Some(4), Some("Cost")),
        "{e}"
    );
}
