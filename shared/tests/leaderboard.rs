//! Realized savings: actions verified against the billing data, net of the baseline's trend.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use costkit_core::focus::{ChargeCategory, FocusRecord};
use costkit_core::leaderboard::{
    ActionsFile, Badge, Leaderboard, LeaderboardBuilder, Status, TeamsFile,
};
use costkit_core::money::Currency;
use costkit_core::rules::config::Basis;
use costkit_core::text::Text;
use rust_decimal::Decimal;

mod common;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// Day 0 = 2024-09-01; the actions below are done on day 30 (2024-10-01).
fn at(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 1, 0, 0, 0)
        .single()
        .expect("t")
        + Duration::days(day)
}

fn rec(id: &str, account: &str, team: Option<&str>, day: i64, cost: Decimal) -> FocusRecord {
    let mut r = FocusRecord {
        provider_name: Text::from("AWS"),
        service_name: Text::from(if id.starts_with("vol") {
            "Amazon Elastic Block Store"
        } else {
            "Amazon Elastic Compute Cloud"
        }),
        charge_category: ChargeCategory::Usage,
        charge_period_start: at(day),
        charge_period_end: at(day + 1),
        effective_cost: cost,
        billed_cost: cost,
        billing_currency: Currency::new("USD"),
        resource_id: Some(Text::from(id)),
        sub_account_id: Some(Text::from(account)),
        ..FocusRecord::default()
    };
    if let Some(t) = team {
        r.tags.insert("team", t);
    }
    r
}

const TEAMS: &str = "\
version: 1
scoring:
  window_days: 30
  min_days: 14
teams:
  - name: web
    tags: { team: [web, frontend] }
  - name: data
    accounts: [\"222222222222\"]
";

const ACTIONS: &str = "\
version: 1
actions:
  - id: recommendation:idle:vol-web:2024-09-30
    resource: vol-web
    done: 2024-10-01
    expected_monthly_savings: 240
";

/// 61 days: a volume of team web at `before` per day until day 29 and `after` from day 31
/// (the done day 30 is in neither window), team web's instance at `web_before`/`web_after`,
/// team data's warehouse at `data_before`/`data_after`.
fn run(
    teams: &str,
    actions: &str,
    vol: (&str, &str),
    web: (&str, &str),
    data: (&str, &str),
) -> Leaderboard {
    let teams = TeamsFile::parse(teams, "teams.yaml").expect("teams");
    let actions = ActionsFile::parse(actions, "actions.yaml", &teams).expect("actions");
    let mut b = LeaderboardBuilder::new(&teams, &actions, Basis::Effective);
    for day in 0..61 {
        let pick = |(x, y): (&str, &str)| if day < 30 { d(x) } else { d(y) };
        b.add(&rec("vol-web", "111111111111", Some("web"), day, pick(vol)));
        b.add(&rec(
            "i-web",
            "111111111111",
            Some("frontend"),
            day,
            pick(web),
        ));
        b.add(&rec("dw-1", "222222222222", None, day, pick(data)));
    }
    b.finish()
}

#[test]
fn a_resource_whose_cost_drops_earns_its_team_points() {
    // The volume goes from 10/day to 2/day; everything else is flat.
    let lb = run(TEAMS, ACTIONS, ("10", "2"), ("100", "100"), ("50", "50"));
    let a = &lb.actions[0];
    assert_eq!(a.status, Status::Verified);
    assert_eq!(a.team.as_deref(), Some("web"));
    assert_eq!((a.before_days, a.after_days), (30, 30));
    assert_eq!(a.before_monthly, Some(d("300")));
    assert_eq!(a.after_monthly, Some(d("60")));
    assert_eq!(a.baseline_factor, Some(d("1")));
    assert_eq!(
        a.before_monthly.map(|x| x.to_string()),
        Some("300.00".into())
    );
    assert_eq!(a.verified_monthly_savings, d("240.00"));
    assert_eq!(a.points, 240);
    let web = &lb.standings[0];
    assert_eq!((web.rank, web.team.as_str(), web.points), (1, "web", 240));
    assert_eq!(
        web.verified_monthly_savings.get(&Currency::new("USD")),
        Some(&d("240.00"))
    );
    // 240 verified against 240 promised: on target.
    assert_eq!(web.badges, vec![Badge::FirstSaving, Badge::OnTarget]);
    let data = &lb.standings[1];
    assert_eq!((data.rank, data.team.as_str(), data.points), (2, "data", 0));
    assert!(data.badges.is_empty());
}

#[test]
fn a_drop_matched_by_the_whole_scope_earns_nothing() {
    // Everything halves: the volume's drop is the global downturn, not the action.
    let lb = run(TEAMS, ACTIONS, ("10", "5"), ("100", "50"), ("50", "25"));
    let a = &lb.actions[0];
    assert_eq!(a.baseline_factor, Some(d("0.5")));
    assert_eq!(a.before_monthly, Some(d("300")));
    assert_eq!(a.expected_monthly, Some(d("150")));
    assert_eq!(a.after_monthly, Some(d("150")));
    assert_eq!(a.verified_monthly_savings, Decimal::ZERO);
    assert_eq!(a.points, 0);
    assert_eq!(a.status, Status::NotVerified);
    assert!(lb
        .standings
        .iter()
        .all(|s| s.points == 0 && s.badges.is_empty()));
}

#[test]
fn only_the_drop_beyond_the_trend_counts() {
    // The rest halves (factor 0.5: 300 → 150 expected); the volume fell to 2/day = 60 a month.
    let lb = run(TEAMS, ACTIONS, ("10", "2"), ("100", "50"), ("50", "25"));
    let a = &lb.actions[0];
    assert_eq!(a.verified_monthly_savings, d("90.00"));
    assert_eq!(a.points, 90);
    // Against the team's own trend instead (team web's instance is flat): the whole drop.
    let team_trend = TEAMS.replace("  min_days: 14\n", "  min_days: 14\n  trend: team\n");
    let lb = run(
        &team_trend,
        ACTIONS,
        ("10", "2"),
        ("100", "100"),
        ("50", "25"),
    );
    assert_eq!(lb.actions[0].baseline_factor, Some(d("1")));
    assert_eq!(lb.actions[0].verified_monthly_savings, d("240.00"));
    // With trend: all, team data's downturn (75 of 150 a day) lowers the expected cost.
    let lb = run(TEAMS, ACTIONS, ("10", "2"), ("100", "100"), ("50", "25"));
    // factor = 125 / 150; expected = 300 × 5/6 = 250; 250 − 60 = 190.
    assert_eq!(lb.actions[0].verified_monthly_savings, d("190.00"));
    assert_eq!(lb.actions[0].points, 190);
}

#[test]
fn spend_rising_with_the_scope_is_not_a_saving_and_a_rise_is_never_negative() {
    // Everything doubles but the volume stays flat: it saved relative to the trend.
    let lb = run(TEAMS, ACTIONS, ("10", "10"), ("100", "200"), ("50", "100"));
    assert_eq!(lb.actions[0].verified_monthly_savings, d("300.00"));
    // The volume doubles while the rest is flat: no saving, no negative points.
    let lb = run(TEAMS, ACTIONS, ("10", "20"), ("100", "100"), ("50", "50"));
    assert_eq!(lb.actions[0].verified_monthly_savings, Decimal::ZERO);
    assert_eq!(lb.actions[0].status, Status::NotVerified);
}

#[test]
fn too_little_data_after_the_done_day_is_pending() {
    let actions = ACTIONS.replace("done: 2024-10-01", "done: 2024-10-20");
    let lb = run(TEAMS, &actions, ("10", "2"), ("100", "100"), ("50", "50"));
    let a = &lb.actions[0];
    assert_eq!(a.after_days, 11);
    assert_eq!(a.status, Status::Pending);
    assert_eq!(a.points, 0);
    let web = lb.standings.iter().find(|s| s.team == "web").expect("web");
    assert_eq!((web.pending, web.actions, web.points), (1, 1, 0));
}

#[test]
fn a_series_scope_and_unequal_windows_are_normalized_to_30_days() {
    // A cost series (the EBS service for team web's tag); done on day 40: 30 days before
    // (days 10..39), 20 days after (41..60).
    let actions = "\
actions:
  - id: ebs-cleanup
    series: { ServiceName: Amazon Elastic Block Store, \"tag:team\": web }
    done: 2024-10-11
    team: web
";
    let lb = run(TEAMS, actions, ("10", "2"), ("100", "100"), ("50", "50"));
    let a = &lb.actions[0];
    assert_eq!(
        a.scope,
        "ServiceName=Amazon Elastic Block Store, tag:team=web"
    );
    assert_eq!((a.before_days, a.after_days), (30, 20));
    // Before: days 10..29 at 10 and 30..39 at 2 = 220 over 30 days; after: 20 days at 2 = 40,
    // ×30/20 = 60. Baseline flat: 220 − 60 = 160.
    assert_eq!(a.before_monthly, Some(d("220")));
    assert_eq!(a.after_monthly, Some(d("60")));
    assert_eq!(a.verified_monthly_savings, d("160.00"));
}

#[test]
fn the_report_section_serializes_with_exact_amounts() {
    let lb = run(TEAMS, ACTIONS, ("10", "2"), ("100", "100"), ("50", "50"));
    let v = serde_json::to_value(lb.section()).expect("json");
    assert_eq!(v["standings"][0]["team"], "web");
    assert_eq!(v["standings"][0]["points"], 240);
    assert_eq!(v["standings"][0]["badges"][0], "first-saving");
    assert_eq!(v["actions"][0]["verified_monthly_savings"], "240.00");
    assert_eq!(v["as_of"], "2024-10-31");
    let back: costkit_core::leaderboard::LeaderboardSection =
        serde_json::from_value(v).expect("round trip");
    assert_eq!(back, lb.section());
}

const BAD_TEAMS: &[(&str, &str)] = &[
    (
        "teams:\n  - name: web\n    tags: { team: [] }\n",
        "teams.yaml:3: teams[0].tags.team: the list is empty",
    ),
    (
        "teams:\n  - name: web\n    accounts: [\"1\"]\n  - name: web\n    accounts: [\"2\"]\n",
        "teams.yaml:4: teams[1].name: `web` is already used by an earlier team",
    ),
    (
        "teams:\n  - name: web\n",
        "teams.yaml:2: teams[0]: `web` needs `tags` or `accounts` (what spend is the team's?)",
    ),
    (
        "scoring:\n  window_days: 0\nteams:\n  - name: web\n    accounts: [\"1\"]\n",
        "teams.yaml:2: scoring.window_days: `0`: expected whole days from 1 to 366",
    ),
    (
        "scoring:\n  trend: global\nteams: []\n",
        "teams.yaml:2: scoring.trend: `global`: must be all or team",
    ),
    (
        "teams:\n  - name: web\n    acounts: [\"1\"]\n",
        "teams.yaml:3: teams[0]: unknown field `acounts`, expected one of `name`, `tags`, `accounts`",
    ),
];

const BAD_ACTIONS: &[(&str, &str)] = &[
    (
        "actions:\n  - id: a\n    resource: vol-1\n    done: 2024-13-01\n",
        "actions.yaml:4: actions[0].done: `2024-13-01` is not a date (YYYY-MM-DD)",
    ),
    (
        "actions:\n  - id: a\n    done: 2024-10-01\n",
        "actions.yaml:2: actions[0]: action `a`: needs `resource` (a ResourceId) or `series` (fields and values)",
    ),
    (
        "actions:\n  - id: a\n    series: { ServiceNme: x }\n    done: 2024-10-01\n",
        "actions.yaml:3: actions[0].series: unknown field \"ServiceNme\" (a FOCUS column such as ServiceName, an x_ column, or tag:KEY)",
    ),
    (
        "actions:\n  - id: a\n    resource: vol-1\n    done: 2024-10-01\n    expected_monthly_savings: lots\n",
        "actions.yaml:5: actions[0].expected_monthly_savings: `lots` is not a decimal number",
    ),
    (
        "actions:\n  - id: a\n    resource: vol-1\n    done: 2024-10-01\n  - id: a\n    resource: vol-2\n    done: 2024-10-01\n",
        "actions.yaml:5: actions[1].id: `a` is already used by an earlier action",
    ),
    (
        "actions:\n  - id: a\n    resource: vol-1\n    done: 2024-10-01\n    team: mobile\n",
        "actions.yaml:5: actions[0].team: `mobile` is not a team of the teams file (web, data)",
    ),
];

#[test]
fn errors_name_the_line_and_the_field() {
    for (yaml, want) in BAD_TEAMS {
        let err = TeamsFile::parse(yaml, "teams.yaml").expect_err(want);
        assert_eq!(err.to_string(), *want, "\n{yaml}");
    }
    let teams = TeamsFile::parse(TEAMS, "teams.yaml").expect("teams");
    for (yaml, want) in BAD_ACTIONS {
        let err = ActionsFile::parse(yaml, "actions.yaml", &teams).expect_err(want);
        assert_eq!(err.to_string(), *want, "\n{yaml}");
    }
}

fn schema_accepts(name: &str, yaml: &str) -> bool {
    let path = format!("{}/../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let v: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    common::schema_ok(&s, &s, &v)
}

fn doc(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../docs/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("example")
}

/// The published schemas accept the examples and reject the invalid files whose error a schema
/// can express (not: duplicate names or ids, unknown teams, the date, decimal and field-name patterns).
#[test]
fn the_published_schemas_agree_with_the_parser() {
    let teams =
        TeamsFile::parse(&doc("teams.example.yaml"), "teams.example.yaml").expect("example teams");
    ActionsFile::parse(&doc("actions.example.yaml"), "actions.example.yaml", &teams)
        .expect("example actions");
    assert!(schema_accepts(
        "teams.schema.json",
        &doc("teams.example.yaml")
    ));
    assert!(schema_accepts(
        "actions.schema.json",
        &doc("actions.example.yaml")
    ));
    assert!(schema_accepts("teams.schema.json", TEAMS));
    assert!(schema_accepts("actions.schema.json", ACTIONS));
    for (i, (yaml, _)) in BAD_TEAMS.iter().enumerate() {
        if i == 1 {
            continue; // duplicate names
        }
        assert!(!schema_accepts("teams.schema.json", yaml), "{yaml}");
    }
    for (i, (yaml, _)) in BAD_ACTIONS.iter().enumerate() {
        if [0, 2, 3, 4, 5].contains(&i) {
            continue; // date, field and decimal patterns, duplicate ids, unknown team
        }
        assert!(!schema_accepts("actions.schema.json", yaml), "{yaml}");
    }
}
