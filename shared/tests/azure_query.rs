//! Azure Cost Management Query API pages -> FOCUS: detection, the actual/amortized join, exact
//! numbers read from the JSON text, and errors that name the row and column.
//!
//! The fixture (`tests/fixtures/azure-cm-query/`) has the documented response shape (`id`, `name`,
//! `type`, `properties.nextLink`, `properties.columns`, `properties.rows`) of two ActualCost pages
//! and one AmortizedCost page, grouped by ServiceName and SubscriptionId.

use std::path::{Path, PathBuf};

use costkit_core::focus::{ChargeCategory, ServiceCategory};
use costkit_core::input::Progress;
use costkit_core::normalize::azure_query::billing_account_of;
use costkit_core::normalize::{plan, Dialect};
use costkit_core::FocusRecord;
use rust_decimal::Decimal;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/azure-cm-query")
        .join(name)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn read(
    path: &Path,
) -> (
    Vec<FocusRecord>,
    costkit_core::normalize::SourceTotals,
    Vec<String>,
) {
    let jobs = plan(&[path.to_path_buf()], None).expect("plan");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].dialect,
        Dialect::AzureCostQuery,
        "detected from the envelope"
    );
    let mut s = jobs[0].open(&Progress::default()).expect("open");
    let recs: Vec<FocusRecord> = s.by_ref().collect::<Result<_, _>>().expect("records");
    (recs, s.source_totals(), s.notes())
}

#[test]
fn actual_and_amortized_pages_join_exactly() {
    let (recs, totals, notes) = read(&fixture("subscription-2024-09.json"));
    // 5 actual rows and 6 amortized rows over 6 distinct (day, service, subscription, currency).
    assert_eq!(recs.len(), 6);
    let sum = |cur: &str, f: fn(&FocusRecord) -> Decimal| -> Decimal {
        recs.iter()
            .filter(|r| r.billing_currency.as_str() == cur)
            .map(f)
            .sum()
    };
    // Σ BilledCost = Σ actual Cost, Σ EffectiveCost = Σ amortized Cost, to the last digit (the
    // 18-digit cost would not survive a double).
    assert_eq!(sum("USD", |r| r.billed_cost), dec("1217.8875221557520243"));
    assert_eq!(sum("USD", |r| r.effective_cost), dec("62.6418432545174565"));
    assert_eq!(sum("EUR", |r| r.billed_cost), dec("3.25"));
    assert_eq!(totals.billed.get("USD"), dec("1217.8875221557520243"));
    assert_eq!(
        totals.effective.as_ref().map(|e| e.get("USD")),
        Some(dec("62.6418432545174565"))
    );
    assert_eq!(totals.rows, 11);

    let vm1 = recs
        .iter()
        .find(|r| {
            r.service_name.as_str() == "Virtual Machines"
                && r.charge_period_start.to_rfc3339().starts_with("2024-09-01")
        })
        .expect("VM on the 1st");
    assert_eq!(vm1.billed_cost, dec("12.3456789012345678"));
    assert_eq!(vm1.effective_cost, dec("10.1"));
    assert_eq!(
        vm1.billing_account_id.as_str(),
        "00000000-0000-0000-0000-000000000001"
    );
    assert_eq!(
        vm1.sub_account_id.as_ref().map(|s| s.as_str()),
        Some("00000000-0000-0000-0000-00000000000a")
    );
    assert_eq!(vm1.provider_name.as_str(), "Microsoft");
    assert_eq!(vm1.service_category, ServiceCategory::Compute);
    assert_eq!(vm1.charge_category, ChargeCategory::Usage);
    assert_eq!(
        vm1.billing_period_start.to_rfc3339(),
        "2024-09-01T00:00:00+00:00"
    );
    assert_eq!(
        vm1.charge_period_end.to_rfc3339(),
        "2024-09-02T00:00:00+00:00"
    );

    // Amortized-only (covered usage): BilledCost 0.
    let covered = recs
        .iter()
        .find(|r| {
            r.service_name.as_str() == "Virtual Machines"
                && r.charge_period_start.to_rfc3339().starts_with("2024-09-03")
        })
        .expect("VM on the 3rd");
    assert_eq!(covered.billed_cost, Decimal::ZERO);
    assert_eq!(covered.effective_cost, dec("7"));
    assert!(
        notes.iter().any(|n| n.contains("1 only in the amortized")),
        "{notes:?}"
    );
}

#[test]
fn scopes_name_their_billing_account() {
    assert_eq!(
        billing_account_of("/providers/Microsoft.Billing/billingAccounts/8611537/departments/12")
            .as_deref(),
        Some("8611537")
    );
    assert_eq!(
        billing_account_of("/subscriptions/abc/resourceGroups/rg").as_deref(),
        Some("abc")
    );
    assert_eq!(
        billing_account_of("/providers/Microsoft.Management/managementGroups/mg1").as_deref(),
        Some("mg1")
    );
    assert_eq!(billing_account_of("/providers/Other/x"), None);
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("pages.json");
    std::fs::write(&p, text).expect("write");
    p
}

const COLS: &str = r#"[{"name":"Cost","type":"Number"},{"name":"UsageDate","type":"Number"},{"name":"ServiceName","type":"String"},{"name":"Currency","type":"String"}]"#;

fn page(kind: &str, rows: &str) -> String {
    format!(
        r#"{{"cost_management_query":{{"type":"{kind}","scope":"/subscriptions/s1"}},"response":{{"properties":{{"nextLink":null,"columns":{COLS},"rows":{rows}}}}}}}"#
    )
}

#[test]
fn bad_pages_fail_naming_the_row_and_column() {
    let dir = tempfile::tempdir().expect("dir");
    let open_err = |text: String| {
        let p = write(dir.path(), &text);
        let jobs = plan(&[p], None).expect("plan");
        match jobs[0].open(&Progress::default()) {
            Ok(s) => s.collect::<Result<Vec<_>, _>>().expect_err("error"),
            Err(e) => e,
        }
    };
    let e = open_err(format!(
        "[{}]",
        page(
            "ActualCost",
            r#"[[1,20240901,"Storage","USD"],["abc",20240902,"Storage","USD"]]"#
        )
    ));
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.column.as_deref(), Some("Cost"), "{e}");

    let e = open_err(format!(
        "[{},{}]",
        page("ActualCost", r#"[[1,20240901,"Storage","USD"]]"#),
        page("ActualCost", r#"[[1,20240901,"Storage","USD"]]"#)
    ));
    assert!(
        e.to_string().contains("appear twice"),
        "a page saved twice is refused: {e}"
    );

    let e = open_err(format!("[{}]", page("Forecast", "[]")));
    assert!(e.to_string().contains("`Forecast`"), "{e}");

    let e = open_err(format!(
        "[{}]",
        page("ActualCost", r#"[[1,"2024-13-01","Storage","USD"]]"#)
    ));
    assert_eq!(e.column.as_deref(), Some("UsageDate"), "{e}");
}
