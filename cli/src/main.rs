//! `costkit`: the command-line shell over costkit's core. The same normalizers, aggregates and
//! store port the serverless functions use, with an embedded SQLite store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod anomaly;
mod breakdown;
mod budget;
mod commands;
mod demo;
mod deps;
mod forecast;
mod leaderboard;
mod notify;
mod optimize;
mod progress;
mod report;
mod rules;
mod serve;

/// Multi-cloud cost toolkit: billing exports in, FOCUS 1.2 out, exact to the last digit.
#[derive(Debug, Parser)]
#[command(name = "costkit", version, about, long_about = None)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert billing exports (AWS CUR/CUR 2.0/Cost Explorer, Azure, GCP, FOCUS) to one FOCUS 1.2 file.
    Normalize(NormalizeArgs),
    /// Normalize billing exports and load them into the store (a re-loaded billing period replaces the old one).
    Load(LoadArgs),
    /// Print spend from the store, grouped by a dimension or a tag.
    Summary(SummaryArgs),
    /// Breakdowns: top movers period over period, spend per day/week/month, untagged spend per tag key.
    #[command(subcommand)]
    Breakdown(breakdown::BreakdownCommand),
    /// List past loads and the billing periods each one owns.
    Loads(StoreArg),
    /// Budgets from a YAML file: spend, forecast and the alerts that fire now.
    #[command(subcommand)]
    Budget(BudgetCommand),
    /// Anomaly detection on a `date,value` series (machine interface: CSV in, CSV out).
    #[command(subcommand)]
    Anomaly(AnomalyCommand),
    /// Anomalies found by the monitors in a YAML file, with impact and root causes.
    Anomalies(AnomaliesArgs),
    /// Forecast spend to the month, quarter and year end per series (or, with --input, any date,value CSV).
    Forecast(forecast::ForecastArgs),
    /// Recommendations: commitment purchases and idle resources, from billing files.
    #[command(subcommand)]
    Recommend(optimize::RecommendCommand),
    /// User rules (YAML) over billing files: check a rules file, or run it (with --dry-run).
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Resource dependency map from billing files (and inventories), with costs rolled up:
    /// the true cost of an application and what deleting a node would save.
    Deps(deps::DepsArgs),
    /// Team points for savings verified in billing files (actions marked done, net of the trend).
    Leaderboard(leaderboard::LeaderboardArgs),
    /// Run the whole pipeline on the bundled samples of every provider, in ./costkit-demo/.
    Demo(DemoArgs),
    /// The period report of the store as a file: HTML (SVG charts), XLSX (native charts), CSV or JSON.
    Report(report::ReportArgs),
    /// Serve reports, FOCUS slices and the dashboard over HTTP on 127.0.0.1, API keys required.
    Serve(serve::ServeArgs),
    /// API keys and signed links for `costkit serve`.
    #[command(subcommand)]
    Key(serve::KeyCommand),
    /// Notification routing: check a routing file, send a test finding through a channel.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
}

/// Input selection shared by normalize and load.
#[derive(Debug, Args)]
struct InputArgs {
    /// Billing export files (CSV, CSV.gz, Parquet, JSON, NDJSON). The dialect is detected from the header.
    #[arg(required = true)]
    files: Vec<PathBuf>,

    /// Force the input dialect instead of detecting it.
    #[arg(long = "from", value_name = "DIALECT", value_parser = commands::parse_dialect)]
    from: Option<costkit_core::normalize::Dialect>,
}

#[derive(Debug, Args)]
struct StoreArg {
    /// The SQLite store file.
    #[arg(long, env = "COSTKIT_STORE", default_value = "costkit.db")]
    store: PathBuf,
}

#[derive(Debug, Args)]
struct NormalizeArgs {
    #[command(flatten)]
    input: InputArgs,

    /// Output file: .parquet, .csv or .csv.gz. Written only if every input succeeds.
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct LoadArgs {
    #[command(flatten)]
    input: InputArgs,

    #[command(flatten)]
    store: StoreArg,

    /// Also write the FOCUS records to this file (.parquet, .csv, .csv.gz).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Which cost to report.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Basis {
    /// BilledCost: what the invoices say.
    Billed,
    /// EffectiveCost: amortized (commitment purchases spread over the usage they cover).
    Effective,
}

/// Output format of a summary.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// A readable table, amounts rounded to cents.
    Table,
    /// CSV with exact amounts.
    Csv,
    /// JSON with exact amounts (as strings).
    Json,
}

#[derive(Debug, Args)]
struct SummaryArgs {
    #[command(flatten)]
    store: StoreArg,

    /// Group by: provider, account, service, region, charge-category, or tag:KEY.
    #[arg(long, default_value = "provider", value_parser = commands::parse_group_by)]
    by: costkit_core::aggregate::GroupBy,

    /// Only this billing period (YYYY-MM).
    #[arg(long, value_parser = commands::parse_period)]
    period: Option<String>,

    /// Only this provider (as in ProviderName, e.g. AWS, Microsoft, Google Cloud).
    #[arg(long)]
    provider: Option<String>,

    /// Cost basis.
    #[arg(long, value_enum, default_value_t = Basis::Billed)]
    basis: Basis,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Show only the N largest lines per currency; the rest are folded into one "(N others)" line.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum BudgetCommand {
    /// Check every budget against the store; prints spend, forecast and the alerts that fire now,
    /// and records them in <store>.budget-state.json so each fires once per period.
    Check(BudgetCheckArgs),
}

/// Output format of `budget check`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum CheckFormat {
    /// A readable table, amounts rounded to cents, then the alerts.
    Table,
    /// JSON with exact amounts (as strings).
    Json,
}

#[derive(Debug, Args)]
struct BudgetCheckArgs {
    /// The budgets file (schema: docs/budgets.schema.json).
    #[arg(long, default_value = "budgets.yaml")]
    budgets: PathBuf,

    #[command(flatten)]
    store: StoreArg,

    /// Evaluate as of this instant (default: the current time). Data for days starting at or after
    /// it is ignored.
    #[arg(long, value_parser = budget::parse_now)]
    now: Option<chrono::DateTime<chrono::Utc>>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    format: CheckFormat,
}

#[derive(Debug, Subcommand)]
enum AnomalyCommand {
    /// Read CSV `date,value` (oldest first; daily or hourly) and write `date,is_anomaly,score`,
    /// one row per input row. A row's verdict uses only rows up to it.
    Detect {
        /// Input CSV file, or `-` for standard input.
        #[arg(long)]
        input: PathBuf,
    },
}

#[derive(Debug, Args)]
struct AnomaliesArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The monitors file (format: docs/anomalies.md).
    #[arg(long, default_value = "monitors.yaml")]
    monitors: PathBuf,
    /// Show anomalies starting on or after this day (default: 30 days before --today).
    #[arg(long, value_parser = anomaly::parse_day)]
    since: Option<chrono::NaiveDate>,
    /// Evaluate as of this day: only days before it count (default: today, UTC).
    #[arg(long, value_parser = anomaly::parse_day)]
    today: Option<chrono::NaiveDate>,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Billing files (any dialect `costkit load` reads) to break anomalies down by usage type
    /// and resource, which the store does not keep. Give the files the store was loaded from.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    details: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Where the demo writes its store, inputs and FOCUS output (recreated on every run).
    #[arg(long, default_value = "costkit-demo")]
    dir: PathBuf,
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Normalize(a) => commands::normalize(&a.input.files, a.input.from, &a.output),
        Command::Load(a) => commands::load(
            &a.input.files,
            a.input.from,
            &a.store.store,
            a.output.as_deref(),
        ),
        Command::Summary(a) => commands::summary(&commands::SummaryRequest {
            store: a.store.store,
            by: a.by,
            period: a.period,
            provider: a.provider,
            basis: match a.basis {
                Basis::Billed => costkit_core::aggregate::CostBasis::Billed,
                Basis::Effective => costkit_core::aggregate::CostBasis::Effective,
            },
            top: a.top,
            format: match a.format {
                Format::Table => commands::OutFormat::Table,
                Format::Csv => commands::OutFormat::Csv,
                Format::Json => commands::OutFormat::Json,
            },
        }),
        Command::Loads(a) => commands::loads(&a.store),
        Command::Breakdown(c) => breakdown::run(c),
        Command::Budget(BudgetCommand::Check(a)) => budget::check(
            &a.budgets,
            &a.store.store,
            a.now,
            match a.format {
                CheckFormat::Table => commands::OutFormat::Table,
                CheckFormat::Json => commands::OutFormat::Json,
            },
        ),
        Command::Anomaly(AnomalyCommand::Detect { input }) => anomaly::detect_csv(&input),
        Command::Anomalies(a) => anomaly::anomalies(
            &a.store.store,
            &a.monitors,
            a.since,
            a.today,
            a.json,
            &a.details,
        ),
        Command::Forecast(a) => forecast::run(&a),
        Command::Demo(a) => demo::run(&a.dir),
        Command::Report(a) => report::run(&a),
        Command::Serve(a) => serve::run(a),
        Command::Key(c) => serve::key(c),
        Command::Recommend(c) => optimize::run(c),
        Command::Rules(c) => rules::run(c),
        Command::Notify(c) => notify::run(c),
        Command::Deps(a) => deps::run(&a),
        Command::Leaderboard(a) => leaderboard::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
