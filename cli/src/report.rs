//! `costkit report`: the period report of the local store as a file (HTML, XLSX, CSV or JSON), and
//! the report settings `costkit serve` shares with it. Both call `costkit_core::report::generate`,
//! like the report function in AWS.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use costkit_core::analysis::anomaly::monitor::MonitorFile;
use costkit_core::budget::BudgetFile;
use costkit_core::leaderboard::{ActionsFile, TeamsFile};
use costkit_core::local::DirBlobStore;
use costkit_core::optimize::idle::IdleOptions;
use costkit_core::report::{
    self, BlobFocusSource, EngineConfig, FocusSource, LeaderboardConfig, ReportOptions,
    ReportPeriod, ReportScope,
};
use costkit_core::rules::RulesFile;
use rust_decimal::Decimal;

/// What reports include: shared by `costkit report` and `costkit serve`.
#[derive(Debug, Args)]
pub struct ReportSettings {
    /// Budgets file to show in reports (schema: docs/budgets.schema.json).
    #[arg(long)]
    pub budgets: Option<PathBuf>,

    /// Tag keys to break reports down by (repeat or separate with commas).
    #[arg(long = "tag", value_name = "KEY", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Anomaly monitors file (docs/anomalies.md): fills the report's anomalies section.
    #[arg(long)]
    pub monitors: Option<PathBuf>,

    /// Leave the forecast section out (it is computed from the store by default).
    #[arg(long)]
    pub no_forecast: bool,

    /// A directory laid out like the bucket (`focus/billing_period=YYYY-MM/*.parquet`, as the
    /// normalize flow writes it): the FOCUS records the rules, idle rules and leaderboard read
    /// (and, for `costkit serve`, what `GET /focus/{YYYY-MM}.csv|.parquet` serves).
    #[arg(long)]
    pub focus_dir: Option<PathBuf>,

    /// Billing periods of FOCUS records read for those sections: the report's month and the
    /// N - 1 before it.
    #[arg(long, default_value_t = report::DEFAULT_FOCUS_MONTHS, value_parser = clap::value_parser!(u32).range(1..=24))]
    pub focus_months: u32,

    /// User rules file (docs/rules.schema.json): its findings join the recommendations section.
    #[arg(long)]
    pub rules: Option<PathBuf>,

    /// Run the idle-resource rules (as `costkit recommend idle`, without metrics) for the
    /// recommendations section.
    #[arg(long)]
    pub idle: bool,

    /// Idle rules: days without instance hours after which a zone's instances count as stopped.
    #[arg(long, default_value_t = 7, requires = "idle")]
    pub idle_stopped_days: i64,

    /// Idle rules: GB per 30 days under which a NAT gateway counts as idle.
    #[arg(long, default_value = "10", requires = "idle")]
    pub idle_nat_min_gb: Decimal,

    /// Idle rules: days a snapshot must have been billed to count as old.
    #[arg(long, default_value_t = 90, requires = "idle")]
    pub idle_snapshot_days: i64,

    /// Idle rules: leave out recommendations saving less than this a month.
    #[arg(long, default_value = "0", requires = "idle")]
    pub idle_min_savings: Decimal,

    /// Teams file (docs/teams.schema.json) for the leaderboard section (with --actions).
    #[arg(long, requires = "actions")]
    pub teams: Option<PathBuf>,

    /// Actions file (docs/actions.schema.json): recommendations marked done (with --teams).
    #[arg(long, requires = "teams")]
    pub actions: Option<PathBuf>,
}

impl ReportSettings {
    /// The report options and engine settings these flags ask for.
    pub fn load(&self) -> Result<(ReportOptions, EngineConfig)> {
        if self.tags.iter().any(|t| t.trim().is_empty()) {
            bail!("--tag takes tag keys, e.g. --tag team,env");
        }
        let mut options = ReportOptions {
            tag_keys: self.tags.clone(),
            ..ReportOptions::default()
        };
        if let Some(b) = &self.budgets {
            options.budgets = BudgetFile::load(b)?.budgets;
        }
        let leaderboard = match (&self.teams, &self.actions) {
            (Some(t), Some(a)) => {
                let teams = TeamsFile::load(t)?;
                let actions = ActionsFile::load(a, &teams)?;
                Some(LeaderboardConfig { teams, actions })
            }
            _ => None,
        };
        let focus: Option<Arc<dyn FocusSource>> = match &self.focus_dir {
            Some(dir) => {
                if !dir.is_dir() {
                    bail!("--focus-dir {}: not a directory", dir.display());
                }
                Some(Arc::new(BlobFocusSource::new(
                    Arc::new(DirBlobStore::new(dir)),
                    None,
                )))
            }
            None => None,
        };
        let engines = EngineConfig {
            monitors: match &self.monitors {
                Some(p) => Some(MonitorFile::load(p)?),
                None => None,
            },
            forecast: !self.no_forecast,
            rules: match &self.rules {
                Some(p) => Some(RulesFile::load(p)?),
                None => None,
            },
            idle: self.idle.then(|| IdleOptions {
                stopped_days: self.idle_stopped_days,
                nat_min_gb_per_month: self.idle_nat_min_gb,
                snapshot_min_age_days: self.idle_snapshot_days,
                min_monthly_savings: self.idle_min_savings,
                ..IdleOptions::default()
            }),
            leaderboard,
            focus,
            focus_months: self.focus_months,
            problems: Vec::new(),
        };
        if engines.needs_focus() && engines.focus.is_none() {
            bail!("--rules, --idle and --teams/--actions read FOCUS records: give --focus-dir");
        }
        Ok((options, engines))
    }
}

/// Report file formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReportFormat {
    /// Self-contained HTML page with SVG charts.
    Html,
    /// Excel workbook with native charts.
    Xlsx,
    /// One long CSV table.
    Csv,
    /// JSON (docs/report.schema.json).
    Json,
}

/// `costkit report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The billing period, YYYY-MM.
    #[arg(long)]
    period: String,

    /// Output format (default: from the output file's extension).
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,

    /// Output file.
    #[arg(short, long)]
    output: PathBuf,

    /// Only this provider (ProviderName, e.g. AWS).
    #[arg(long)]
    provider: Option<String>,

    /// The SQLite store file.
    #[arg(long, env = "COSTKIT_STORE", default_value = "costkit.db")]
    store: PathBuf,

    /// Build the report as of this instant (default: now).
    #[arg(long, value_parser = crate::budget::parse_now)]
    now: Option<DateTime<Utc>>,

    #[command(flatten)]
    settings: ReportSettings,
}

/// Runs `costkit report`.
pub fn run(a: &ReportArgs) -> Result<()> {
    let format = match a.format {
        Some(f) => f,
        None => match a
            .output
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("html") | Some("htm") => ReportFormat::Html,
            Some("xlsx") => ReportFormat::Xlsx,
            Some("csv") => ReportFormat::Csv,
            Some("json") => ReportFormat::Json,
            _ => bail!(
                "{}: give --format html|xlsx|csv|json or an output name ending in one of them",
                a.output.display()
            ),
        },
    };
    let period = ReportPeriod::parse(&a.period)?;
    let scope = ReportScope {
        provider: a.provider.clone(),
    };
    let (options, engines) = a.settings.load()?;
    let store = crate::commands::open_store(&a.store)?;
    let now = a.now.unwrap_or_else(Utc::now);
    let r = report::generate(&store, &period, &scope, &options, &engines, now)?;
    let bytes = match format {
        ReportFormat::Html => report::render_html(&r)?,
        ReportFormat::Xlsx => report::render_xlsx(&r)?,
        ReportFormat::Csv => report::render_csv(&r)?,
        ReportFormat::Json => report::render_json(&r)?,
    };
    // Written next to the target and renamed, so a failed run leaves no partial file.
    let dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("{}: cannot write here", dir.display()))?;
    std::io::Write::write_all(&mut tmp, &bytes)
        .with_context(|| format!("writing {}", a.output.display()))?;
    tmp.persist(&a.output)
        .with_context(|| format!("writing {}", a.output.display()))?;
    eprintln!(
        "costkit report: {} ({} bytes)",
        a.output.display(),
        bytes.len()
    );
    Ok(())
}
