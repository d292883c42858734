//! Google Cloud Billing budget notifications (Pub/Sub) as findings, on the documented payload.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use chrono::{TimeZone, Utc};
use costkit_core::budget::gcp_notification::{
    BudgetNotification, BudgetNotificationError, ThresholdKind,
};
use costkit_core::flow::messages::{FindingKind, Message, Severity};
use costkit_core::money::Currency;
use rust_decimal::Decimal;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/gcp/budget")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn attrs(name: &str) -> BTreeMap<String, String> {
    serde_json::from_slice(&fixture(name)).expect("attributes JSON")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 20, 16, 5, 0)
        .single()
        .expect("time")
}

#[test]
fn the_documented_message_becomes_a_critical_budget_finding_with_exact_money() {
    let n = BudgetNotification::parse(
        &fixture("documented.json"),
        &attrs("documented.attributes.json"),
    )
    .expect("documented payload");
    assert_eq!(n.budget_name, "name-of-budget");
    assert_eq!(n.budget_id, "de72f49d-779b-4945-a127-4d6ce8def0bb");
    assert_eq!(n.billing_account_id, "01D4EE-079462-DFD6EC");
    assert_eq!(n.cost_amount, dec("100.01"));
    assert_eq!(n.budget_amount, dec("100"));
    assert_eq!(n.currency, Currency::new("USD"));
    assert_eq!(n.budget_amount_type.as_deref(), Some("SPECIFIED_AMOUNT"));
    assert_eq!(
        n.cost_interval_start,
        Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
            .single()
            .expect("t")
    );
    assert_eq!(n.threshold, Some((ThresholdKind::Actual, dec("1"))));

    let f = n.finding(now()).expect("a crossed threshold is a finding");
    assert_eq!(f.kind, FindingKind::BudgetAlert);
    assert_eq!(f.severity, Severity::Critical, "100% of actual spend");
    assert_eq!(f.amount, Some(dec("100.01")));
    assert_eq!(f.currency, Some(Currency::new("USD")));
    assert_eq!(
        f.id,
        "gcp-budget:01D4EE-079462-DFD6EC:de72f49d-779b-4945-a127-4d6ce8def0bb:2019-01-01T00:00:00Z:actual:100%"
    );
    assert_eq!(
        f.scope.get("budget").map(String::as_str),
        Some("name-of-budget")
    );
    assert_eq!(
        f.scope.get("account").map(String::as_str),
        Some("01D4EE-079462-DFD6EC")
    );
    assert!(f.summary.contains("100.01 USD"), "{}", f.summary);
    assert!(f.summary.contains("budget of 100.00 USD"), "{}", f.summary);
    assert_eq!(f.detail["cost_amount"], "100.01");

    // The notify step receives it as a queue message; it survives the JSON round trip exactly.
    let msg = Message::Finding(f.clone());
    let back = Message::from_json(&msg.to_json()).expect("round trip");
    assert_eq!(back, msg);
    assert_eq!(msg.dedup_id(), f.id);
}

#[test]
fn a_push_envelope_with_a_forecast_crossing_in_euro() {
    let env: serde_json::Value =
        serde_json::from_slice(&fixture("push-envelope.json")).expect("envelope");
    let data = base64::engine::general_purpose::STANDARD
        .decode(env["message"]["data"].as_str().expect("data"))
        .expect("base64");
    let attributes: BTreeMap<String, String> =
        serde_json::from_value(env["message"]["attributes"].clone()).expect("attributes");
    let n = BudgetNotification::parse(&data, &attributes).expect("parse");
    assert_eq!(n.threshold, Some((ThresholdKind::Forecasted, dec("0.9"))));
    assert_eq!(n.cost_amount, dec("1157.33"));
    assert_eq!(n.budget_amount, dec("1500"));
    let f = n.finding(now()).expect("finding");
    assert_eq!(f.severity, Severity::Warning, "a forecast is a warning");
    assert!(f.id.ends_with(":forecasted:90%"), "{}", f.id);
    assert!(f.summary.contains("90% = 1350.00 EUR"), "{}", f.summary);
    assert_eq!(f.currency, Some(Currency::new("EUR")));
}

#[test]
fn the_same_crossing_repeated_later_in_the_interval_keeps_its_id() {
    let a = attrs("documented.attributes.json");
    let first = br#"{"budgetDisplayName":"b","alertThresholdExceeded":0.5,"costAmount":50.2,"costIntervalStart":"2024-09-01T07:00:00Z","budgetAmount":100,"budgetAmountType":"SPECIFIED_AMOUNT","currencyCode":"USD"}"#;
    let later = br#"{"budgetDisplayName":"b","alertThresholdExceeded":0.5,"costAmount":61.75,"costIntervalStart":"2024-09-01T07:00:00Z","budgetAmount":100,"budgetAmountType":"SPECIFIED_AMOUNT","currencyCode":"USD"}"#;
    let next = br#"{"budgetDisplayName":"b","alertThresholdExceeded":0.75,"costAmount":75.01,"costIntervalStart":"2024-09-01T07:00:00Z","budgetAmount":100,"budgetAmountType":"SPECIFIED_AMOUNT","currencyCode":"USD"}"#;
    let id = |b: &[u8]| {
        BudgetNotification::parse(b, &a)
            .expect("parse")
            .finding(now())
            .expect("finding")
            .id
    };
    assert_eq!(
        id(first),
        id(later),
        "repeats are dropped by the notify receipt"
    );
    assert_ne!(id(first), id(next), "a higher threshold is news");
}

#[test]
fn a_status_update_without_a_threshold_is_no_finding() {
    let data = br#"{"budgetDisplayName":"b","costAmount":12.345678,"costIntervalStart":"2024-09-01T07:00:00Z","budgetAmount":100,"budgetAmountType":"LAST_PERIODS_AMOUNT","currencyCode":"USD"}"#;
    let n = BudgetNotification::parse(data, &attrs("documented.attributes.json")).expect("parse");
    assert_eq!(n.threshold, None);
    assert_eq!(n.cost_amount, dec("12.345678"), "no double in between");
    assert!(n.finding(now()).is_none());
}

#[test]
fn bad_messages_name_the_field() {
    let a = attrs("documented.attributes.json");
    let err = |data: &[u8], attrs: &BTreeMap<String, String>| {
        BudgetNotification::parse(data, attrs).expect_err("must fail")
    };
    let ok = r#"{"budgetDisplayName":"b","alertThresholdExceeded":0.5,"costAmount":1,"costIntervalStart":"2024-09-01T07:00:00Z","budgetAmount":2,"currencyCode":"USD"}"#;
    assert!(BudgetNotification::parse(ok.as_bytes(), &a).is_ok());

    let e = err(ok.replace("\"costAmount\":1,", "").as_bytes(), &a);
    assert_eq!(
        e,
        BudgetNotificationError::Field {
            field: "costAmount".into(),
            msg: "is missing".into()
        }
    );
    let e = err(
        ok.replace("\"costAmount\":1", "\"costAmount\":\"lots\"")
            .as_bytes(),
        &a,
    );
    assert!(
        e.to_string()
            .contains("`costAmount`: `lots` is not a number"),
        "{e}"
    );
    let e = err(
        ok.replace("2024-09-01T07:00:00Z", "September").as_bytes(),
        &a,
    );
    assert!(e.to_string().contains("`costIntervalStart`"), "{e}");
    let e = err(b"not json", &a);
    assert!(matches!(e, BudgetNotificationError::Malformed(_)), "{e}");

    let mut no_budget = a.clone();
    no_budget.remove("budgetId");
    let e = err(ok.as_bytes(), &no_budget);
    assert!(
        e.to_string().contains("`attributes.budgetId`: is missing"),
        "{e}"
    );
    let mut v2 = a.clone();
    v2.insert("schemaVersion".into(), "2.0".into());
    let e = err(ok.as_bytes(), &v2);
    assert!(e.to_string().contains("schemaVersion"), "{e}");
}
