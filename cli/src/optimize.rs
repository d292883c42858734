//! `costkit recommend commitments|idle <files...>`: commitment recommendations and idle resources
//! from billing files, through the same normalizers (and reconciliation) as `normalize`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::focus::FocusRecord;
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect};
use costkit_core::optimize::commitments::{
    recommend, CommitmentOptions, CommitmentType, Resolution, SeriesBuilder,
};
use costkit_core::optimize::idle::{IdleAnalyzer, IdleOptions};
use costkit_core::optimize::metrics::Metrics;
use costkit_core::optimize::simulate::{Payment, Point, Terms};
use costkit_core::output::{FocusSink, OutputError};
use costkit_core::pipeline;
use rust_decimal::Decimal;

use crate::commands::cents;
use crate::progress::Bar;

/// `costkit recommend ...`.
#[derive(Debug, Subcommand)]
pub enum RecommendCommand {
    /// Savings Plan / Reserved Instance / CUD purchase levels simulated hour by hour.
    Commitments(CommitmentArgs),
    /// Idle and underused resources: unattached volumes, idle addresses, quiet NAT gateways,
    /// old snapshots, storage of stopped instances, and rightsizing from a metrics file.
    Idle(IdleArgs),
}

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Readable table, amounts rounded to cents.
    Table,
    /// JSON with exact amounts and the findings the notify flow delivers.
    Json,
}

/// Files to read.
#[derive(Debug, Args)]
pub struct Inputs {
    /// FOCUS files or billing exports (any dialect `normalize` reads).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Force the input dialect instead of detecting it.
    #[arg(long = "from", value_name = "DIALECT", value_parser = crate::commands::parse_dialect)]
    pub from: Option<Dialect>,
}

#[derive(Debug, Args)]
pub struct CommitmentArgs {
    #[command(flatten)]
    input: Inputs,
    /// Commitment types: savings-plan (sp), reserved-instance (ri), committed-use (cud).
    #[arg(long = "type", value_delimiter = ',', default_value = "savings-plan", value_parser = parse_type)]
    types: Vec<CommitmentType>,
    /// Discount of the commitment against on-demand, as a fraction (0.28 = 28%).
    #[arg(long)]
    discount: Decimal,
    /// Term in years: 1 or 3.
    #[arg(long, default_value_t = 1)]
    term: u32,
    /// Payment option: no-upfront, partial-upfront, all-upfront.
    #[arg(long, default_value = "no-upfront", value_parser = parse_payment)]
    payment: Payment,
    /// Utilization the conservative point keeps.
    #[arg(long, default_value = "0.95")]
    min_utilization: Decimal,
    /// Leave out groups with less eligible spend than this over the data.
    #[arg(long, default_value = "0")]
    min_spend: Decimal,
    /// Also print each group's savings curve.
    #[arg(long)]
    curve: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    input: Inputs,
    /// Utilization metrics CSV: resource_id,timestamp,cpu_max[,io_ops,...].
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Days without instance hours after which a zone's instances count as stopped.
    #[arg(long, default_value_t = 7)]
    stopped_days: i64,
    /// GB per 30 days under which a NAT gateway counts as idle.
    #[arg(long, default_value = "10")]
    nat_min_gb: Decimal,
    /// Days a snapshot must have been billed to count as old.
    #[arg(long, default_value_t = 90)]
    snapshot_days: i64,
    /// Days of metrics looked at.
    #[arg(long, default_value_t = 14)]
    metrics_days: i64,
    /// Maximum CPU percent under which an instance is idle.
    #[arg(long, default_value_t = 5.0)]
    cpu_idle: f64,
    /// Headroom to keep when downsizing (0.2 = 20%).
    #[arg(long, default_value_t = 0.2)]
    headroom: f64,
    /// Leave out recommendations saving less than this a month.
    #[arg(long, default_value = "0")]
    min_savings: Decimal,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_type(s: &str) -> Result<CommitmentType, String> {
    CommitmentType::parse(s)
        .ok_or_else(|| format!("`{s}`: use savings-plan, reserved-instance or committed-use"))
}

fn parse_payment(s: &str) -> Result<Payment, String> {
    Payment::parse(s)
        .ok_or_else(|| format!("`{s}`: use no-upfront, partial-upfront or all-upfront"))
}

/// A sink that hands every record to a closure (the pipeline still checks reconciliation).
struct Feed<F: FnMut(&FocusRecord)>(F);

impl<F: FnMut(&FocusRecord)> FocusSink for Feed<F> {
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError> {
        (self.0)(record);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(0)
    }
}

/// Normalizes `files` and feeds every record to `f`.
pub fn feed(files: &[PathBuf], from: Option<Dialect>, f: impl FnMut(&FocusRecord)) -> Result<()> {
    let jobs = plan(files, from)?;
    let counter = Progress::default();
    let size = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = Bar::new(size, counter.clone());
    let mut sink = Feed(f);
    let result = pipeline::run(&jobs, &counter, Some(&mut sink), None, &mut || bar.tick());
    bar.finish();
    result?;
    Ok(())
}

fn pct(d: Decimal) -> String {
    format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(1))
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn point_row(label: &str, p: &Point) -> Vec<Cell> {
    vec![
        Cell::new(label),
        right(p.commitment.to_string()),
        right(cents(p.level)),
        right(pct(p.utilization)),
        right(pct(p.coverage)),
        right(cents(p.savings)),
        right(cents(p.monthly_savings)),
        right(cents(p.upfront)),
        right(
            p.break_even_month
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
    ]
}

/// `recommend commitments`.
pub fn commitments(a: &CommitmentArgs) -> Result<()> {
    let terms = Terms::new(a.discount, a.term, a.payment).map_err(anyhow::Error::msg)?;
    if a.min_utilization <= Decimal::ZERO || a.min_utilization > Decimal::ONE {
        bail!("--min-utilization {} must be in (0, 1]", a.min_utilization);
    }
    let mut builder = SeriesBuilder::new();
    feed(&a.input.files, a.input.from, |r| builder.add(r))?;
    let series = builder.finish();
    let opts = CommitmentOptions {
        terms,
        types: a.types.clone(),
        min_utilization: a.min_utilization,
        min_eligible: a.min_spend,
    };
    let recs = recommend(&series, &opts);
    let now = chrono::Utc::now();
    match a.format {
        Format::Json => {
            let findings: Vec<_> = recs
                .iter()
                .flat_map(|r| ["max-savings", "conservative"].map(|w| r.finding(w, now)))
                .flatten()
                .collect();
            let out = serde_json::json!({ "recommendations": recs, "findings": findings });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Table => {
            if recs.is_empty() {
                println!(
                    "No on-demand spend eligible for {} in the input.",
                    a.types
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(());
            }
            for r in &recs {
                let hours = r.max_savings.hours;
                println!(
                    "\n{}: {} hours from {} ({} eligible on demand){}",
                    r.key.label(),
                    hours,
                    r.window_start.format("%Y-%m-%d %H:00"),
                    cents(r.max_savings.eligible),
                    if r.resolution == Resolution::Spread {
                        "; daily data spread over hours: peaks within a day are not visible, so coverage is overstated"
                    } else {
                        ""
                    }
                );
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                    "point",
                    "commit/h",
                    "covers/h",
                    "util",
                    "coverage",
                    "savings",
                    "per month",
                    "upfront",
                    "break-even month",
                ]);
                t.add_row(point_row("max savings", &r.max_savings));
                t.add_row(point_row(
                    &format!("conservative (>= {})", pct(a.min_utilization)),
                    &r.conservative,
                ));
                if a.curve {
                    for p in &r.curve {
                        t.add_row(point_row("curve", p));
                    }
                }
                println!("{t}");
            }
        }
    }
    Ok(())
}

/// `recommend idle`.
pub fn idle(a: &IdleArgs) -> Result<()> {
    let metrics = load_metrics(a.metrics.as_deref())?;
    let mut analyzer = IdleAnalyzer::new();
    feed(&a.input.files, a.input.from, |r| analyzer.add(r))?;
    let opts = IdleOptions {
        stopped_days: a.stopped_days,
        nat_min_gb_per_month: a.nat_min_gb,
        snapshot_min_age_days: a.snapshot_days,
        metrics_days: a.metrics_days,
        cpu_idle_percent: a.cpu_idle,
        headroom: a.headroom,
        min_monthly_savings: a.min_savings,
    };
    let recs = analyzer.recommend(&opts, metrics.as_ref());
    let now = chrono::Utc::now();
    match a.format {
        Format::Json => {
            let findings: Vec<_> = recs.iter().map(|r| r.finding(now)).collect();
            let out = serde_json::json!({ "recommendations": recs, "findings": findings });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Table => {
            if recs.is_empty() {
                println!("No idle or underused resources found.");
                return Ok(());
            }
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                "resource",
                "kind",
                "account",
                "region",
                "rules",
                "per month",
                "currency",
            ]);
            for r in &recs {
                t.add_row(vec![
                    Cell::new(&r.resource_id),
                    Cell::new(r.resource_kind),
                    Cell::new(r.account.as_deref().unwrap_or("-")),
                    Cell::new(r.region.as_deref().unwrap_or("-")),
                    Cell::new(r.hits.iter().map(|h| h.rule).collect::<Vec<_>>().join(", ")),
                    right(cents(r.monthly_savings)),
                    Cell::new(r.currency.as_str()),
                ]);
            }
            println!("{t}");
            for r in &recs {
                for h in &r.hits {
                    println!("{} [{}]: {}", r.resource_id, h.rule, h.reason);
                }
            }
        }
    }
    Ok(())
}

/// Reads the metrics file when given.
pub fn load_metrics(path: Option<&Path>) -> Result<Option<Metrics>> {
    path.map(|p| Metrics::load(p).with_context(|| "reading the metrics file".to_string()))
        .transpose()
}

/// Runs a `recommend` subcommand.
pub fn run(c: RecommendCommand) -> Result<()> {
    match c {
        RecommendCommand::Commitments(a) => commitments(&a),
        RecommendCommand::Idle(a) => idle(&a),
    }
}
