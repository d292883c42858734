//! `costkit breakdown movers|trend|untagged`: period over period views of the store.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use chrono::{Duration, NaiveDate};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::aggregate::{top_per_currency, CostBasis, GroupBy, SummaryLine, TagRow};
use costkit_core::breakdown::{
    movers, period_over_period, tag_coverage, trend, DayRange, Granularity, Mover,
};
use costkit_core::store::{CostStore, Filter};
use rust_decimal::Decimal;

use crate::commands::{cents, csv_field, open_store, parse_group_by, OutFormat};
use crate::{Basis, Format};

/// `costkit breakdown` subcommands.
#[derive(Debug, Subcommand)]
pub enum BreakdownCommand {
    /// Top movers: each group's spend this period to date against the same days of the previous
    /// period, largest $ change first.
    Movers(MoversArgs),
    /// Spend per group in each of the last N days, weeks or months.
    Trend(TrendArgs),
    /// Untagged spend per tag key: how much spend lacks each key.
    Untagged(UntaggedArgs),
}

/// Options every breakdown shares.
#[derive(Debug, Args)]
pub struct Common {
    /// The SQLite store file.
    #[arg(long, env = "COSTKIT_STORE", default_value = "costkit.db")]
    store: PathBuf,

    /// Only this provider (as in ProviderName).
    #[arg(long)]
    provider: Option<String>,

    /// Cost basis.
    #[arg(long, value_enum, default_value_t = Basis::Billed)]
    basis: Basis,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `breakdown movers`.
#[derive(Debug, Args)]
pub struct MoversArgs {
    #[command(flatten)]
    common: Common,

    /// Group by: provider, account, service, region, charge-category, or tag:KEY.
    #[arg(long, default_value = "service", value_parser = parse_group_by)]
    by: GroupBy,

    /// Bucket: day, week (Monday to Sunday) or month.
    #[arg(long, default_value = "month", value_parser = parse_granularity)]
    period: Granularity,

    /// Compare up to and including this day (default: the newest day in the store).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    as_of: Option<NaiveDate>,

    /// Show only the N largest movers.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

/// `breakdown trend`.
#[derive(Debug, Args)]
pub struct TrendArgs {
    #[command(flatten)]
    common: Common,

    /// Group by: provider, account, service, region, charge-category, or tag:KEY.
    #[arg(long, default_value = "service", value_parser = parse_group_by)]
    by: GroupBy,

    /// Bucket: day, week or month.
    #[arg(long, default_value = "month", value_parser = parse_granularity)]
    period: Granularity,

    /// How many buckets, ending with the one holding --as-of.
    #[arg(long, value_name = "N", default_value_t = 6)]
    last: usize,

    /// The last day shown (default: the newest day in the store).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    as_of: Option<NaiveDate>,

    /// Show only the N largest groups per currency; the rest are folded into "(N others)".
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

/// `breakdown untagged`.
#[derive(Debug, Args)]
pub struct UntaggedArgs {
    #[command(flatten)]
    common: Common,

    /// Tag keys to check, comma-separated (default: every key in the store).
    #[arg(long, value_delimiter = ',')]
    keys: Vec<String>,

    /// Only this billing period (YYYY-MM).
    #[arg(long, value_parser = crate::commands::parse_period)]
    billing_period: Option<String>,
}

fn parse_granularity(s: &str) -> Result<Granularity, String> {
    Granularity::parse(s).ok_or_else(|| format!("`{s}`: use day, week or month"))
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}`: a day is YYYY-MM-DD"))
}

fn basis(b: Basis) -> CostBasis {
    match b {
        Basis::Billed => CostBasis::Billed,
        Basis::Effective => CostBasis::Effective,
    }
}

fn out_format(f: Format) -> OutFormat {
    match f {
        Format::Table => OutFormat::Table,
        Format::Csv => OutFormat::Csv,
        Format::Json => OutFormat::Json,
    }
}

fn tag_rows(store: &dyn CostStore, by: &GroupBy, filter: &Filter) -> Result<Vec<TagRow>> {
    Ok(match by {
        GroupBy::Tag(k) => store.daily_tags(k, filter)?,
        _ => Vec::new(),
    })
}

/// Runs a breakdown subcommand.
pub fn run(cmd: BreakdownCommand) -> Result<()> {
    match cmd {
        BreakdownCommand::Movers(a) => run_movers(a),
        BreakdownCommand::Trend(a) => run_trend(a),
        BreakdownCommand::Untagged(a) => run_untagged(a),
    }
}

fn run_movers(a: MoversArgs) -> Result<()> {
    let store = open_store(&a.common.store)?;
    let filter = Filter {
        billing_period: None,
        provider: a.common.provider.clone(),
    };
    let rows = store.daily(&filter)?;
    let Some(newest) = rows.iter().map(|r| r.key.day).max() else {
        println!("no cost data matches");
        return Ok(());
    };
    let as_of = a.as_of.unwrap_or(newest);
    let cmp = period_over_period(as_of, a.period);
    let tags = tag_rows(&store, &a.by, &filter)?;
    let mut list = movers(&rows, &tags, &a.by, basis(a.common.basis), &cmp);
    list.truncate(a.top);
    let range = |r: &DayRange| format!("{} .. {}", r.start, r.end - Duration::days(1));
    let mut out = std::io::stdout().lock();
    match out_format(a.common.format) {
        OutFormat::Table => {
            writeln!(
                out,
                "{} to date {} against {}",
                granularity_name(a.period),
                range(&cmp.current),
                range(&cmp.previous)
            )?;
            if list.is_empty() {
                writeln!(out, "no spend in either range")?;
                return Ok(());
            }
            writeln!(out, "{}", movers_table(&list))?;
        }
        OutFormat::Csv => {
            writeln!(out, "group,currency,previous,current,change,change_pct")?;
            for m in &list {
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv_field(&m.group),
                    m.currency,
                    m.previous.normalize(),
                    m.current.normalize(),
                    m.change.normalize(),
                    m.change_pct
                        .map(|p| p.normalize().to_string())
                        .unwrap_or_default()
                )?;
            }
        }
        OutFormat::Json => {
            let v = serde_json::json!({
                "previous": {"start": cmp.previous.start, "end_exclusive": cmp.previous.end},
                "current": {"start": cmp.current.start, "end_exclusive": cmp.current.end},
                "movers": list.iter().map(|m| serde_json::json!({
                    "group": m.group,
                    "currency": m.currency.as_str(),
                    "previous": m.previous.normalize().to_string(),
                    "current": m.current.normalize().to_string(),
                    "change": m.change.normalize().to_string(),
                    "change_pct": m.change_pct.map(|p| p.normalize().to_string()),
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

fn granularity_name(g: Granularity) -> &'static str {
    match g {
        Granularity::Day => "Day",
        Granularity::Week => "Week",
        Granularity::Month => "Month",
    }
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn movers_table(list: &[Mover]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "Group", "Currency", "Previous", "Current", "Change", "Change %",
    ]);
    for m in list {
        let pct = match m.change_pct {
            Some(p) => format!("{p:+.1}%"),
            None => "new".to_string(),
        };
        let change = if m.change >= Decimal::ZERO {
            format!("+{}", cents(m.change))
        } else {
            cents(m.change)
        };
        t.add_row(vec![
            Cell::new(&m.group),
            Cell::new(m.currency.as_str()),
            right(cents(m.previous)),
            right(cents(m.current)),
            right(change),
            right(pct),
        ]);
    }
    t
}

fn run_trend(a: TrendArgs) -> Result<()> {
    if a.last == 0 {
        bail!("--last must be at least 1");
    }
    let store = open_store(&a.common.store)?;
    let filter = Filter {
        billing_period: None,
        provider: a.common.provider.clone(),
    };
    let rows = store.daily(&filter)?;
    let Some(newest) = rows.iter().map(|r| r.key.day).max() else {
        println!("no cost data matches");
        return Ok(());
    };
    let as_of = a.as_of.unwrap_or(newest);
    let mut start = a.period.bucket_start(as_of);
    for _ in 1..a.last {
        start = a.period.prev_start(start);
    }
    let range = DayRange {
        start,
        end: as_of + Duration::days(1),
    };
    let tags = tag_rows(&store, &a.by, &filter)?;
    let mut tr = trend(&rows, &tags, &a.by, basis(a.common.basis), a.period, &range);
    tr.lines = fold_trend(tr.lines, a.top, tr.buckets.len());
    let mut out = std::io::stdout().lock();
    match out_format(a.common.format) {
        OutFormat::Table => {
            if tr.lines.is_empty() {
                writeln!(out, "no spend from {} to {as_of}", range.start)?;
                return Ok(());
            }
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            let mut header = vec!["Group".to_string(), "Currency".to_string()];
            header.extend(tr.buckets.iter().map(|b| bucket_label(*b, a.period)));
            header.push("Total".into());
            t.set_header(header);
            for l in &tr.lines {
                let mut row = vec![Cell::new(&l.group), Cell::new(l.currency.as_str())];
                row.extend(l.values.iter().map(|v| right(cents(*v))));
                row.push(right(cents(l.total)));
                t.add_row(row);
            }
            writeln!(out, "{t}")?;
            if as_of < a.period.next_start(a.period.bucket_start(as_of)) - Duration::days(1) {
                writeln!(
                    out,
                    "the last {} runs to {as_of} only",
                    granularity_name(a.period).to_lowercase()
                )?;
            }
        }
        OutFormat::Csv => {
            writeln!(out, "group,currency,bucket_start,cost")?;
            for l in &tr.lines {
                for (b, v) in tr.buckets.iter().zip(&l.values) {
                    writeln!(
                        out,
                        "{},{},{b},{}",
                        csv_field(&l.group),
                        l.currency,
                        v.normalize()
                    )?;
                }
            }
        }
        OutFormat::Json => {
            let v = serde_json::json!({
                "granularity": a.period,
                "buckets": tr.buckets,
                "lines": tr.lines.iter().map(|l| serde_json::json!({
                    "group": l.group,
                    "currency": l.currency.as_str(),
                    "values": l.values.iter().map(|v| v.normalize().to_string()).collect::<Vec<_>>(),
                    "total": l.total.normalize().to_string(),
                })).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}

fn bucket_label(b: NaiveDate, g: Granularity) -> String {
    match g {
        Granularity::Month => b.format("%Y-%m").to_string(),
        Granularity::Week => format!("wk {}", b.format("%m-%d")),
        Granularity::Day => b.format("%m-%d").to_string(),
    }
}

/// Keeps the `n` largest lines per currency and folds the rest per bucket, reusing the summary's
/// folding so the columns still add up.
fn fold_trend(
    lines: Vec<costkit_core::breakdown::TrendLine>,
    n: usize,
    buckets: usize,
) -> Vec<costkit_core::breakdown::TrendLine> {
    // `top_per_currency` decides which groups stay, on totals.
    let totals: Vec<SummaryLine> = lines
        .iter()
        .map(|l| SummaryLine {
            group: l.group.clone(),
            currency: l.currency.clone(),
            cost: l.total,
            other: Decimal::ZERO,
        })
        .collect();
    let kept = top_per_currency(totals, n);
    let mut out = Vec::new();
    for k in kept {
        if let Some(l) = lines
            .iter()
            .find(|l| l.group == k.group && l.currency == k.currency)
        {
            out.push(l.clone());
            continue;
        }
        // The "(N others)" line: sum the folded groups bucket by bucket.
        let kept_groups: Vec<&String> = out
            .iter()
            .filter(|l| l.currency == k.currency)
            .map(|l| &l.group)
            .collect();
        let mut values = vec![Decimal::ZERO; buckets];
        for l in lines
            .iter()
            .filter(|l| l.currency == k.currency && !kept_groups.contains(&&l.group))
        {
            for (v, x) in values.iter_mut().zip(&l.values) {
                *v += *x;
            }
        }
        out.push(costkit_core::breakdown::TrendLine {
            group: k.group,
            currency: k.currency,
            total: values.iter().copied().sum(),
            values,
        });
    }
    out
}

fn run_untagged(a: UntaggedArgs) -> Result<()> {
    let store = open_store(&a.common.store)?;
    let filter = Filter {
        billing_period: a.billing_period.clone(),
        provider: a.common.provider.clone(),
    };
    let rows = store.daily(&filter)?;
    let keys = if a.keys.is_empty() {
        store.tag_keys(&filter)?
    } else {
        a.keys.clone()
    };
    if keys.is_empty() {
        println!("no tags in the store for this filter: every dollar is untagged");
        return Ok(());
    }
    let mut per_key = Vec::with_capacity(keys.len());
    for k in keys {
        let t = store.daily_tags(&k, &filter)?;
        per_key.push((k, t));
    }
    let mut cov = tag_coverage(&rows, &per_key, basis(a.common.basis));
    // Worst coverage first: that is where a tagging policy needs work.
    cov.sort_by(|x, y| {
        y.untagged
            .cmp(&x.untagged)
            .then(x.key.cmp(&y.key))
            .then(x.currency.cmp(&y.currency))
    });
    let mut out = std::io::stdout().lock();
    match out_format(a.common.format) {
        OutFormat::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header(vec![
                "Tag key",
                "Currency",
                "Total",
                "Tagged",
                "Untagged",
                "Untagged %",
            ]);
            for c in &cov {
                t.add_row(vec![
                    Cell::new(&c.key),
                    Cell::new(c.currency.as_str()),
                    right(cents(c.total)),
                    right(cents(c.tagged)),
                    right(cents(c.untagged)),
                    right(
                        c.untagged_pct
                            .map(|p| format!("{p:.1}%"))
                            .unwrap_or_else(|| "-".into()),
                    ),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        OutFormat::Csv => {
            writeln!(out, "tag_key,currency,total,tagged,untagged,untagged_pct")?;
            for c in &cov {
                writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv_field(&c.key),
                    c.currency,
                    c.total.normalize(),
                    c.tagged.normalize(),
                    c.untagged.normalize(),
                    c.untagged_pct
                        .map(|p| p.normalize().to_string())
                        .unwrap_or_default()
                )?;
            }
        }
        OutFormat::Json => {
            let v: Vec<serde_json::Value> = cov
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "tag_key": c.key,
                        "currency": c.currency.as_str(),
                        "total": c.total.normalize().to_string(),
                        "tagged": c.tagged.normalize().to_string(),
                        "untagged": c.untagged.normalize().to_string(),
                        "untagged_pct": c.untagged_pct.map(|p| p.normalize().to_string()),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(())
}
