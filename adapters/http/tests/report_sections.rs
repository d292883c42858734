//! The report's FOCUS sections: recommendations (idle rules and user rules) and the leaderboard,
//! computed by `report::generate` in one pass over FOCUS Parquet parts laid out like the bucket
//! (`focus/billing_period=YYYY-MM/<job>-part-00000.parquet`, written by the normalize flow's own
//! partitioned sink), next to a real SQLite store loaded with the same files.

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use costkit_core::flow::normalize::focus_prefix;
use costkit_core::focus::FocusRecord;
use costkit_core::input::Progress;
use costkit_core::leaderboard::{ActionsFile, LeaderboardBuilder, TeamsFile};
use costkit_core::normalize::plan;
use costkit_core::optimize::idle::IdleOptions;
use costkit_core::report::{
    build, generate, render_csv, render_html, render_json, render_xlsx, EngineConfig,
    EngineSections, LeaderboardConfig, Report, ReportOptions, ReportPeriod, ReportScope,
};
use costkit_core::rules::config::Basis;
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;
use serde_json::Value;

const LEADERBOARD: &str = "tests/fixtures/leaderboard/focus.csv";
const IDLE: &str = "tests/fixtures/report/sections_idle.csv";

fn dec(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-05T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn write_parts(root: &Path, file: &str, job: &str) {
    common::write_focus_parts(root, file, job);
}

fn records(files: &[&str]) -> Vec<FocusRecord> {
    let paths: Vec<PathBuf> = files.iter().map(|f| common::repo_file(f)).collect();
    let mut out = Vec::new();
    for job in plan(&paths, None).expect("plan") {
        for r in job.open(&Progress::default()).expect("open") {
            out.push(r.expect("record"));
        }
    }
    out
}

fn leaderboard_config() -> LeaderboardConfig {
    let teams = TeamsFile::load(&common::repo_file("docs/teams.example.yaml")).expect("teams");
    let actions = ActionsFile::load(&common::repo_file("docs/actions.example.yaml"), &teams)
        .expect("actions");
    LeaderboardConfig { teams, actions }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: SqliteStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("bucket");
    write_parts(&root, LEADERBOARD, "lb");
    write_parts(&root, IDLE, "idle");
    let mut store = SqliteStore::in_memory().expect("store");
    common::load(&mut store, &[LEADERBOARD, IDLE]);
    Fixture {
        _dir: dir,
        root,
        store,
    }
}

fn engines(root: &Path) -> EngineConfig {
    common::sections_engines(root)
}

fn report(f: &Fixture, engines: &EngineConfig) -> Report {
    generate(
        &f.store,
        &ReportPeriod::parse("2024-10").expect("period"),
        &ReportScope::default(),
        &ReportOptions::default(),
        engines,
        now(),
    )
    .expect("report")
}

/// (source, subject, amount, window days, monthly savings, severity).
type Line<'a> = (&'a str, &'a str, Decimal, u32, Option<Decimal>, &'a str);

#[test]
fn idle_and_rule_findings_appear_with_exact_dollars() {
    let f = fixture();
    let r = report(&f, &engines(&f.root));
    let recs = r.recommendations.as_ref().expect("configured");
    let got: Vec<Line> = recs
        .iter()
        .map(|x| {
            (
                x.source.as_str(),
                x.subject.as_str(),
                x.amount,
                x.window_days,
                x.monthly_savings,
                x.severity,
            )
        })
        .collect();
    // The orphan volume bills 1.00 a day in a zone without instances: 30 days × 1.00 (the
    // last 30 days of data, 2 to 31 October). The idle address bills 0.12 a day: 3.60. The rules
    // see the same 30 days; a rule finding is money at stake, not a savings estimate.
    assert_eq!(
        got,
        vec![
            (
                "idle:ebs-unattached",
                "resource=vol-0orphan",
                dec("30"),
                30,
                Some(dec("30")),
                "info"
            ),
            (
                "rule:orphan-volumes",
                "resource=vol-0orphan",
                dec("30"),
                30,
                None,
                "critical"
            ),
            (
                "idle:eip-idle",
                "resource=eipalloc-0idle",
                dec("3.6"),
                30,
                Some(dec("3.6")),
                "info"
            ),
            (
                "rule:untagged-sandbox-networking",
                "resource=eipalloc-0idle",
                dec("3.6"),
                30,
                None,
                "info"
            ),
        ]
    );
    assert!(recs
        .iter()
        .all(|x| x.as_of.to_string() == "2024-10-31" && x.currency.is_some()));
    assert_eq!(recs[1].reasons, vec!["flagged for: delete-candidate"]);
    assert!(recs[0].reasons[0].starts_with("ebs-unattached: "));
}

#[test]
fn leaderboard_points_equal_the_leaderboard_command() {
    let f = fixture();
    let r = report(&f, &engines(&f.root));
    let section = r.leaderboard.as_ref().expect("leaderboard configured");
    // What `costkit leaderboard` computes (its default basis is effective) over the same records.
    let cfg = leaderboard_config();
    let mut b = LeaderboardBuilder::new(&cfg.teams, &cfg.actions, Basis::Effective);
    for rec in records(&[LEADERBOARD, IDLE]) {
        b.add(&rec);
    }
    let expected = b.finish().section();
    assert_eq!(section, &expected);
    // And the numbers are real: web's verified volume action earns points.
    let web = section
        .standings
        .iter()
        .find(|s| s.team == "web")
        .expect("web");
    assert!(web.points > 0, "{web:?}");
    assert_eq!(
        section.as_of.map(|d| d.to_string()).as_deref(),
        Some("2024-10-31")
    );
}

#[test]
fn the_sections_leave_the_totals_alone_and_render_everywhere() {
    let f = fixture();
    let with = report(&f, &engines(&f.root));
    let without = build(
        &f.store,
        &ReportPeriod::parse("2024-10").expect("period"),
        &ReportScope::default(),
        &ReportOptions::default(),
        EngineSections::default(),
        now(),
    )
    .expect("report");
    assert_eq!(with.totals, without.totals);
    assert_eq!(with.breakdowns, without.breakdowns);
    assert!(without.recommendations.is_none() && without.leaderboard.is_none());

    let json: Value = serde_json::from_slice(&render_json(&with).expect("json")).expect("parse");
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["recommendations"][0]["amount"], "30");
    assert_eq!(json["leaderboard"]["standings"][0]["rank"], 1);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_file("docs/report.schema.json")).expect("schema"),
    )
    .expect("schema json");
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let html = String::from_utf8(render_html(&with).expect("html")).expect("utf-8");
    assert!(html.contains("id=\"leaderboard\""), "leaderboard section");
    assert!(html.contains("rule:orphan-volumes"));
    assert!(html.contains("vol-0orphan"));
    let csv = String::from_utf8(render_csv(&with).expect("csv")).expect("utf-8");
    assert!(csv.contains(
        "recommendation,rule:orphan-volumes,resource=vol-0orphan,2024-10-31,USD,amount,30"
    ));
    assert!(csv.contains("leaderboard,team,web,2024-10-31,,points,"));
    let xlsx = render_xlsx(&with).expect("xlsx");
    assert!(xlsx.len() > 1000);
}

#[test]
fn problems_become_notes_never_silent_gaps() {
    let f = fixture();
    // Configured, but no FOCUS source: the sections stay null and a note says why.
    let mut cfg = engines(&f.root);
    cfg.focus = None;
    let r = report(&f, &cfg);
    assert!(r.recommendations.is_none() && r.leaderboard.is_none());
    assert!(
        r.notes.iter().any(|n| n.contains("no FOCUS source")),
        "{:?}",
        r.notes
    );

    // A FOCUS part that is not Parquet: nothing half-read, a note naming the object.
    let bad = f
        .root
        .join(focus_prefix("2024-10"))
        .join("broken-part-00000.parquet");
    std::fs::write(&bad, b"not parquet").expect("write");
    let r = report(&f, &engines(&f.root));
    assert!(r.recommendations.is_none() && r.leaderboard.is_none());
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("reading the FOCUS records"))
        .unwrap_or_else(|| panic!("a note: {:?}", r.notes));
    assert!(note.contains("broken-part-00000.parquet"), "{note}");
}

#[test]
fn configured_and_nothing_found_is_an_empty_list() {
    let f = fixture();
    let mut cfg = engines(&f.root);
    cfg.leaderboard = None;
    cfg.rules = None;
    // Thresholds no resource reaches.
    cfg.idle = Some(IdleOptions {
        min_monthly_savings: dec("1000"),
        ..IdleOptions::default()
    });
    let r = report(&f, &cfg);
    assert_eq!(r.recommendations, Some(Vec::new()));
    assert!(r.leaderboard.is_none());
}
