//! `costkit report` end to end: a loaded store, the report written as JSON, HTML, XLSX and CSV
//! files; totals equal the fixture's; bad arguments are clear errors and leave no file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn costkit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_costkit"));
    c.env_remove("COSTKIT_STORE");
    c
}

fn fixture(rel: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    p.display().to_string()
}

#[test]
fn report_files_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let out = costkit()
        .args([
            "load",
            "--store",
            "c.db",
            &fixture("tests/fixtures/cli/focus12_two_months.csv"),
        ])
        .current_dir(d)
        .output()
        .expect("load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["r.json", "r.html", "r.xlsx", "r.csv"] {
        let out = costkit()
            .args([
                "report", "--store", "c.db", "--period", "2024-09", "-o", name,
            ])
            .args(["--now", "2024-10-02T00:00:00Z"])
            .current_dir(d)
            .output()
            .expect("report");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("r.json")).expect("json")).expect("parse");
    // September of the fixture: 27.65 USD billed.
    assert_eq!(json["totals"][0]["billed"], "27.65");
    // The forecast engine runs by default. The fixture's September has data through the 3rd and
    // its history is three days: not enough to forecast, so the report says so instead of
    // numbers, and keeps the exact actual.
    let fc = &json["forecast"][0];
    assert_eq!(fc["actual"], "27.65");
    assert_eq!(fc["status"], "insufficient-history");
    assert!(fc["total"].is_null() && fc["daily"].as_array().expect("daily").is_empty());
    assert!(fc["note"]
        .as_str()
        .expect("note")
        .starts_with("not enough history"));
    assert!(json["anomalies"].is_null(), "no monitors: not configured");
    let html = std::fs::read_to_string(d.join("r.html")).expect("html");
    assert!(html.contains("27.65") && html.contains("<svg"));
    assert_eq!(&std::fs::read(d.join("r.xlsx")).expect("xlsx")[..2], b"PK");
    let csv = std::fs::read_to_string(d.join("r.csv")).expect("csv");
    assert!(csv.contains("total,,,,USD,billed,27.65"));

    // With months of daily history the forecast is shown: the rest of September on top of the
    // exact actual, inside its own ranges.
    let out = costkit()
        .args(["load", "--store", "s.db"])
        .arg(fixture("tests/fixtures/cli/focus12_steady_daily.csv"))
        .current_dir(d)
        .output()
        .expect("load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = costkit()
        .args([
            "report", "--store", "s.db", "--period", "2024-09", "-o", "s.json",
        ])
        .args(["--now", "2024-10-02T00:00:00Z"])
        .current_dir(d)
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("s.json")).expect("json")).expect("parse");
    let fc = &json["forecast"][0];
    assert_eq!(fc["status"], "ok", "{fc}");
    let num = |v: &serde_json::Value| v.as_str().expect("amount").parse::<f64>().expect("number");
    let (actual, total) = (num(&fc["actual"]), num(&fc["total"]));
    assert_eq!(
        fc["daily"].as_array().expect("daily").len(),
        11,
        "09-20 to 09-30"
    );
    for i in fc["intervals"].as_array().expect("intervals") {
        assert!(
            actual <= num(&i["lower"]) && num(&i["lower"]) <= total && total <= num(&i["upper"]),
            "{fc}"
        );
    }

    // An unknown extension without --format, and a period without data: errors, no file.
    let out = costkit()
        .args([
            "report", "--store", "c.db", "--period", "2024-09", "-o", "r.pdf",
        ])
        .current_dir(d)
        .output()
        .expect("report");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
    let out = costkit()
        .args([
            "report", "--store", "c.db", "--period", "2030-01", "-o", "x.html",
        ])
        .current_dir(d)
        .output()
        .expect("report");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cost data for 2030-01"));
    assert!(!d.join("x.html").exists());
}

/// Writes `files` as the normalize flow lays FOCUS out in the bucket:
/// `root/focus/billing_period=P/<job>-part-00000.parquet`, one part per file and period.
fn bucket_layout(root: &Path, files: &[&str]) {
    use costkit_core::flow::normalize::{focus_prefix, PartitionedSink};
    use costkit_core::output::OutputColumns;
    for (i, f) in files.iter().enumerate() {
        let tmp = tempfile::tempdir().expect("dir");
        let jobs = costkit_core::normalize::plan(&[PathBuf::from(fixture(f))], None).expect("plan");
        let columns =
            OutputColumns::new(costkit_core::pipeline::extension_columns(&jobs).expect("columns"));
        let mut sink = PartitionedSink::new(tmp.path().to_path_buf(), columns);
        costkit_core::pipeline::run(
            &jobs,
            &costkit_core::input::Progress::default(),
            Some(&mut sink),
            None,
            &mut || {},
        )
        .expect("normalize");
        for (period, path) in sink.close().expect("close") {
            let dest = root
                .join(focus_prefix(&period))
                .join(format!("job{i}-part-00000.parquet"));
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

fn run_ok(c: &mut Command) -> Vec<u8> {
    let out = c.output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn report_json_carries_recommendations_and_the_leaderboard() {
    const FILES: [&str; 2] = [
        "tests/fixtures/leaderboard/focus.csv",
        "tests/fixtures/report/sections_idle.csv",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    run_ok(
        costkit()
            .args(["load", "--store", "c.db"])
            .args(FILES.map(fixture))
            .current_dir(d),
    );
    bucket_layout(&d.join("bucket"), &FILES);
    let report = |name: &str, extra: &[String]| -> serde_json::Value {
        run_ok(
            costkit()
                .args([
                    "report", "--store", "c.db", "--period", "2024-10", "-o", name,
                ])
                .args(["--now", "2024-11-05T12:00:00Z"])
                .args(extra)
                .current_dir(d),
        );
        serde_json::from_slice(&std::fs::read(d.join(name)).expect("read")).expect("json")
    };
    let plain = report("plain.json", &[]);
    assert!(plain["recommendations"].is_null() && plain["leaderboard"].is_null());
    let teams = fixture("docs/teams.example.yaml");
    let actions = fixture("docs/actions.example.yaml");
    let full = report(
        "full.json",
        &[
            "--focus-dir".into(),
            "bucket".into(),
            "--rules".into(),
            fixture("tests/fixtures/report/sections_rules.yaml"),
            "--idle".into(),
            "--teams".into(),
            teams.clone(),
            "--actions".into(),
            actions.clone(),
        ],
    );
    // The sections add, they never change the sums.
    assert_eq!(full["totals"], plain["totals"]);
    assert_eq!(full["breakdowns"], plain["breakdowns"]);
    let recs = full["recommendations"].as_array().expect("recommendations");
    let sources: Vec<&str> = recs
        .iter()
        .map(|r| r["source"].as_str().expect("source"))
        .collect();
    assert_eq!(
        sources,
        [
            "idle:ebs-unattached",
            "rule:orphan-volumes",
            "idle:eip-idle",
            "rule:untagged-sandbox-networking"
        ]
    );
    assert_eq!(recs[0]["monthly_savings"], "30");
    assert_eq!(recs[1]["amount"], "30");
    assert_eq!(recs[1]["severity"], "critical");
    assert_eq!(recs[2]["amount"], "3.6");

    // The leaderboard is `costkit leaderboard`'s over the same records.
    let lb: serde_json::Value = serde_json::from_slice(&run_ok(
        costkit()
            .args(["leaderboard", "--teams", &teams, "--actions", &actions])
            .args(FILES.map(fixture))
            .args(["--format", "json"]),
    ))
    .expect("json");
    assert_eq!(full["leaderboard"], lb["section"]);
    assert!(
        lb["section"]["standings"][0]["points"]
            .as_u64()
            .expect("points")
            > 0
    );

    // Sections that read FOCUS records without a FOCUS source: a clear error, no file.
    let out = costkit()
        .args([
            "report", "--store", "c.db", "--period", "2024-10", "-o", "x.json", "--idle",
        ])
        .current_dir(d)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--focus-dir"));
    assert!(!d.join("x.json").exists());
}
