//! The CLI commands: thin glue over `costkit_core` and the SQLite store.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::aggregate::{
    summarize, top_per_currency, CostBasis, GroupBy, LoadBatch, SummaryLine,
};
use costkit_core::input::Progress;
use costkit_core::money::CurrencyTotals;
use costkit_core::normalize::{plan, Dialect, Job};
use costkit_core::output::{open_sink, FocusSink, OutputColumns, PendingFile};
use costkit_core::pipeline::{self, JobOutcome};
use costkit_core::store::{CostStore, Filter, LoadMeta};
use costkit_sqlite::SqliteStore;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::progress::Bar;

/// `--from` values.
pub fn parse_dialect(s: &str) -> Result<Dialect, String> {
    Dialect::from_name(s).ok_or_else(|| {
        format!(
            "unknown dialect `{s}`; one of: {}",
            Dialect::ALL
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `--by` values.
pub fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    GroupBy::parse(s).ok_or_else(|| {
        format!("`{s}`: use provider, account, service, region, charge-category or tag:KEY")
    })
}

/// `--period` values.
pub fn parse_period(s: &str) -> Result<String, String> {
    chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map(|_| s.to_string())
        .map_err(|_| format!("`{s}`: a billing period is YYYY-MM"))
}

fn total_size(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Output files being written: committed together once every input succeeded.
pub struct Outputs {
    pending: Vec<PendingFile>,
    sink: Option<Box<dyn FocusSink>>,
}

/// Opens the output sinks for `targets`, all with the same columns.
pub fn open_outputs(targets: &[&Path], jobs: &[Job]) -> Result<Outputs> {
    if targets.is_empty() {
        return Ok(Outputs {
            pending: Vec::new(),
            sink: None,
        });
    }
    let columns = OutputColumns::new(pipeline::extension_columns(jobs)?);
    let mut pending = Vec::new();
    let mut sinks: Vec<Box<dyn FocusSink>> = Vec::new();
    for t in targets {
        let p = PendingFile::create(t)?;
        sinks.push(open_sink(&p, columns.clone())?);
        pending.push(p);
    }
    let sink: Box<dyn FocusSink> = if sinks.len() == 1 {
        sinks.remove(0)
    } else {
        Box::new(costkit_core::output::TeeSink(sinks))
    };
    Ok(Outputs {
        pending,
        sink: Some(sink),
    })
}

/// Runs the pipeline over `files`, writing to `outputs` (committed only on success) and, when
/// `batch` is given, aggregating for the store.
pub fn process(
    files: &[PathBuf],
    from: Option<Dialect>,
    outputs: &[&Path],
    batch: Option<&mut LoadBatch>,
) -> Result<Vec<JobOutcome>> {
    let jobs = plan(files, from)?;
    let Outputs { pending, mut sink } = open_outputs(outputs, &jobs)?;
    let counter = Progress::default();
    let bar = Bar::new(total_size(files), counter.clone());
    let sink_ref = sink.as_mut().map(|s| s.as_mut() as &mut dyn FocusSink);
    let result = pipeline::run(&jobs, &counter, sink_ref, batch, &mut || bar.tick());
    bar.finish();
    let outcomes = result?;
    if let Some(s) = sink {
        s.finish()?;
    }
    for p in pending {
        p.commit()?;
    }
    Ok(outcomes)
}

fn fmt_totals(t: &CurrencyTotals) -> String {
    if t.0.is_empty() {
        return "0".into();
    }
    t.0.iter()
        .map(|(c, v)| format!("{} {c}", v.normalize()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints what each job read and that its totals reconcile.
pub fn print_outcomes(outcomes: &[JobOutcome]) {
    let mut err = std::io::stderr().lock();
    for o in outcomes {
        let _ = writeln!(
            err,
            "{} [{}]: {} FOCUS records from {} source rows; BilledCost {} = source; EffectiveCost {}{}",
            o.name,
            o.dialect,
            o.records,
            o.source.rows,
            fmt_totals(&o.billed),
            fmt_totals(&o.effective),
            if o.source.effective.is_some() { " = source" } else { "" },
        );
        for n in &o.notes {
            let _ = writeln!(err, "  note: {n}");
        }
    }
}

/// `costkit normalize`.
pub fn normalize(files: &[PathBuf], from: Option<Dialect>, output: &Path) -> Result<()> {
    let outcomes = process(files, from, &[output], None)?;
    print_outcomes(&outcomes);
    let rows: u64 = outcomes.iter().map(|o| o.records).sum();
    eprintln!("wrote {rows} FOCUS records to {}", output.display());
    Ok(())
}

/// Loads `files` into the store at `store`.
pub fn load_into(
    store: &mut dyn CostStore,
    files: &[PathBuf],
    from: Option<Dialect>,
    outputs: &[&Path],
) -> Result<Vec<JobOutcome>> {
    let mut batch = LoadBatch::default();
    let outcomes = process(files, from, outputs, Some(&mut batch))?;
    print_outcomes(&outcomes);
    let dialects: Vec<&str> = {
        let mut d: Vec<&str> = outcomes.iter().map(|o| o.dialect.name()).collect();
        d.dedup();
        d
    };
    let meta = LoadMeta {
        dialect: dialects.join(","),
        files: files.iter().map(|f| f.display().to_string()).collect(),
        loaded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let report = store
        .replace(&batch, &meta)
        .context("writing to the store")?;
    eprintln!(
        "load {}: {} records into {} billing-period slices ({} replaced earlier data)",
        report.load_id,
        report.records,
        report.slices.len(),
        report.replaced.len()
    );
    for s in &report.replaced {
        eprintln!(
            "  replaced {} {} {}",
            s.provider, s.billing_account_id, s.billing_period
        );
    }
    Ok(outcomes)
}

/// `costkit load`.
pub fn load(
    files: &[PathBuf],
    from: Option<Dialect>,
    store: &Path,
    output: Option<&Path>,
) -> Result<()> {
    let mut st = SqliteStore::open(store)?;
    let outputs: Vec<&Path> = output.into_iter().collect();
    load_into(&mut st, files, from, &outputs)?;
    Ok(())
}

/// Summary output formats.
#[derive(Clone, Copy, Debug)]
pub enum OutFormat {
    /// Table.
    Table,
    /// CSV.
    Csv,
    /// JSON.
    Json,
}

/// A summary request.
#[derive(Debug)]
pub struct SummaryRequest {
    /// Store path.
    pub store: PathBuf,
    /// Grouping.
    pub by: GroupBy,
    /// Billing period filter.
    pub period: Option<String>,
    /// Provider filter.
    pub provider: Option<String>,
    /// Basis.
    pub basis: CostBasis,
    /// Output format.
    pub format: OutFormat,
    /// Keep the N largest lines per currency.
    pub top: Option<usize>,
}

/// Computes summary lines from a store.
pub fn summary_lines(
    store: &dyn CostStore,
    by: &GroupBy,
    filter: &Filter,
    basis: CostBasis,
) -> Result<Vec<SummaryLine>> {
    let daily = store.daily(filter)?;
    let tags = match by {
        GroupBy::Tag(k) => store.daily_tags(k, filter)?,
        _ => Vec::new(),
    };
    Ok(summarize(&daily, &tags, by, basis))
}

/// An amount rounded to cents with thousands separators, for tables.
pub fn cents(d: Decimal) -> String {
    let r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let s = format!("{r:.2}");
    // Thousands separators for reading; exact values are in --format csv/json.
    let (sign, body) = s
        .strip_prefix('-')
        .map(|b| ("-", b))
        .unwrap_or(("", s.as_str()));
    let (int, frac) = body.split_once('.').unwrap_or((body, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

/// Renders summary lines as a table with a total per currency.
pub fn render_table(lines: &[SummaryLine], by: &GroupBy, basis: CostBasis) -> String {
    let (main, other) = match basis {
        CostBasis::Billed => ("Billed", "Effective"),
        CostBasis::Effective => ("Effective", "Billed"),
    };
    let group = match by {
        GroupBy::Provider => "Provider".to_string(),
        GroupBy::Account => "Billing account / sub account".to_string(),
        GroupBy::Service => "Service".to_string(),
        GroupBy::Region => "Region".to_string(),
        GroupBy::ChargeCategory => "Charge category".to_string(),
        GroupBy::Tag(k) => format!("Tag {k}"),
    };
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        group,
        "Currency".into(),
        format!("{main} cost"),
        format!("{other} cost"),
    ]);
    let mut totals: std::collections::BTreeMap<String, (Decimal, Decimal)> = Default::default();
    for l in lines {
        t.add_row(vec![
            Cell::new(&l.group),
            Cell::new(l.currency.as_str()),
            Cell::new(cents(l.cost)).set_alignment(CellAlignment::Right),
            Cell::new(cents(l.other)).set_alignment(CellAlignment::Right),
        ]);
        let e = totals.entry(l.currency.to_string()).or_default();
        e.0 += l.cost;
        e.1 += l.other;
    }
    for (cur, (a, b)) in totals {
        t.add_row(vec![
            Cell::new("TOTAL"),
            Cell::new(cur),
            Cell::new(cents(a)).set_alignment(CellAlignment::Right),
            Cell::new(cents(b)).set_alignment(CellAlignment::Right),
        ]);
    }
    t.to_string()
}

/// Opens an existing store; a missing file is a user error with a hint, not an empty store.
pub fn open_store(path: &Path) -> Result<SqliteStore> {
    if !path.exists() {
        bail!(
            "{}: no store here; run `costkit load <files>` (or `costkit demo`) first",
            path.display()
        );
    }
    Ok(SqliteStore::open(path)?)
}

/// `costkit summary`.
pub fn summary(req: &SummaryRequest) -> Result<()> {
    let store = open_store(&req.store)?;
    let filter = Filter {
        billing_period: req.period.clone(),
        provider: req.provider.clone(),
    };
    let mut lines = summary_lines(&store, &req.by, &filter, req.basis)?;
    if let Some(n) = req.top {
        lines = top_per_currency(lines, n);
    }
    let mut out = std::io::stdout().lock();
    match req.format {
        OutFormat::Table => {
            if lines.is_empty() {
                writeln!(out, "no cost data matches")?;
            } else {
                writeln!(out, "{}", render_table(&lines, &req.by, req.basis))?;
            }
        }
        OutFormat::Csv => {
            writeln!(out, "group,currency,cost,other_basis_cost")?;
            for l in &lines {
                writeln!(
                    out,
                    "{},{},{},{}",
                    csv_field(&l.group),
                    l.currency,
                    l.cost.normalize(),
                    l.other.normalize()
                )?;
            }
        }
        OutFormat::Json => {
            let v: Vec<serde_json::Value> = lines
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "group": l.group,
                        "currency": l.currency.as_str(),
                        "cost": l.cost.normalize().to_string(),
                        "other_basis_cost": l.other.normalize().to_string(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `costkit loads`.
pub fn loads(store: &Path) -> Result<()> {
    let st = open_store(store)?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "Load",
        "When",
        "Dialect",
        "Records",
        "Billed",
        "Owns (provider account period)",
        "Files",
    ]);
    for l in st.loads()? {
        let owns: Vec<String> = l
            .slices
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}",
                    s.provider, s.billing_account_id, s.billing_period
                )
            })
            .collect();
        t.add_row(vec![
            l.load_id.to_string(),
            l.meta.loaded_at.clone(),
            l.meta.dialect.clone(),
            l.records.to_string(),
            fmt_totals(&l.billed),
            if owns.is_empty() {
                "(all replaced by later loads)".into()
            } else {
                owns.join("\n")
            },
            l.meta.files.join("\n"),
        ]);
    }
    println!("{t}");
    Ok(())
}
