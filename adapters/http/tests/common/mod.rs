//! Shared test helpers: real SQLite stores loaded from the repository's fixture files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use costkit_core::aggregate::LoadBatch;
use costkit_core::input::Progress;
use costkit_core::store::{CostStore, Filter, LoadMeta};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

/// A file of the repository.
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// The two-month FOCUS fixture (AWS, August and September 2024).
pub const TWO_MONTHS: &str = "tests/fixtures/cli/focus12_two_months.csv";
/// Daily AWS spend from April to 19 September 2024 (weekdays about 100, weekends about 60): enough
/// history for the forecast to be shown.
pub const STEADY: &str = "tests/fixtures/cli/focus12_steady_daily.csv";
/// The FOCUS 1.0 multi-provider sample (AWS, Azure, GCP, OCI).
pub const MULTI: &str =
    "samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv";
/// An Azure EA amortized export.
pub const AZURE_EA: &str = "samples/azure/ea-amortized/finops-toolkit_EA_AmortizedCost_Small.csv";
/// A legacy AWS CUR export.
pub const AWS_CUR: &str =
    "samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv";

/// Normalizes `files` and loads them into `store`, as `costkit load` does.
pub fn load(store: &mut dyn CostStore, files: &[&str]) {
    let paths: Vec<PathBuf> = files.iter().map(|f| repo_file(f)).collect();
    let jobs = costkit_core::normalize::plan(&paths, None).expect("plan");
    let mut batch = LoadBatch::default();
    costkit_core::pipeline::run(
        &jobs,
        &Progress::default(),
        None,
        Some(&mut batch),
        &mut || {},
    )
    .expect("normalize");
    let meta = LoadMeta {
        dialect: "test".into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        loaded_at: "2025-01-01T00:00:00Z".into(),
    };
    store.replace(&batch, &meta).expect("load");
}

/// A SQLite store file in `dir` loaded with `files`.
pub fn store_file(dir: &Path, files: &[&str]) -> PathBuf {
    let path = dir.join("costkit.db");
    let mut s = SqliteStore::open(&path).expect("open");
    load(&mut s, files);
    path
}

/// Σ billed and Σ effective of one currency straight from the store's rows.
pub fn store_sums(store: &dyn CostStore, filter: &Filter, currency: &str) -> (Decimal, Decimal) {
    let rows = store.daily(filter).expect("daily");
    let mut b = Decimal::ZERO;
    let mut e = Decimal::ZERO;
    for r in rows.iter().filter(|r| r.key.currency.as_str() == currency) {
        b += r.sums.billed;
        e += r.sums.effective;
    }
    (b.normalize(), e.normalize())
}

/// The billing periods in the store.
pub fn periods(store: &dyn CostStore) -> Vec<String> {
    let mut p: Vec<String> = store
        .daily(&Filter::default())
        .expect("daily")
        .into_iter()
        .map(|r| r.slice.billing_period)
        .collect();
    p.sort();
    p.dedup();
    p
}

/// Normalizes `file` and writes its records as the normalize flow does: one Parquet part per
/// billing period under `root/focus/billing_period=P/<job>-part-00000.parquet`.
pub fn write_focus_parts(root: &Path, file: &str, job: &str) {
    use costkit_core::flow::normalize::{focus_prefix, PartitionedSink};
    use costkit_core::output::OutputColumns;
    let tmp = tempfile::tempdir().expect("dir");
    let jobs = costkit_core::normalize::plan(&[repo_file(file)], None).expect("plan");
    let columns =
        OutputColumns::new(costkit_core::pipeline::extension_columns(&jobs).expect("columns"));
    let mut sink = PartitionedSink::new(tmp.path().to_path_buf(), columns);
    costkit_core::pipeline::run(
        &jobs,
        &Progress::default(),
        Some(&mut sink),
        None,
        &mut || {},
    )
    .expect("normalize");
    for (period, path) in sink.close().expect("close") {
        let dest = root
            .join(focus_prefix(&period))
            .join(format!("{job}-part-00000.parquet"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&path, &dest).expect("copy");
    }
}

/// The report-sections fixture: FOCUS files whose October 2024 has idle resources, rule matches
/// and the example leaderboard's actions.
pub const SECTIONS_FILES: [&str; 2] = [
    "tests/fixtures/leaderboard/focus.csv",
    "tests/fixtures/report/sections_idle.csv",
];

/// Engines with the sections fixture's rules, the idle rules and the example leaderboard over
/// the FOCUS parts under `root`.
pub fn sections_engines(root: &Path) -> costkit_core::report::EngineConfig {
    use costkit_core::leaderboard::{ActionsFile, TeamsFile};
    let teams = TeamsFile::load(&repo_file("docs/teams.example.yaml")).expect("teams");
    let actions =
        ActionsFile::load(&repo_file("docs/actions.example.yaml"), &teams).expect("actions");
    costkit_core::report::EngineConfig {
        rules: Some(
            costkit_core::rules::RulesFile::load(&repo_file(
                "tests/fixtures/report/sections_rules.yaml",
            ))
            .expect("rules"),
        ),
        idle: Some(costkit_core::optimize::idle::IdleOptions::default()),
        leaderboard: Some(costkit_core::report::LeaderboardConfig { teams, actions }),
        focus: Some(std::sync::Arc::new(
            costkit_core::report::BlobFocusSource::new(
                std::sync::Arc::new(costkit_core::local::DirBlobStore::new(root)),
                None,
            ),
        )),
        ..costkit_core::report::EngineConfig::default()
    }
}
