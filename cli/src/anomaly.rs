//! `costkit anomaly detect` (the machine interface of the detector: CSV in, CSV out) and
//! `costkit anomalies` (monitors over the store, for people).
//!
//! The contract is fixed because external benchmarks call it: input `date,value` (oldest first,
//! `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, daily or hourly inferred from the spacing, gaps
//! allowed); output `date,is_anomaly,score`, one row per input row, dates echoed as given. The
//! detector is online, so a row's flag never changes when rows are appended.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use costkit_core::analysis::anomaly::{detect, DetectorConfig};
use costkit_core::analysis::read_date_value_csv;

/// `costkit anomaly detect --input FILE|-`.
pub fn detect_csv(input: &Path) -> Result<()> {
    let name = input.display().to_string();
    let observed = if name == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        read_date_value_csv(buf.as_slice(), "<stdin>")?
    } else {
        let f = std::fs::File::open(input).with_context(|| name.clone())?;
        read_date_value_csv(std::io::BufReader::new(f), &name)?
    };
    let points = detect(&observed.series, &DetectorConfig::machine());
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "date,is_anomaly,score")?;
    for row in &observed.rows {
        let p = points.get(row.slot).copied().unwrap_or_default();
        writeln!(
            out,
            "{},{},{}",
            csv_field(&row.raw_date),
            u8::from(p.flag),
            format_score(p.score)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Up to twelve decimals, trailing zeros trimmed: enough to rank all but the most extreme slots.
fn format_score(s: f64) -> String {
    let t = format!("{:.12}", s.clamp(0.0, 1.0));
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() {
        "0".into()
    } else {
        t.to_string()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `costkit anomalies`: every monitor in the monitors file evaluated over the store.
pub fn anomalies(
    store: &Path,
    monitors: &Path,
    since: Option<chrono::NaiveDate>,
    today: Option<chrono::NaiveDate>,
    json: bool,
    details: &[std::path::PathBuf],
) -> Result<()> {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
    use costkit_core::analysis::anomaly::monitor::{evaluate, MonitorFile};
    use costkit_core::store::{CostStore, Filter};

    let file = MonitorFile::load(monitors)?;
    if !store.exists() {
        anyhow::bail!(
            "{}: no store here; run `costkit load <files>` first",
            store.display()
        );
    }
    let st = costkit_sqlite::SqliteStore::open(store)?;
    let all = Filter::default();
    let daily = st.daily(&all)?;
    let mut tags = Vec::new();
    for k in file.tag_keys() {
        tags.extend(st.daily_tags(&k, &all)?);
    }
    let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let since = since.unwrap_or(today - chrono::Duration::days(30));
    let mut found = evaluate(&file, &daily, &tags, since, today);
    if !details.is_empty() && !found.is_empty() {
        drill_down(&file, &mut found, details)?;
    }

    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
        return Ok(());
    }
    if found.is_empty() {
        writeln!(out, "no anomalies since {since}")?;
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "Monitor",
        "Start",
        "End",
        "Expected",
        "Actual",
        "Impact",
        "Impact %",
        "Score",
        "Top root causes",
    ]);
    let right = |x: String| Cell::new(x).set_alignment(CellAlignment::Right);
    for a in &found {
        let mut name = a.monitor.clone();
        if let Some((d, v)) = &a.series {
            name.push_str(&format!("\n{d}={v}"));
        }
        if a.suppressed_by.is_some() {
            name.push_str("\n(suppressed)");
        }
        let causes: Vec<String> = a
            .root_causes
            .iter()
            .take(3)
            .map(|c| {
                format!(
                    "{}={} {} ({:.0}%)",
                    c.dimension,
                    c.value,
                    crate::commands::cents(c.contribution),
                    c.share * 100.0
                )
            })
            .collect();
        t.add_row(vec![
            Cell::new(name),
            Cell::new(a.start.to_string()),
            Cell::new(if a.ongoing {
                format!("{} (ongoing)", a.end)
            } else {
                a.end.to_string()
            }),
            right(format!(
                "{} {}",
                crate::commands::cents(a.expected),
                a.currency
            )),
            right(crate::commands::cents(a.actual)),
            right(crate::commands::cents(a.impact)),
            right(
                a.impact_percent
                    .map(|p| format!("{p:+.1}%"))
                    .unwrap_or_else(|| "-".into()),
            ),
            right(format!("{:.4}", a.score)),
            Cell::new(causes.join("\n")),
        ]);
    }
    writeln!(out, "{t}")?;
    for a in found.iter().filter(|a| a.suppressed_by.is_some()) {
        writeln!(
            out,
            "suppressed: {} {} by feedback {}",
            a.monitor,
            a.start,
            a.suppressed_by.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Adds usage-type and resource root causes from the billing files in `details`.
fn drill_down(
    file: &costkit_core::analysis::anomaly::monitor::MonitorFile,
    found: &mut [costkit_core::analysis::anomaly::monitor::MonitorAnomaly],
    details: &[std::path::PathBuf],
) -> Result<()> {
    use costkit_core::analysis::anomaly::drill::Drills;
    let all: Vec<usize> = (0..found.len()).collect();
    let mut drills = Drills::new(file, found, &all);
    let jobs = costkit_core::normalize::plan(details, None)?;
    costkit_core::pipeline::run(
        &jobs,
        &costkit_core::input::Progress::default(),
        Some(&mut drills),
        None,
        &mut || {},
    )?;
    if drills.matched() == 0 {
        eprintln!(
            "note: no record in {} file(s) matches an anomaly's scope and days; \
             root causes by usage type and resource are left out",
            details.len()
        );
    }
    drills.apply(found);
    Ok(())
}

/// `--since` / `--today` values.
pub fn parse_day(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}`: use YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_trimmed() {
        assert_eq!(format_score(0.0), "0");
        assert_eq!(format_score(0.5), "0.5");
        assert_eq!(format_score(1.0), "1");
    }
}
