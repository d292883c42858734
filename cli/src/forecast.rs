//! `costkit forecast`: for machines, a `date,value` CSV in and `date,forecast,lo80,hi80` out; for
//! people, month-, quarter- and year-end spend of every series in the store, with ranges and the
//! backtest that says how far to trust them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::aggregate::{row_label, CostBasis, GroupBy};
use costkit_core::analysis::forecast::{
    forecast, period_totals, verdict, Backtest, PeriodTotal, Verdict,
};
use costkit_core::analysis::read_date_value_csv;
use costkit_core::budget::{period_at, PeriodSpec};
use costkit_core::money::Currency;
use costkit_core::store::{CostStore, Filter};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

use crate::commands::cents;

/// Output format for people.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ForecastFormat {
    /// A readable table, amounts rounded to cents.
    Table,
    /// JSON with exact amounts (as strings).
    Json,
}

/// Which cost to forecast.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ForecastBasis {
    /// BilledCost.
    Billed,
    /// EffectiveCost (amortized).
    Effective,
}

/// `costkit forecast` arguments.
#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// Machine mode: a CSV with header `date,value` (`-` for stdin), oldest first; dates
    /// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, daily or hourly spacing inferred, gaps allowed.
    /// Writes `date,forecast,lo80,hi80` for the --horizon steps after the last date.
    #[arg(long, value_name = "FILE", requires = "horizon")]
    pub input: Option<String>,

    /// Steps to forecast (machine mode).
    #[arg(long, value_name = "N")]
    pub horizon: Option<usize>,

    /// The SQLite store file (store mode).
    #[arg(long, env = "COSTKIT_STORE", default_value = "costkit.db")]
    pub store: PathBuf,

    /// One series per: provider, account, service, region or charge-category.
    #[arg(long, default_value = "provider", value_parser = crate::commands::parse_group_by)]
    pub by: GroupBy,

    /// Cost basis.
    #[arg(long, value_enum, default_value_t = ForecastBasis::Billed)]
    pub basis: ForecastBasis,

    /// Forecast as of this instant: data for days starting at or after it is ignored. Default:
    /// the day after the store's last day with data.
    #[arg(long, value_parser = crate::budget::parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Output format (store mode).
    #[arg(long, value_enum, default_value_t = ForecastFormat::Table)]
    pub format: ForecastFormat,
}

/// Runs `costkit forecast`.
pub fn run(a: &ForecastArgs) -> Result<()> {
    match (&a.input, a.horizon) {
        (Some(input), Some(h)) => machine(input, h),
        (Some(_), None) => bail!("--input needs --horizon N"),
        (None, Some(_)) => bail!("--horizon is for --input FILE; the store mode forecasts to the month, quarter and year end"),
        (None, None) => people(a),
    }
}

/// A number for the machine output: 10 significant digits, plain decimal notation.
fn num(v: f64) -> String {
    let r: f64 = format!("{v:.9e}").parse().unwrap_or(v);
    // Avoid "-0".
    if r == 0.0 {
        "0".to_string()
    } else {
        format!("{r}")
    }
}

/// Machine mode: `date,forecast,lo80,hi80` on stdout, the method and its backtest on stderr.
pub fn machine(input: &str, horizon: usize) -> Result<()> {
    if horizon == 0 {
        bail!("--horizon must be at least 1");
    }
    let (reader, name): (Box<dyn Read>, String) = if input == "-" {
        (Box::new(std::io::stdin().lock()), "<stdin>".to_string())
    } else {
        let f = std::fs::File::open(input).with_context(|| format!("{input}: cannot open"))?;
        (Box::new(std::io::BufReader::new(f)), input.to_string())
    };
    let obs = read_date_value_csv(reader, &name)?;
    if obs.rows.is_empty() {
        bail!("{name}: no rows after the header");
    }
    // Dates come back in the input's style: date-only in, date-only out.
    let date_only = obs.rows.iter().all(|r| r.raw_date.trim().len() == 10);
    let fmt = if date_only {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    let f = forecast(&obs.series, horizon).with_context(|| name.clone())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "date,forecast,lo80,hi80")?;
    for p in &f.points {
        writeln!(
            out,
            "{},{},{},{}",
            p.time.format(fmt),
            num(p.value),
            num(p.lo80),
            num(p.hi80)
        )?;
    }
    out.flush()?;
    eprintln!(
        "method: {}; {}",
        f.method,
        backtest_text(f.backtest.as_ref())
    );
    Ok(())
}

fn backtest_text(b: Option<&Backtest>) -> String {
    match b {
        None => "backtest: history too short".to_string(),
        Some(b) => format!(
            "backtest over the last {} windows of {} steps: MASE {}, 80 % coverage {:.0} %, 95 % coverage {:.0} %",
            b.windows,
            b.horizon,
            b.mase
                .map(|m| format!("{m:.2}"))
                .unwrap_or_else(|| "n/a".into()),
            100.0 * b.coverage80,
            100.0 * b.coverage95
        ),
    }
}

/// The report's word for a verdict (`docs/report.schema.json`, forecast `status`).
fn status(v: &Verdict) -> &'static str {
    match v {
        Verdict::Usable => "ok",
        Verdict::InsufficientHistory { .. } => "insufficient-history",
        Verdict::Unreliable { .. } => "unreliable",
    }
}

/// One store series' result.
struct Line {
    group: String,
    currency: Currency,
    method: String,
    backtest: Option<Backtest>,
    totals: Vec<PeriodTotal>,
    /// Whether the forecast may be shown (too short, sparse or badly backtested: not).
    verdict: Verdict,
}

fn people(a: &ForecastArgs) -> Result<()> {
    if matches!(a.by, GroupBy::Tag(_)) {
        bail!("forecast --by supports provider, account, service, region and charge-category");
    }
    let store: &Path = &a.store;
    if !store.exists() {
        bail!(
            "{}: no store here; run `costkit load <files>` (or `costkit demo`) first",
            store.display()
        );
    }
    let st = SqliteStore::open(store)?;
    let rows = st.daily(&Filter::default())?;
    let basis = match a.basis {
        ForecastBasis::Billed => CostBasis::Billed,
        ForecastBasis::Effective => CostBasis::Effective,
    };
    let known = |d: NaiveDate| match a.now {
        Some(now) => d.and_hms_opt(0, 0, 0).is_some_and(|t| t.and_utc() < now),
        None => true,
    };
    let mut series: BTreeMap<(String, Currency), BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
    let mut last: Option<NaiveDate> = None;
    for r in &rows {
        if !known(r.key.day) {
            continue;
        }
        let Some(label) = row_label(&a.by, r) else {
            continue;
        };
        *series
            .entry((label, r.key.currency.clone()))
            .or_default()
            .entry(r.key.day)
            .or_default() += r.sums.basis(basis);
        last = last.max(Some(r.key.day));
    }
    let Some(last) = last else {
        bail!("{}: no cost data to forecast from", store.display());
    };
    let next = last + Duration::days(1);
    let periods: Vec<_> = [
        PeriodSpec::Monthly,
        PeriodSpec::Quarterly,
        PeriodSpec::Annual,
    ]
    .iter()
    .map(|s| period_at(s, next))
    .collect();
    let mut lines = Vec::new();
    for ((group, currency), daily) in series {
        // A series that stopped before the store's last day had no spend since: `period_totals`
        // counts days without rows up to `last` as zero.
        let sf = period_totals(&daily, last, &periods)
            .with_context(|| format!("forecasting {group} ({currency})"))?;
        let judged = verdict(&daily, &sf);
        lines.push(Line {
            group,
            currency,
            method: sf.forecast.method,
            backtest: sf.forecast.backtest,
            totals: sf.totals,
            verdict: judged,
        });
    }
    // Largest expected month first; withheld forecasts after the shown ones, by spend so far.
    lines.sort_by(|x, y| {
        let key = |l: &Line| {
            (
                l.verdict == Verdict::Usable,
                if l.verdict == Verdict::Usable {
                    l.totals[0].total
                } else {
                    l.totals[0].actual
                },
            )
        };
        x.currency
            .cmp(&y.currency)
            .then(key(y).cmp(&key(x)))
            .then(x.group.cmp(&y.group))
    });
    let mut out = std::io::stdout().lock();
    match a.format {
        ForecastFormat::Json => {
            let v: Vec<serde_json::Value> = lines
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "group": l.group,
                        "currency": l.currency.as_str(),
                        "last_day": last.to_string(),
                        "method": l.method,
                        "status": status(&l.verdict),
                        "note": l.verdict.explain(),
                        "backtest": l.backtest.map(|b| serde_json::json!({
                            "windows": b.windows,
                            "horizon_days": b.horizon,
                            "points": b.points,
                            "mase": b.mase,
                            "coverage80": b.coverage80,
                            "coverage95": b.coverage95,
                        })),
                        "periods": l.totals.iter().map(|t| {
                            // Withheld forecasts keep the exact spend so far, nothing else.
                            let shown = l.verdict == Verdict::Usable || t.remaining_days == 0;
                            let amount = |d: Decimal| shown.then(|| d.normalize().to_string());
                            serde_json::json!({
                                "period": t.period.label,
                                "start": t.period.start.to_string(),
                                "end": t.period.end.to_string(),
                                "actual": t.actual.normalize().to_string(),
                                "forecast": amount(t.forecast),
                                "total": amount(t.total),
                                "lo80": amount(t.lo80),
                                "hi80": amount(t.hi80),
                                "lo95": amount(t.lo95),
                                "hi95": amount(t.hi95),
                                "remaining_days": t.remaining_days,
                                "range_source": t.range_source,
                            })
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ForecastFormat::Table => {
            writeln!(
                out,
                "Spend forecast from {next} (data through {last}); ranges are 80 % and 95 % prediction intervals."
            )?;
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            let mut header = vec!["Series".to_string(), "Currency".to_string()];
            for (p, kind) in periods.iter().zip(["Month", "Quarter", "Year"]) {
                header.push(format!("{kind} {} expected", p.label));
            }
            header.push("Backtest".to_string());
            header.push("Method".to_string());
            t.set_header(header);
            for l in &lines {
                let mut row = vec![Cell::new(&l.group), Cell::new(l.currency.as_str())];
                for p in &l.totals {
                    if l.verdict != Verdict::Usable && p.remaining_days > 0 {
                        let why = match l.verdict {
                            Verdict::Unreliable { .. } => "no forecast:\nhistory too irregular",
                            _ => "not enough history",
                        };
                        row.push(
                            Cell::new(format!("{why}\nso far {}", cents(p.actual)))
                                .set_alignment(CellAlignment::Right),
                        );
                        continue;
                    }
                    row.push(
                        Cell::new(format!(
                            "{}\n80%: {} – {}\n95%: {} – {}\nso far {}",
                            cents(p.total),
                            cents(p.lo80),
                            cents(p.hi80),
                            cents(p.lo95),
                            cents(p.hi95),
                            cents(p.actual)
                        ))
                        .set_alignment(CellAlignment::Right),
                    );
                }
                row.push(Cell::new(match &l.backtest {
                    None => "history too short".to_string(),
                    Some(b) => format!(
                        "MASE {}\n80% covered {:.0}%\n95% covered {:.0}%\n{}×{} days",
                        b.mase
                            .map(|m| format!("{m:.2}"))
                            .unwrap_or_else(|| "n/a".into()),
                        100.0 * b.coverage80,
                        100.0 * b.coverage95,
                        b.windows,
                        b.horizon
                    ),
                }));
                row.push(Cell::new(&l.method));
                t.add_row(row);
            }
            writeln!(out, "{t}")?;
            for l in lines.iter().filter(|l| l.verdict != Verdict::Usable) {
                if let Some(n) = l.verdict.explain() {
                    writeln!(out, "{} ({}): {n}.", l.group, l.currency)?;
                }
            }
            writeln!(
                out,
                "Backtest: the method's own forecasts of the last windows of history. MASE below 1 beats repeating last week; \"80% covered\" near 80% means the ranges can be trusted."
            )?;
        }
    }
    Ok(())
}
