//! The report engines every shell builds (`costkit_shell::report::engines`): the rules, teams and
//! actions files from the blob store, and the FOCUS records from the bucket's current deliveries
//! through `flow::focus::read_current`. The deliveries are made by the real normalize flow over
//! a directory as the blob store, in-memory state and a real SQLite store; a month delivered twice
//! is counted once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (developers guide)

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use costkit_core::flow::messages::NormalizeJob;
use costkit_core::local::{DirBlobStore, MemoryQueue, MemoryState};
use costkit_core::ports::{BlobStore, StateStore};
use costkit_core::report::{generate, ReportOptions, ReportPeriod, ReportScope};
use costkit_shell::report::{engines, ReportFiles};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

const FILES: [&str; 2] = [
    "tests/fixtures/leaderboard/focus.csv",
    "tests/fixtures/report/sections_idle.csv",
];

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread")]
async fn report_sections_come_from_the_current_delivery_once() {
    let dir = tempfile::tempdir().unwrap();
    let blobs: Arc<dyn BlobStore> = Arc::new(DirBlobStore::new(dir.path().join("bucket")));
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::default());
    let mut store = SqliteStore::open(&dir.path().join("costkit.db")).unwrap();
    let analysis = MemoryQueue::default();
    let mut keys = Vec::new();
    for f in FILES {
        let key = format!(
            "exports/{}",
            Path::new(f).file_name().unwrap().to_str().unwrap()
        );
        blobs
            .put_bytes(&key, &std::fs::read(repo(f)).unwrap(), "text/csv")
            .unwrap();
        keys.push(key);
    }
    // The same months delivered twice: the second delivery owns the slices, the first one's
    // FOCUS files stay in the bucket, superseded.
    for (job, produced) in [
        ("d1", "2024-11-02T00:00:00Z"),
        ("d2", "2024-11-03T00:00:00Z"),
    ] {
        let job = NormalizeJob {
            job_id: job.into(),
            source: "test".into(),
            dialect: None,
            parts: vec![keys.clone()],
            part: 0,
            produced_at: at(produced),
        };
        costkit_shell::normalize(&job, &*blobs, &*state, &mut store, &analysis).unwrap();
    }
    for (name, file) in [
        (
            "config/rules.yaml",
            "tests/fixtures/report/sections_rules.yaml",
        ),
        ("config/teams.yaml", "docs/teams.example.yaml"),
        ("config/actions.yaml", "docs/actions.example.yaml"),
    ] {
        blobs
            .put_bytes(name, &std::fs::read(repo(file)).unwrap(), "text/yaml")
            .unwrap();
    }
    let files = ReportFiles {
        idle: true,
        ..ReportFiles::default()
    };
    let config = engines(
        blobs.clone(),
        Some(state.clone()),
        "config/monitors.yaml",
        &files,
    )
    .await
    .unwrap();
    assert!(config.problems.is_empty(), "{:?}", config.problems);
    let report = generate(
        &store,
        &ReportPeriod::parse("2024-10").unwrap(),
        &ReportScope::default(),
        &ReportOptions::default(),
        &config,
        at("2024-11-05T12:00:00Z"),
    )
    .unwrap();
    let recs = report.recommendations.as_ref().expect("configured");
    let amounts: Vec<(&str, Decimal)> =
        recs.iter().map(|r| (r.source.as_str(), r.amount)).collect();
    // 30 days × 1.00 and × 0.12: once, although two deliveries' files are in the bucket.
    assert_eq!(
        amounts,
        vec![
            ("idle:ebs-unattached", Decimal::from(30)),
            ("rule:orphan-volumes", Decimal::from(30)),
            ("idle:eip-idle", "3.6".parse().unwrap()),
            ("rule:untagged-sandbox-networking", "3.6".parse().unwrap()),
        ]
    );
    let lb = report.leaderboard.as_ref().expect("leaderboard");
    assert!(lb.standings.iter().any(|s| s.points > 0), "{lb:?}");

    // A broken rules file: the report still comes, with a note instead of rule findings.
    blobs
        .put_bytes(
            "config/rules.yaml",
            b"version: 1\nrules:\n  - name: x\n    select: nope\n",
            "text/yaml",
        )
        .unwrap();
    let config = engines(
        blobs.clone(),
        Some(state.clone()),
        "config/monitors.yaml",
        &files,
    )
    .await
    .unwrap();
    assert!(config.rules.is_none());
    assert!(
        config
            .problems
            .iter()
            .any(|p| p.starts_with("rule findings not computed: config/rules.yaml")),
        "{:?}",
        config.problems
    );
}

#[test]
fn report_files_come_from_the_environment_with_defaults() {
    let d = ReportFiles::default();
    assert_eq!(d.rules_key, "config/rules.yaml");
    assert_eq!(d.teams_key, "config/teams.yaml");
    assert_eq!(d.actions_key, "config/actions.yaml");
    assert!(!d.idle);
}
