//! `costkit recommend commitments|idle <files...>`: commitment recommendations and idle resources
//! from billing files, through the same normalizers (and reconciliation) as `normalize`.

use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_aws::cost_explorer::CostExplorer;
use costkit_aws::retry::Backoff;
use costkit_aws::savings_plans::{SpQuery, SpRecommendation, SpType};
use costkit_aws::{AwsClients, AwsSettings};
use costkit_core::focus::FocusRecord;
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect};
use costkit_core::optimize::commitments::{
    recommend, CommitmentOptions, CommitmentType, Resolution, SeriesBuilder,
};
use costkit_core::optimize::idle::{IdleAnalyzer, IdleOptions};
use costkit_core::optimize::metrics::Metrics;
use costkit_core::optimize::simulate::{Payment, Point, Terms};
use costkit_core::optimize::ProviderRecommendation;
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
    /// Also fetch AWS Cost Explorer's own Savings Plans purchase recommendation
    /// (GetSavingsPlansPurchaseRecommendation, same term and payment option) and show it next to
    /// the simulation. Needs AWS_REGION and credentials in the environment; when it cannot be
    /// fetched a note says why and the simulation is still printed.
    #[arg(long)]
    aws_recommendation: bool,
    /// Lookback of AWS's recommendation in days: 7, 30 or 60.
    #[arg(long, default_value_t = 30, requires = "aws_recommendation")]
    lookback: u32,
    /// Savings Plans type of AWS's recommendation: compute or ec2-instance.
    #[arg(long, default_value = "compute", value_parser = parse_sp_type, requires = "aws_recommendation")]
    sp_type: SpType,
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

fn parse_sp_type(s: &str) -> Result<SpType, String> {
    SpType::parse(s).ok_or_else(|| format!("`{s}`: use compute or ec2-instance"))
}

/// Fetches AWS's recommendation with a short retry: a command line should say quickly that AWS
/// is unreachable rather than wait through the functions' minute of backoff.
fn fetch_aws(q: &SpQuery) -> Result<SpRecommendation> {
    let mut settings = AwsSettings::from_env()?;
    settings.cost_explorer_backoff = Backoff {
        max_attempts: 3,
        base: Duration::from_millis(500),
        max_delay: Duration::from_secs(2),
    };
    let clients = AwsClients::new(settings);
    let ce = CostExplorer::new(&clients);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(ce.savings_plans_recommendation(q))?)
}

fn provider_row(label: &str, p: &ProviderRecommendation) -> Vec<Cell> {
    let opt = |d: Option<Decimal>| d.map(cents).unwrap_or_else(|| "-".into());
    vec![
        Cell::new(label),
        right(p.hourly_commitment.to_string()),
        right(
            p.estimated_utilization
                .map(pct)
                .unwrap_or_else(|| "-".into()),
        ),
        right(cents(p.estimated_monthly_savings)),
        right(opt(p.upfront_cost)),
        Cell::new(p.currency.as_str()),
    ]
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
    // Checked before the data is read: a bad --lookback is a usage error, not a note.
    let aws_query = if a.aws_recommendation {
        Some(SpQuery::new(a.sp_type, a.term, a.payment, a.lookback)?)
    } else {
        None
    };
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
    let mut notes = Vec::new();
    let aws = aws_query.and_then(|q| match fetch_aws(&q) {
        Ok(r) => {
            if r.summary.is_none() {
                notes.push(format!(
                    "AWS Cost Explorer recommends no {} purchase ({}-year term, {}, {}-day lookback).",
                    q.sp_type.as_api(),
                    q.term_years,
                    q.payment.as_str(),
                    q.lookback_days
                ));
            }
            Some(r)
        }
        Err(e) => {
            notes.push(format!(
                "AWS recommendation unavailable ({e:#}); showing costkit's simulation only."
            ));
            None
        }
    });
    let now = chrono::Utc::now();
    match a.format {
        Format::Json => {
            let findings: Vec<_> = recs
                .iter()
                .flat_map(|r| ["max-savings", "conservative"].map(|w| r.finding(w, now)))
                .flatten()
                .collect();
            let mut out = serde_json::json!({ "recommendations": recs, "findings": findings });
            if a.aws_recommendation {
                out["provider"] = match &aws {
                    Some(r) => serde_json::json!({
                        "source": costkit_aws::savings_plans::SOURCE,
                        "recommendation_id": r.recommendation_id,
                        "summary": r.summary,
                        "details": r.details,
                    }),
                    None => serde_json::Value::Null,
                };
                out["notes"] = serde_json::json!(notes);
            }
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
            if let Some(r) = aws
                .as_ref()
                .filter(|r| r.summary.is_some() || !r.details.is_empty())
            {
                print_side_by_side(a, &recs, r);
            }
            for n in &notes {
                println!("\nNote: {n}");
            }
        }
    }
    Ok(())
}

/// costkit's Savings Plan points and AWS's recommendation in one table.
fn print_side_by_side(
    a: &CommitmentArgs,
    recs: &[costkit_core::optimize::commitments::CommitmentRecommendation],
    aws: &SpRecommendation,
) {
    let head = aws.summary.as_ref().or(aws.details.first());
    println!(
        "\nSavings Plans side by side: costkit (your data, hour by hour, discount {}) and AWS Cost Explorer ({}, {}-year term, {}, {}-day lookback{})",
        pct(a.discount),
        a.sp_type.as_api(),
        a.term,
        a.payment.as_str(),
        a.lookback,
        head.and_then(|h| h.generated_at.as_deref())
            .map(|g| format!(", generated {g}"))
            .unwrap_or_default()
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "source",
        "commit/h",
        "util",
        "per month",
        "upfront",
        "currency",
    ]);
    for r in recs.iter().filter(|r| {
        // CURs name the provider `AWS`, AWS's FOCUS export `Amazon Web Services`.
        r.key.commitment == CommitmentType::SavingsPlan
            && matches!(r.key.provider.as_str(), "AWS" | "Amazon Web Services")
    }) {
        for (label, p) in [
            ("costkit max savings", &r.max_savings),
            ("costkit conservative", &r.conservative),
        ] {
            t.add_row(vec![
                Cell::new(label),
                right(p.commitment.to_string()),
                right(pct(p.utilization)),
                right(cents(p.monthly_savings)),
                right(cents(p.upfront)),
                Cell::new(r.key.currency.as_str()),
            ]);
        }
    }
    if let Some(s) = &aws.summary {
        t.add_row(provider_row("AWS total", s));
    }
    for d in &aws.details {
        t.add_row(provider_row(&format!("AWS {}", d.scope), d));
    }
    println!("{t}");
    println!(
        "Both are estimates: costkit simulates every hour of the data you gave it at one discount; \
         AWS uses its own rates per usage over the lookback period it names."
    );
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
