//! Benchmark, run by hand (never in CI): `cargo bench -p costkit-http --bench report`.
//!
//! A month of 1,000,000 FOCUS records (and 300,000 for the month before, for the change and the
//! forecast's history) generated in memory, with a `team` tag on three records in four. They are
//! aggregated and loaded into a SQLite store file like `costkit load` does (not timed), then the
//! timed part is what a request for `/reports/2024-09.html` does: open the store, build the
//! report with its engine sections (forecast on), render the HTML. Also timed: the same report as
//! XLSX. Target: HTML ≤ 2 s.
//!
//! The report reads the store's daily aggregates, so what matters is how many aggregate rows the
//! records make. Two shapes:
//!
//! * **typical**: 40 accounts, each in its home region, 25 services: about 1,000 (day, account,
//!   service, region) keys a day, ~30,000 aggregate rows a month, the same order as the 27,235
//!   rows the 1M-row generated CUR of `scripts/bench.sh` makes;
//! * **worst case**: 60 accounts, 200 services, 16 regions drawn at random: nearly every record
//!   is its own aggregate row (~1.2M rows).
//!
//! Also timed: the report with its FOCUS sections (`--idle`, the example rules file, the example
//! teams and actions): the same records written as FOCUS Parquet parts in the bucket layout
//! (`focus/billing_period=YYYY-MM/`, not timed), read back in one pass by the idle rules, the
//! rules engine and the leaderboard (timed, with the rest of the report and the HTML).

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use std::sync::Arc;

use costkit_core::aggregate::LoadBatch;
use costkit_core::flow::normalize::{focus_prefix, PartitionedSink};
use costkit_core::focus::{ChargeCategory, FocusRecord, ServiceCategory};
use costkit_core::leaderboard::{ActionsFile, TeamsFile};
use costkit_core::local::DirBlobStore;
use costkit_core::money::Currency;
use costkit_core::optimize::idle::IdleOptions;
use costkit_core::output::{FocusSink, OutputColumns};
use costkit_core::report::{
    generate, render_html, render_xlsx, BlobFocusSource, EngineConfig, LeaderboardConfig,
    ReportOptions, ReportPeriod, ReportScope,
};
use costkit_core::rules::RulesFile;
use costkit_core::store::{CostStore, LoadMeta};
use costkit_core::text::Text;
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

/// A deterministic pseudo-random sequence (no dependency needed for a benchmark's data).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const TEAMS: [&str; 8] = [
    "web", "data", "ml", "platform", "search", "payments", "mobile", "infra",
];

/// Key space of the generated records.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    accounts: u64,
    services: u64,
    regions: u64,
    /// Regions drawn at random (worst case) or each account in its home region.
    random_region: bool,
}

#[allow(clippy::too_many_arguments)]
fn month(
    batch: &mut LoadBatch,
    rng: &mut Lcg,
    shape: Shape,
    year: i32,
    m: u32,
    days: usize,
    records: usize,
    focus: &mut dyn FocusSink,
) {
    let start = Utc
        .with_ymd_and_hms(year, m, 1, 0, 0, 0)
        .single()
        .expect("month start");
    let services: Vec<String> = (0..shape.services)
        .map(|i| format!("Service {i:03}"))
        .collect();
    let regions: Vec<String> = (0..shape.regions)
        .map(|i| format!("region-{i:02}"))
        .collect();
    for i in 0..records {
        let day = (i % days) as i64;
        let s = (rng.next() % shape.services) as usize;
        let acct = rng.next() % shape.accounts;
        let region = if shape.random_region {
            rng.next() % shape.regions
        } else {
            acct % shape.regions
        };
        // Skewed costs with sub-cent digits, like real line items.
        let cost = Decimal::new((rng.next() % 5_000_000) as i64 * (1 + (s as i64 % 7)), 7);
        let mut r = FocusRecord {
            provider_name: Text::from("AWS"),
            billing_account_id: Text::from("111122223333"),
            billing_currency: Currency::new("USD"),
            billing_period_start: start,
            service_name: Text::from(services[s].as_str()),
            service_category: ServiceCategory::Compute,
            charge_category: ChargeCategory::Usage,
            charge_period_start: start + Duration::days(day),
            charge_period_end: start + Duration::days(day + 1),
            billed_cost: cost,
            effective_cost: cost,
            list_cost: cost,
            contracted_cost: cost,
            region_id: Some(Text::from(regions[region as usize].as_str())),
            sub_account_id: Some(Text::from(format!("{acct:012}"))),
            ..FocusRecord::default()
        };
        if !i.is_multiple_of(4) {
            r.tags.insert("team", TEAMS[(rng.next() % 8) as usize]);
        }
        batch.add(&r);
        focus.write(&r).expect("focus part");
    }
}

/// `cargo bench -p costkit-http --bench report -- typical` (or `worst`) runs one shape only.
fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for shape in [
        Shape {
            name: "typical",
            accounts: 40,
            services: 25,
            regions: 4,
            random_region: false,
        },
        Shape {
            name: "worst case",
            accounts: 60,
            services: 200,
            regions: 16,
            random_region: true,
        },
    ] {
        if only.is_empty() || only.iter().any(|o| shape.name.starts_with(o.as_str())) {
            run(shape);
        }
    }
}

fn run(shape: Shape) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let t = Instant::now();
    let mut batch = LoadBatch::default();
    let mut rng = Lcg(42);
    let parts = dir.path().join("parts");
    let mut focus = PartitionedSink::new(parts, OutputColumns::new(Vec::new()));
    month(
        &mut batch, &mut rng, shape, 2024, 8, 31, 300_000, &mut focus,
    );
    month(
        &mut batch, &mut rng, shape, 2024, 9, 30, 1_000_000, &mut focus,
    );
    let bucket = dir.path().join("bucket");
    for (p, file) in focus.close().expect("parts") {
        let dest = bucket
            .join(focus_prefix(&p))
            .join("bench-part-00000.parquet");
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::rename(&file, &dest).expect("move");
    }
    let mut store = SqliteStore::open(&path).expect("store");
    store
        .replace(
            &batch,
            &LoadMeta {
                dialect: "bench".into(),
                files: vec!["generated".into()],
                loaded_at: "2024-10-01T00:00:00Z".into(),
            },
        )
        .expect("load");
    drop(store);
    println!(
        "[{}] setup: 1,300,000 FOCUS records aggregated and loaded in {:.1} s",
        shape.name,
        t.elapsed().as_secs_f64()
    );

    let period = ReportPeriod::parse("2024-09").expect("period");
    let options = ReportOptions {
        tag_keys: vec!["team".into()],
        ..ReportOptions::default()
    };
    let engines = EngineConfig::default();
    // Mid-month: the forecast has the rest of the month to forecast.
    let now = Utc
        .with_ymd_and_hms(2024, 9, 20, 12, 0, 0)
        .single()
        .expect("now");
    let mut best = [f64::MAX; 4];
    let mut sizes = (0, 0, 0);
    for _ in 0..3 {
        let t0 = Instant::now();
        let store = SqliteStore::open(&path).expect("open");
        let r = generate(
            &store,
            &period,
            &ReportScope::default(),
            &options,
            &engines,
            now,
        )
        .expect("report");
        let t1 = Instant::now();
        let html = render_html(&r).expect("html");
        let t2 = Instant::now();
        let xlsx = render_xlsx(&r).expect("xlsx");
        let t3 = Instant::now();
        best[0] = best[0].min((t1 - t0).as_secs_f64());
        best[1] = best[1].min((t2 - t1).as_secs_f64());
        best[2] = best[2].min((t2 - t0).as_secs_f64());
        best[3] = best[3].min((t3 - t2).as_secs_f64());
        sizes = (
            html.len(),
            xlsx.len(),
            store.daily(&Default::default()).expect("daily").len(),
        );
    }
    let n = shape.name;
    println!(
        "[{n}] store: {} daily aggregate rows for the two months",
        sizes.2
    );
    println!(
        "[{n}] report 2024-09 (1,000,000 records): build with engines {:.3} s, HTML render {:.3} s ({} bytes)",
        best[0], best[1], sizes.0
    );
    println!(
        "[{n}] HTML report end to end (open store, build, render), best of 3: {:.3} s (target: at most 2 s)",
        best[2]
    );
    println!("[{n}] XLSX render: {:.3} s ({} bytes)", best[3], sizes.1);

    // With the FOCUS sections: idle rules, the example rules, the example leaderboard.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let teams = TeamsFile::load(&repo.join("docs/teams.example.yaml")).expect("teams");
    let actions =
        ActionsFile::load(&repo.join("docs/actions.example.yaml"), &teams).expect("actions");
    let rules = RulesFile::load(&repo.join("docs/rules.example.yaml")).expect("rules");
    let n_rules = rules.rules.len();
    let sections = EngineConfig {
        rules: Some(rules),
        idle: Some(IdleOptions::default()),
        leaderboard: Some(LeaderboardConfig { teams, actions }),
        focus: Some(Arc::new(BlobFocusSource::new(
            Arc::new(DirBlobStore::new(&bucket)),
            None,
        ))),
        ..EngineConfig::default()
    };
    // The read alone (download, Parquet decode, FOCUS checks and reconciliation), into a sink
    // that drops the records: what the sections' pass costs before any engine runs.
    struct Drop;
    impl FocusSink for Drop {
        fn write(&mut self, _: &FocusRecord) -> Result<(), costkit_core::output::OutputError> {
            Ok(())
        }
        fn finish(self: Box<Self>) -> Result<u64, costkit_core::output::OutputError> {
            Ok(0)
        }
    }
    let source = BlobFocusSource::new(Arc::new(DirBlobStore::new(&bucket)), None);
    let mut read_best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        let n = costkit_core::report::FocusSource::read(
            &source,
            &["2024-07".into(), "2024-08".into(), "2024-09".into()],
            &mut Drop,
        )
        .expect("read");
        assert_eq!(n, 1_300_000);
        read_best = read_best.min(t0.elapsed().as_secs_f64());
    }
    println!(
        "[{n}] reading the 1,300,000 FOCUS records back from Parquet alone, best of 3: {read_best:.3} s"
    );
    let mut best = f64::MAX;
    let mut found = (0, 0);
    for _ in 0..3 {
        let t0 = Instant::now();
        let store = SqliteStore::open(&path).expect("open");
        let r = generate(
            &store,
            &period,
            &ReportScope::default(),
            &options,
            &sections,
            now,
        )
        .expect("report");
        let html = render_html(&r).expect("html");
        best = best.min(t0.elapsed().as_secs_f64());
        assert!(!html.is_empty());
        found = (
            r.recommendations.as_ref().map_or(0, Vec::len),
            r.leaderboard.as_ref().map_or(0, |l| l.standings.len()),
        );
    }
    println!(
        "[{n}] HTML report with the FOCUS sections (idle rules, {n_rules} rules, leaderboard over \
         the 1,300,000 records of 2024-07..09 read from Parquet in one pass), best of 3: {best:.3} s \
         ({} recommendations, {} teams)",
        found.0, found.1
    );
}
