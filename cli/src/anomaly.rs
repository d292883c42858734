//! `costkit anomaly detect`: the machine interface of the anomaly detector (CSV in, CSV out).
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
