//! The rules engine: the file format and its errors, evaluation over records, dry-run delivery.

use chrono::{DateTime, Duration, TimeZone, Utc};
use costkit_core::flow::messages::{FindingKind, Severity};
use costkit_core::flow::notify::Delivery;
use costkit_core::focus::{ChargeCategory, FocusRecord, ServiceCategory};
use costkit_core::local::{MemoryState, OutboxPublisher};
use costkit_core::optimize::metrics::Metrics;
use costkit_core::rules::{deliver, Engine, RulesFile};
use costkit_core::text::Text;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/rules.example.yaml"
    ))
    .expect("example")
}

fn at(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0)
        .single()
        .expect("t")
        + Duration::days(day)
}

fn rec(id: &str, service: &str, day: i64, cost: &str, tags: &[(&str, &str)]) -> FocusRecord {
    let mut r = FocusRecord {
        provider_name: Text::from("AWS"),
        service_name: Text::from(service),
        service_category: if service.contains("Database") {
            ServiceCategory::Databases
        } else {
            ServiceCategory::Compute
        },
        charge_category: ChargeCategory::Usage,
        charge_period_start: at(day),
        charge_period_end: at(day + 1),
        effective_cost: d(cost),
        billed_cost: d(cost),
        resource_id: Some(Text::from(id)),
        sub_account_id: Some(Text::from("333333333333")),
        ..FocusRecord::default()
    };
    for (k, v) in tags {
        r.tags.insert(k, v);
    }
    r.extensions = vec![(
        Text::from("x_UsageType"),
        Text::from("USE1-BoxUsage:m5.large"),
    )];
    r
}

#[test]
fn the_example_file_evaluates_as_computed_by_hand() {
    let file = RulesFile::parse(&example(), "rules.example.yaml").expect("parse");
    assert_eq!(file.rules.len(), 4);
    let mut e = Engine::new(&file);
    assert!(e.needs_metrics());
    // 28 days (May 1-28). i-untagged: 5/day (150 in the last 30 days, > 100). i-owned: tagged
    // team, 10/day. db-dev: env=dev, a database, 1/day. EC2 spend in the last 7 days doubles.
    for day in 0..28 {
        e.add(&rec(
            "i-untagged",
            "Amazon Elastic Compute Cloud",
            day,
            "5",
            &[],
        ));
        let owned = if day >= 21 { "30" } else { "10" };
        e.add(&rec(
            "i-owned",
            "Amazon Elastic Compute Cloud",
            day,
            owned,
            &[("team", "web"), ("env", "prod")],
        ));
        e.add(&rec(
            "db-dev",
            "Amazon Relational Database Service",
            day,
            "1",
            &[("env", "dev")],
        ));
    }
    let metrics = Metrics::parse(
        "resource_id,timestamp,cpu_max\ni-untagged,2024-05-20T00:00:00Z,3\ni-owned,2024-05-20T00:00:00Z,60\n",
        "m.csv",
    )
    .expect("metrics");
    let matches = e.evaluate(Some(&metrics));
    let got: Vec<(&str, &str, Decimal)> = matches
        .iter()
        .map(|m| (m.rule.as_str(), m.subject.as_str(), m.amount))
        .collect();
    // Sorted by rule name, then amount. Untagged: i-untagged (28 × 5 = 140 over the last 30 days)
    // and db-dev costs only 28. Spend jump: EC2 last 7 days 7 × 35 = 245 against 7 × 15 = 105
    // (+133%); the database is flat. Non-prod outside dev accounts: db-dev (a database tagged
    // dev in account 3333...). Idle: i-untagged peaks at 3% CPU.
    assert_eq!(
        got,
        vec![
            ("idle-ec2", "resource=i-untagged", d("140")),
            ("non-prod-outside-dev-accounts", "resource=db-dev", d("28")),
            (
                "service-spend-jump",
                "ServiceName=Amazon Elastic Compute Cloud",
                d("245")
            ),
            (
                "untagged-expensive-resources",
                "resource=i-untagged",
                d("140")
            ),
        ]
    );
    let jump = &matches[2];
    assert_eq!(jump.severity, Severity::Critical);
    assert_eq!(jump.channels, vec!["finops".to_string()]);
    let f = jump.finding(at(40));
    assert_eq!(f.kind, FindingKind::Rule);
    assert_eq!(f.amount, Some(d("245")));
    assert_eq!(
        f.id,
        "rule:service-spend-jump:ServiceName=Amazon Elastic Compute Cloud:USD:2024-05-28"
    );
    // Without metrics, utilization conditions never hold.
    assert_eq!(e.evaluate(None).len(), 3);
}

#[test]
fn dry_run_sends_nothing_and_a_real_run_sends_once() {
    let file = RulesFile::parse(&example(), "rules.example.yaml").expect("parse");
    let mut e = Engine::new(&file);
    for day in 0..28 {
        e.add(&rec(
            "i-untagged",
            "Amazon Elastic Compute Cloud",
            day,
            "5",
            &[],
        ));
    }
    let matches = e.evaluate(None);
    let dir = tempfile::tempdir().expect("dir");
    let outbox = dir.path().join("outbox.jsonl");
    let publisher = OutboxPublisher::new(&outbox);
    let state = MemoryState::default();
    let dry = deliver(&matches, at(30), true, &publisher, &state).expect("dry run");
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0].channel, "finops");
    assert_eq!(dry[0].delivery, None);
    assert!(!outbox.exists(), "a dry run writes nothing");
    let sent = deliver(&matches, at(30), false, &publisher, &state).expect("run");
    assert_eq!(sent[0].delivery, Some(Delivery::Sent));
    let again = deliver(&matches, at(31), false, &publisher, &state).expect("rerun");
    assert_eq!(again[0].delivery, Some(Delivery::Duplicate));
    let lines = std::fs::read_to_string(&outbox).expect("outbox");
    assert_eq!(lines.lines().count(), 1);
}

/// (yaml, expected error) pairs: every error names the file, the line and the field.
const BAD: &[(&str, &str)] = &[
    (
        "rules:\n  - name: a\n    select: resources\n    filter:\n      and:\n        - tag: team\n          present: false\n        - field: BilledCost\n          op: gte2\n          value: 3\n    actions: [{flag: x}]\n",
        "rules.yaml:9: rules[0].filter.and[1].op: unknown operator \"gte2\" (one of eq, ne, gt, ge, lt, le, in, not_in, contains, starts_with, ends_with)",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter:\n      field: ServiceNme\n      op: eq\n      value: x\n    actions: [{flag: x}]\n",
        "rules.yaml:5: rules[0].filter.field: unknown field \"ServiceNme\" (a FOCUS column such as ServiceName, an x_ column)",
    ),
    (
        "rules:\n  - name: a\n    select: cost_series\n    by: [ServiceName, \"tag:\"]\n    filter: {cost: {op: gt, value: 1}}\n    actions: [{flag: x}]\n",
        "rules.yaml:4: rules[0].by[1]: unknown field \"tag:\" (a FOCUS column such as ServiceName, an x_ column, or tag:KEY)",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter: {cost: {op: gt, value: 1}}\n    actions: [{flag: x}]\n  - name: a\n    select: resources\n    filter: {cost: {op: gt, value: 1}}\n    actions: [{flag: x}]\n",
        "rules.yaml:6: rules[1].name: `a` is already used by an earlier rule",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter:\n      change: {op: gt, value: 10}\n    actions: [{flag: x}]\n",
        "rules.yaml:5: rules[0].filter: change.window: needed (e.g. 7d: the last 7 days against the 7 before)",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter:\n      cost: {op: gt, value: 1, window: 2w}\n    actions: [{flag: x}]\n",
        "rules.yaml:5: rules[0].filter.cost.window: `2w` is not a window of whole days such as 7d or 30d",
    ),
    (
        "rules:\n  - name: a\n    select: cost_series\n    filter:\n      utilization: {metric: cpu_max, op: lt, value: 5}\n    actions: [{flag: x}]\n",
        "rules.yaml:2: rules[0]: filter: utilization applies to `select: resources` only (metrics are per resource)",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter: {cost: {op: gt, value: 1}}\n    actions:\n      - finding: {severity: urgent}\n",
        "rules.yaml:6: rules[0].actions[0].finding.severity: `urgent`: must be info, warning or critical",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter:\n      tag: team\n    actions: [{flag: x}]\n",
        "rules.yaml:5: rules[0].filter: `tag` needs either `present: true|false` or an `op` with `value`/`values`",
    ),
    (
        "rules:\n  - name: a\n    select: resources\n    filter: {cost: {op: gt, value: 1}}\n    action: [{flag: x}]\n",
        "rules.yaml:5: rules[0]: unknown field `action`, expected one of `name`, `description`, `select`, `by`, `records`, `filter`, `window`, `basis`, `actions`",
    ),
];

#[test]
fn errors_name_the_line_and_the_field() {
    for (yaml, want) in BAD {
        let err = RulesFile::parse(yaml, "rules.yaml").expect_err(want);
        assert_eq!(err.to_string(), *want, "\n{yaml}");
    }
}

mod common;

fn schema_accepts(yaml: &str) -> bool {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rules.schema.json");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let v: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    common::schema_ok(&s, &s, &v)
}

/// The published schema accepts the example and rejects the invalid files whose error it can
/// express (not: duplicate names across rules, field names checked by `pattern`, the window
/// pattern, and the utilization-needs-resources rule, which the parser alone checks).
#[test]
fn the_published_schema_agrees_with_the_parser() {
    assert!(schema_accepts(&example()));
    let parser_only = [1, 2, 3, 5, 6];
    for (i, (yaml, want)) in BAD.iter().enumerate() {
        if !parser_only.contains(&i) {
            assert!(!schema_accepts(yaml), "schema accepts: {want}");
        }
    }
}
