//! Budgets: YAML validation, scope and spend, periods and amounts, and the alert state machine.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use costkit_core::aggregate::{DailyKey, DailyRow, Slice, Sums, TagKey, TagRow};
use costkit_core::budget::{
    evaluate, AlertState, Budget, BudgetConfigError, BudgetFile, BudgetStatus, LinearRunRate,
    SeasonalForecaster, SpendKind,
};
use costkit_core::money::Currency;
use costkit_core::text::Text;
use rust_decimal::Decimal;

mod common;
use common::schema_ok;

fn dec(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
}

/// Midnight UTC at the start of `s`: an evaluation at that instant knows the days before it.
fn at(s: &str) -> DateTime<Utc> {
    day(s).and_hms_opt(0, 0, 0).expect("time").and_utc()
}

fn budget(yaml: &str) -> Budget {
    let f = BudgetFile::parse(yaml, "budgets.yaml").expect("valid budgets");
    assert_eq!(f.budgets.len(), 1);
    f.budgets.into_iter().next().expect("one budget")
}

fn invalid(yaml: &str) -> (usize, String) {
    match BudgetFile::parse(yaml, "budgets.yaml") {
        Err(BudgetConfigError::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected an invalid-file error, got {other:?}"),
    }
}

/// A daily aggregate row with the given dimensions; effective = billed / 2 so tests can tell the
/// bases apart.
#[derive(Clone)]
struct R {
    provider: &'static str,
    account: &'static str,
    sub: &'static str,
    service: &'static str,
    region: &'static str,
    category: &'static str,
    currency: &'static str,
}

const EC2: R = R {
    provider: "AWS",
    account: "111",
    sub: "111-a",
    service: "Amazon Elastic Compute Cloud",
    region: "us-east-1",
    category: "Usage",
    currency: "USD",
};

fn row(r: &R, d: &str, billed: &str) -> DailyRow {
    let b = dec(billed);
    DailyRow {
        slice: Slice {
            provider: Text::from(r.provider),
            billing_account_id: Text::from(r.account),
            billing_period: d[..7].to_string(),
        },
        key: DailyKey {
            day: day(d),
            sub_account_id: Text::from(r.sub),
            sub_account_name: Text::default(),
            service_name: Text::from(r.service),
            service_category: Text::from("Compute"),
            region_id: Text::from(r.region),
            charge_category: Text::from(r.category),
            currency: Currency::new(r.currency),
        },
        sums: Sums {
            billed: b,
            effective: b / Decimal::TWO,
            list: b,
            contracted: b,
            rows: 1,
        },
    }
}

fn tag_row(provider: &str, d: &str, key: &str, value: &str, billed: &str) -> TagRow {
    TagRow {
        slice: Slice {
            provider: Text::from(provider),
            billing_account_id: Text::from("111"),
            billing_period: d[..7].to_string(),
        },
        key: TagKey {
            day: day(d),
            key: Text::from(key),
            value: Text::from(value),
            currency: Currency::new("USD"),
        },
        sums: Sums {
            billed: dec(billed),
            effective: dec(billed),
            list: dec(billed),
            contracted: dec(billed),
            rows: 1,
        },
    }
}

fn status(b: &Budget, rows: &[DailyRow], tags: &[TagRow], now: &str) -> BudgetStatus {
    evaluate(b, rows, tags, at(now), &LinearRunRate)
}

// ---------------------------------------------------------------- YAML validation

const MONTHLY_1000: &str = "
budgets:
  - name: ec2
    period: monthly
    amount: {fixed: 1000}
    currency: USD
    scope:
      services: [Amazon Elastic Compute Cloud]
    thresholds:
      - percent: 50
      - percent: 80
      - percent: 100
      - percent: 100
        on: forecasted
";

const BASE: &str = "budgets:\n  - name: a\n    period: monthly\n    amount: {fixed: 100}\n    currency: USD\n    thresholds:\n      - percent: 50\n";

/// Invalid additions to [`BASE`]: the YAML, the error line, the start of the message, and whether
/// the published schema rejects it too (false where only a `pattern`, which the test's schema
/// checker skips, or a rule across budgets, which JSON Schema cannot state, catches it).
const INVALID: &[(&str, usize, &str, bool)] = &[
        (
            "  - name: b\n    period: monthly\n    amount:\n      fixed: 100\n    currency: USD\n    thresholds:\n      - percent: 80\n      - percent: 0\n",
            15,
            "budgets[1].thresholds[1].percent: must be > 0",
            true,
        ),
        (
            "  - name: b\n    period: custom\n    start: 2024-09-01\n    amount: {fixed: 1}\n    currency: USD\n    thresholds: [{percent: 1}]\n",
            8,
            "budgets[1]: period `custom` needs both `start` and `end` (YYYY-MM-DD)",
            true,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1}\n    currency: USD\n    thresholds:\n      - on: forecasted\n",
            13,
            "budgets[1].thresholds[0]: needs `percent` or `amount`",
            true,
        ),
        (
            "  - name: b\n    period: weekly\n    amount: {fixed: 1}\n    currency: USD\n    thresholds: [{percent: 1}]\n",
            9,
            "budgets[1].period: unknown variant `weekly`",
            true,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1}\n    currency: USD\n    scope:\n      service: [EC2]\n    thresholds: [{percent: 1}]\n",
            13,
            "budgets[1].scope: unknown field `service`",
            true,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1}\n    currency: USD\n    scope:\n      charge_categories: [Usage, Refund]\n    thresholds: [{percent: 1}]\n",
            13,
            "budgets[1].scope.charge_categories[1]: `Refund` is not a FOCUS ChargeCategory",
            true,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 12.5x}\n    currency: USD\n    thresholds: [{percent: 1}]\n",
            10,
            "budgets[1].amount.fixed: `12.5x` is not a decimal number",
            false,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1}\n    currency: dollars\n    thresholds: [{percent: 1}]\n",
            11,
            "budgets[1].currency: `dollars` is not a three-letter currency code",
            false,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1}\n    currency: USD\n    scope:\n      services: [x]\n      tag: {key: team, values: [web]}\n    thresholds: [{percent: 1}]\n",
            8,
            "budgets[1]: scope.tag cannot be combined with scope.services",
            true,
        ),
        (
            "  - name: a\n    period: monthly\n    amount: {fixed: 1}\n    currency: USD\n    thresholds: [{percent: 1}]\n",
            8,
            "budgets[1].name: `a` is already used",
            false,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1, planned: {2024-09: 1}}\n    currency: USD\n    thresholds: [{percent: 1}]\n",
            8,
            "budgets[1]: amount: give exactly one of",
            true,
        ),
        (
            "  - name: b\n    period: monthly\n    amount:\n      planned:\n        2024-13: 5\n    currency: USD\n    thresholds: [{percent: 1}]\n",
            12,
            "budgets[1].amount.planned: `2024-13` is not a month (YYYY-MM)",
            false,
        ),
        (
            "  - name: b\n    period: monthly\n    amount: {fixed: 1}\n    currency: USD\n    thresholds: [{percent: 1}]\n   bad: [indent\n",
            13,
            "",
            false,
        ),
];

#[test]
fn invalid_files_name_the_line_and_the_field() {
    let base = BASE;
    let cases = INVALID;
    for (extra, line, msg, _) in cases {
        let yaml = format!("{base}{extra}");
        let (l, m) = invalid(&yaml);
        assert_eq!(l, *line, "line for {msg}: got `{m}`\n{yaml}");
        assert!(m.starts_with(msg), "expected `{msg}`, got `{m}`");
    }
    // The whole error as a person reads it.
    let e =
        BudgetFile::parse(&format!("{base}{}", cases[0].0), "budgets.yaml").expect_err("invalid");
    assert_eq!(
        e.to_string(),
        "budgets.yaml:15: budgets[1].thresholds[1].percent: must be > 0"
    );
}

#[test]
fn amounts_are_read_exactly_from_the_yaml_text() {
    let b = budget("budgets:\n  - name: a\n    period: monthly\n    amount: {fixed: 1000.10}\n    currency: usd\n    thresholds: [{amount: 0.1}, {percent: 33.3}]\n");
    assert_eq!(
        b.amount,
        costkit_core::budget::AmountSpec::Fixed(dec("1000.10"))
    );
    assert_eq!(b.currency.as_str(), "USD");
    assert_eq!(b.thresholds[0].level(None), Some(dec("0.1")));
    assert_eq!(
        b.thresholds[1].level(Some(dec("1000.10"))),
        Some(dec("333.0333"))
    );
    assert_eq!(b.forecast_min_days, 7);
}

// ---------------------------------------------------------------- alert state machine

/// EC2 spend of `per_day` on each day from the 1st through `last` of September 2024.
fn september(per_day: &str, last: u32) -> Vec<DailyRow> {
    (1..=last)
        .map(|d| row(&EC2, &format!("2024-09-{d:02}"), per_day))
        .collect()
}

#[test]
fn thresholds_crossed_on_successive_days_fire_once_each() {
    let b = budget(MONTHLY_1000);
    let mut rows = vec![row(&EC2, "2024-09-01", "450")];
    let mut state = AlertState::default();
    // 2 Sep: 450 of 1000, nothing crossed.
    assert!(state
        .step(&status(&b, &rows, &[], "2024-09-02"), at("2024-09-02"))
        .is_empty());
    // 3 Sep: +60 = 510 -> 50%.
    rows.push(row(&EC2, "2024-09-02", "60"));
    let a = state.step(&status(&b, &rows, &[], "2024-09-03"), at("2024-09-03"));
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].threshold.as_str(), a[0].observed, a[0].level),
        ("actual:50%", dec("510"), dec("500"))
    );
    assert!(!a[0].escalation);
    // Re-running the same day fires nothing.
    assert!(state
        .step(&status(&b, &rows, &[], "2024-09-03"), at("2024-09-03"))
        .is_empty());
    // 4 Sep: 800 exactly -> 80% (reaching a threshold crosses it), an escalation.
    rows.push(row(&EC2, "2024-09-03", "290"));
    let a = state.step(&status(&b, &rows, &[], "2024-09-04"), at("2024-09-04"));
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].threshold.as_str(), a[0].escalation),
        ("actual:80%", true)
    );
    // 5 Sep: 1000.01 -> 100%.
    rows.push(row(&EC2, "2024-09-04", "200.01"));
    let a = state.step(&status(&b, &rows, &[], "2024-09-05"), at("2024-09-05"));
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].threshold.as_str(), a[0].observed),
        ("actual:100%", dec("1000.01"))
    );
    // Later days with more spend: nothing new.
    rows.push(row(&EC2, "2024-09-05", "5"));
    assert!(state
        .step(&status(&b, &rows, &[], "2024-09-06"), at("2024-09-06"))
        .is_empty());
    let fired: Vec<&str> = state.budgets["ec2"]
        .fired
        .iter()
        .map(|f| f.threshold.as_str())
        .collect();
    assert_eq!(fired, vec!["actual:50%", "actual:80%", "actual:100%"]);
    // The state survives a JSON round trip (the CLI stores it that way) and keeps deciding.
    let json = serde_json::to_string(&state).expect("serialize");
    let mut back: AlertState = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, state);
    assert!(back
        .step(&status(&b, &rows, &[], "2024-09-06"), at("2024-09-06"))
        .is_empty());
}

#[test]
fn several_thresholds_crossed_at_once_report_the_highest() {
    let b = budget(MONTHLY_1000);
    let rows = vec![row(&EC2, "2024-09-01", "900")];
    let mut state = AlertState::default();
    let a = state.step(&status(&b, &rows, &[], "2024-09-02"), at("2024-09-02"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].threshold, "actual:80%");
    assert_eq!(a[0].also_crossed, vec!["actual:50%".to_string()]);
    assert_eq!(state.budgets["ec2"].fired.len(), 2);
    assert_eq!(
        state.open("ec2").len(),
        1,
        "only the reported alert is open"
    );
}

#[test]
fn a_new_period_starts_over() {
    let b = budget(MONTHLY_1000);
    let mut rows = vec![row(&EC2, "2024-09-01", "600")];
    let mut state = AlertState::default();
    assert_eq!(
        state.step(&status(&b, &rows, &[], "2024-09-02"), at("2024-09-02"))[0].threshold,
        "actual:50%"
    );
    // October: nothing spent yet, nothing fires, and the September alerts are forgotten.
    assert!(state
        .step(&status(&b, &rows, &[], "2024-10-01"), at("2024-10-01"))
        .is_empty());
    assert_eq!(state.budgets["ec2"].period, "2024-10");
    assert!(state.budgets["ec2"].fired.is_empty());
    rows.push(row(&EC2, "2024-10-01", "550"));
    let a = state.step(&status(&b, &rows, &[], "2024-10-02"), at("2024-10-02"));
    assert_eq!(
        (a.len(), a[0].threshold.as_str(), a[0].period.as_str()),
        (1, "actual:50%", "2024-10")
    );
    assert_eq!(
        a[0].observed,
        dec("550"),
        "September spend is not counted in October"
    );
}

#[test]
fn forecasted_alerts_wait_for_seven_days_of_data() {
    let b = budget(MONTHLY_1000);
    // 40 a day: a run rate of 1200 for the 30-day month, over the 1000 budget; actual stays low.
    let mut state = AlertState::default();
    let s3 = status(&b, &september("40", 2), &[], "2024-09-03");
    assert_eq!(s3.covered_days, 2);
    assert_eq!(
        s3.forecast,
        Some(dec("1200")),
        "the forecast exists, but is not used yet"
    );
    let fc = s3
        .checks
        .iter()
        .find(|c| c.on == SpendKind::Forecasted)
        .expect("check");
    assert!(!fc.crossed);
    assert!(fc.skipped.as_deref().unwrap_or("").contains("after 7 days"));
    assert!(
        state.step(&s3, at("2024-09-03")).is_empty(),
        "day 3: no forecasted alert"
    );
    // Day 8 with 7 days of data: the forecast 280 / 7 × 30 = 1200 >= 1000 fires.
    let s8 = status(&b, &september("40", 7), &[], "2024-09-08");
    assert_eq!(
        (s8.covered_days, s8.actual, s8.forecast),
        (7, dec("280"), Some(dec("1200")))
    );
    let a = state.step(&s8, at("2024-09-08"));
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].on, a[0].threshold.as_str(), a[0].observed),
        (SpendKind::Forecasted, "forecasted:100%", dec("1200"))
    );
    // A forecast under the budget does not fire.
    let low = status(&b, &september("30", 7), &[], "2024-09-08");
    assert_eq!(low.forecast, Some(dec("900")));
    assert!(AlertState::default()
        .step(&low, at("2024-09-08"))
        .is_empty());
}

#[test]
fn seasonal_forecasts_fire_on_day_8_not_day_3() {
    let b = budget(MONTHLY_1000);
    // 40 a day since July: the seasonal forecaster learns from the summer, not only September.
    let history = |last: &str| -> Vec<DailyRow> {
        let mut rows = Vec::new();
        let mut d = day("2024-07-01");
        while d <= day(last) {
            rows.push(row(&EC2, &d.to_string(), "40"));
            d += chrono::Duration::days(1);
        }
        rows
    };
    let mut state = AlertState::default();
    let s3 = evaluate(
        &b,
        &history("2024-09-02"),
        &[],
        at("2024-09-03"),
        &SeasonalForecaster,
    );
    assert_eq!(s3.forecaster, "seasonal");
    assert_eq!(s3.forecast, Some(dec("1200")), "80 so far + 28 days of 40");
    assert!(
        state.step(&s3, at("2024-09-03")).is_empty(),
        "day 3: too early"
    );
    let s8 = evaluate(
        &b,
        &history("2024-09-07"),
        &[],
        at("2024-09-08"),
        &SeasonalForecaster,
    );
    assert_eq!((s8.covered_days, s8.actual), (7, dec("280")));
    assert_eq!(s8.forecast, Some(dec("1200")));
    let a = state.step(&s8, at("2024-09-08"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].threshold, "forecasted:100%");
}

#[test]
fn acknowledge_and_snooze() {
    let b = budget(MONTHLY_1000);
    let mut state = AlertState::default();
    let rows1 = vec![row(&EC2, "2024-09-01", "600")];
    assert_eq!(
        state
            .step(&status(&b, &rows1, &[], "2024-09-02"), at("2024-09-02"))
            .len(),
        1
    );
    assert_eq!(state.open("ec2").len(), 1);
    assert_eq!(state.acknowledge("ec2", at("2024-09-02")), 1);
    assert!(state.open("ec2").is_empty());
    // Acknowledging does not silence an escalation.
    let rows2 = vec![row(&EC2, "2024-09-01", "850")];
    let a = state.step(&status(&b, &rows2, &[], "2024-09-03"), at("2024-09-03"));
    assert_eq!(a[0].threshold, "actual:80%");
    assert_eq!(state.open("ec2").len(), 1);
    // Snoozed until the 10th: crossing 100% on the 5th stays quiet and is not recorded ...
    state.snooze("ec2", at("2024-09-10"));
    let rows3 = vec![row(&EC2, "2024-09-01", "1200")];
    assert!(state
        .step(&status(&b, &rows3, &[], "2024-09-05"), at("2024-09-05"))
        .is_empty());
    assert!(!state.budgets["ec2"]
        .fired
        .iter()
        .any(|f| f.threshold == "actual:100%"));
    // ... and fires at the first evaluation after the snooze.
    let a = state.step(
        &status(&b, &rows3, &[], "2024-09-10"),
        at("2024-09-10") + Duration::hours(1),
    );
    assert_eq!(a[0].threshold, "actual:100%");
    assert_eq!(state.budgets["ec2"].snoozed_until, None);
}

#[test]
fn a_change_of_basis_starts_over() {
    let billed = budget(MONTHLY_1000);
    let effective =
        budget(&MONTHLY_1000.replace("currency: USD", "currency: USD\n    basis: effective"));
    let rows = vec![row(&EC2, "2024-09-01", "1200")];
    let mut state = AlertState::default();
    assert_eq!(
        state.step(&status(&billed, &rows, &[], "2024-09-02"), at("2024-09-02"))[0].threshold,
        "actual:100%"
    );
    // Effective is half of billed in these rows: 600 -> 50%, fired afresh under the new basis.
    let s = status(&effective, &rows, &[], "2024-09-02");
    assert_eq!(s.actual, dec("600"));
    assert_eq!(state.step(&s, at("2024-09-02"))[0].threshold, "actual:50%");
}

// ---------------------------------------------------------------- scope and spend

fn spend_of(yaml_scope: &str, rows: &[DailyRow], tags: &[TagRow]) -> BudgetStatus {
    let b = budget(&format!(
        "budgets:\n  - name: s\n    period: monthly\n    amount: {{fixed: 100}}\n    currency: USD\n{yaml_scope}    thresholds: [{{percent: 100}}]\n"
    ));
    status(&b, rows, tags, "2024-09-30")
}

#[test]
fn scope_filters_pick_the_right_rows() {
    let s3 = R {
        service: "Amazon Simple Storage Service",
        ..EC2
    };
    let other_acct = R {
        account: "222",
        sub: "222-a",
        ..EC2
    };
    let azure = R {
        provider: "Microsoft",
        account: "EA-1",
        sub: "s1",
        service: "Virtual Machines",
        region: "westeurope",
        ..EC2
    };
    let tax = R {
        service: "Tax",
        region: "",
        category: "Tax",
        ..EC2
    };
    let credit = R {
        category: "Credit",
        ..EC2
    };
    let refund = R {
        category: "Usage",
        ..EC2
    };
    let eur = R {
        currency: "EUR",
        ..EC2
    };
    let rows = vec![
        row(&EC2, "2024-09-03", "10"),
        row(&s3, "2024-09-03", "4"),
        row(&other_acct, "2024-09-04", "7"),
        row(&azure, "2024-09-04", "20"),
        row(&tax, "2024-09-01", "3"),
        row(&credit, "2024-09-05", "-2"),
        row(&refund, "2024-09-06", "-1.5"),
        row(&eur, "2024-09-06", "100"),
        row(&EC2, "2024-08-31", "1000"), // previous month
    ];
    let all = spend_of("", &rows, &[]);
    assert_eq!(all.actual, dec("40.5"));
    assert_eq!(all.warnings.len(), 1, "{:?}", all.warnings);
    assert!(all.warnings[0].contains("1 aggregate rows") && all.warnings[0].contains("100 EUR"));
    let svc = spend_of(
        "    scope: {services: [Amazon Simple Storage Service]}\n",
        &rows,
        &[],
    );
    assert_eq!(svc.actual, dec("4"));
    let acct = spend_of("    scope: {billing_accounts: ['222']}\n", &rows, &[]);
    assert_eq!(acct.actual, dec("7"));
    let sub = spend_of(
        "    scope: {sub_accounts: [s1], providers: [Microsoft]}\n",
        &rows,
        &[],
    );
    assert_eq!(sub.actual, dec("20"));
    let cat = spend_of(
        "    scope: {charge_categories: [tax, credit]}\n",
        &rows,
        &[],
    );
    assert_eq!(cat.actual, dec("1"));
    let region = spend_of(
        "    scope: {regions: [us-east-1], providers: [AWS]}\n",
        &rows,
        &[],
    );
    assert_eq!(region.actual, dec("17.5"), "10 + 4 + 7 - 2 - 1.5");
    let no_credit = spend_of("    include: {credits: false}\n", &rows, &[]);
    assert_eq!(no_credit.actual, dec("42.5"));
    let no_tax = spend_of("    include: {tax: false}\n", &rows, &[]);
    assert_eq!(no_tax.actual, dec("37.5"));
    let no_refund = spend_of("    include: {refunds: false}\n", &rows, &[]);
    assert_eq!(
        no_refund.actual,
        dec("42"),
        "the negative Usage row goes, the credit stays"
    );
}

#[test]
fn tag_scope_uses_the_per_tag_rows() {
    let tags = vec![
        tag_row("AWS", "2024-09-02", "team", "web", "11"),
        tag_row("AWS", "2024-09-02", "team", "data", "5"),
        tag_row("AWS", "2024-09-03", "team", "api", "2.5"),
        tag_row("Microsoft", "2024-09-03", "team", "web", "30"),
        tag_row("AWS", "2024-09-03", "env", "web", "99"),
    ];
    let rows = vec![row(&EC2, "2024-09-02", "1000")];
    let web = spend_of(
        "    scope: {tag: {key: team, values: [web]}}\n",
        &rows,
        &tags,
    );
    assert_eq!(web.actual, dec("41"));
    let two = spend_of(
        "    scope: {providers: [AWS], tag: {key: team, values: [web, api]}}\n",
        &rows,
        &tags,
    );
    assert_eq!(two.actual, dec("13.5"));
}

// ---------------------------------------------------------------- periods and amounts

#[test]
fn quarterly_and_custom_periods() {
    let q = budget("budgets:\n  - name: q\n    period: quarterly\n    amount: {fixed: 3000}\n    currency: USD\n    thresholds: [{percent: 50}]\n");
    let rows = vec![
        row(&EC2, "2024-06-30", "999"),
        row(&EC2, "2024-07-01", "1000"),
        row(&EC2, "2024-08-15", "600"),
        row(&EC2, "2024-09-30", "7"),
        row(&EC2, "2024-10-01", "999"),
    ];
    let s = status(&q, &rows, &[], "2024-09-30");
    assert_eq!(
        (s.period.label.as_str(), s.actual),
        ("2024-Q3", dec("1600"))
    );
    assert!(s.checks[0].crossed, "1600 >= 1500");
    let s = status(&q, &rows, &[], "2024-10-02");
    assert_eq!((s.period.label.as_str(), s.actual), ("2024-Q4", dec("999")));
    let c = budget("budgets:\n  - name: c\n    period: custom\n    start: 2024-07-15\n    end: 2024-08-15\n    amount: {fixed: 2000}\n    currency: USD\n    thresholds: [{amount: 1600, on: actual}]\n");
    let s = status(&c, &rows, &[], "2024-12-01");
    assert_eq!(
        (s.period.label.as_str(), s.actual),
        ("2024-07-15..2024-08-15", dec("600"))
    );
    assert_eq!(s.period.days(), 32);
    assert!(!s.checks[0].crossed);
}

#[test]
fn previous_period_and_planned_amounts() {
    let auto = budget("budgets:\n  - name: a\n    period: monthly\n    amount:\n      previous_period: {change_percent: 10}\n    currency: USD\n    thresholds: [{percent: 100}]\n");
    let rows = vec![
        row(&EC2, "2024-08-01", "500"),
        row(&EC2, "2024-08-31", "300.5"),
        row(&EC2, "2024-09-01", "100"),
    ];
    let s = status(&auto, &rows, &[], "2024-09-02");
    assert_eq!(s.amount, Some(dec("880.55")), "(500 + 300.5) × 1.10");
    assert_eq!(s.percent_used.map(|p| p.round_dp(4)), Some(dec("11.3565")));
    // No August data: the first_period amount, or no amount and a warning.
    let s = status(&auto, &rows[2..], &[], "2024-09-02");
    assert_eq!(s.amount, None);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("no spend data for 2024-08")),
        "{:?}",
        s.warnings
    );
    assert!(s.checks[0].skipped.is_some() && !s.checks[0].crossed);
    let first = budget("budgets:\n  - name: a\n    period: monthly\n    amount:\n      previous_period: {change_percent: -5, first_period: 250}\n    currency: USD\n    thresholds: [{percent: 100}]\n");
    assert_eq!(
        status(&first, &rows[2..], &[], "2024-09-02").amount,
        Some(dec("250"))
    );
    assert_eq!(
        status(&first, &rows, &[], "2024-09-02").amount,
        Some(dec("760.475"))
    );
    let planned = budget("budgets:\n  - name: p\n    period: quarterly\n    amount:\n      planned:\n        2024-07: 100\n        2024-08: 200.25\n        2024-09: 300\n    currency: USD\n    thresholds: [{percent: 100}]\n");
    assert_eq!(
        status(&planned, &rows, &[], "2024-09-02").amount,
        Some(dec("600.25"))
    );
    let s = status(&planned, &rows, &[], "2024-10-02");
    assert_eq!(s.amount, None);
    assert!(
        s.warnings[0].contains("2024-10, 2024-11, 2024-12"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn rows_of_days_not_yet_begun_are_ignored() {
    let b = budget(MONTHLY_1000);
    let rows = september("10", 20);
    let s = status(&b, &rows, &[], "2024-09-15");
    assert_eq!((s.actual, s.covered_days), (dec("140"), 14));
}

// ---------------------------------------------------------------- the published JSON Schema

fn schema() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/budgets.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read schema")).expect("schema json")
}

fn schema_accepts(yaml: &str) -> bool {
    let s = schema();
    let v: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("yaml as json");
    schema_ok(&s, &s, &v)
}

#[test]
fn the_published_schema_agrees_with_the_parser() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/budgets.example.yaml"
    ))
    .expect("example");
    let parsed = BudgetFile::parse(&example, "budgets.example.yaml").expect("the example is valid");
    assert_eq!(parsed.budgets.len(), 5);
    for valid in [example.as_str(), BASE, MONTHLY_1000] {
        assert!(
            schema_accepts(valid),
            "schema rejects a valid file:\n{valid}"
        );
    }
    let mut checked = 0;
    for (extra, _, msg, schema_rejects) in INVALID {
        if *schema_rejects {
            assert!(
                !schema_accepts(&format!("{BASE}{extra}")),
                "schema accepts: {msg}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
    // An unknown top-level key and an unknown threshold field are refused by both.
    for bad in [
        format!("{BASE}extra: 1\n"),
        BASE.replace("- percent: 50", "- percent: 50\n        above: true"),
    ] {
        assert!(!schema_accepts(&bad), "{bad}");
        assert!(BudgetFile::parse(&bad, "b.yaml").is_err(), "{bad}");
    }
}
